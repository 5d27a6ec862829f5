// The builtin (userland proxy) port driver: echo to services bound to the container's loopback, [::1], UDP expiry, no leaks.
// needs: root netns

import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { BuiltinPortDriver } from '../../../src/drivers/ports/builtin-driver.ts';
import { PortError } from '../../../src/ports/port-errors.ts';
import { createPortManager, type PortManager } from '../../../src/drivers/ports/port-manager.ts';
import type { PortTarget, StepHook } from '../../../src/drivers/ports/port-driver.ts';
import { ADDR, ask, echoServer, refused, makeTopology, snapshot, type EchoServer, type Topology } from './netns-fixture.ts';

let topo: Topology;
const servers: EchoServer[] = [];
let failAt: string | null = null;
const hook: StepHook = (step) => {
  if (step === failAt) throw new Error(`injected failure at ${step}`);
};
let driver: BuiltinPortDriver;
let manager: PortManager;
let direct: BuiltinPortDriver;
let directManager: PortManager;
let clean: string;

const target = (): PortTarget => ({ containerId: 'ctr1', netnsPath: `/run/netns/${topo.ctr}`, ipv4: ADDR.ctr4, ipv6: ADDR.ctr6 });

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A free TCP port on the daemon's own loopback (racy by nature; the test retries on EADDRINUSE). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen({ host: '127.0.0.1', port: 0 }, r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('builtin port driver', { timeout: 120_000 }, () => {
  before(async () => {
    topo = await makeTopology();
    // The container's services listen on its loopback only: kernel DNAT could not reach them.
    for (const [proto, port] of [['tcp', 7101], ['tcp', 7103], ['udp', 7102]] as const) {
      servers.push(await echoServer(topo.ctr, proto, '127.0.0.1', port));
      servers.push(await echoServer(topo.ctr, proto, '::1', port));
    }
    driver = new BuiltinPortDriver({ hostNetns: topo.host, beforeStep: hook, udpIdleMs: 400 });
    manager = createPortManager({ drivers: { builtin: driver }, resolveTarget: (id) => (id === 'ctr1' ? target() : undefined) });
    direct = new BuiltinPortDriver({});
    directManager = createPortManager({ drivers: { builtin: direct }, resolveTarget: (id) => (id === 'ctr1' ? target() : undefined) });
    clean = await snapshot(topo.host);
  });

  after(async () => {
    let left: string | undefined;
    try {
      await manager?.close();
      await directManager?.close();
      for (const s of servers) await s.stop();
      if (topo !== undefined) left = await snapshot(topo.host);
    } finally {
      await topo?.destroy();
    }
    assert.equal(left, clean, 'the host namespace is as it was');
    assert.equal(driver?.helpers ?? 0, 0, 'no helper process left');
  });

  it('forwards TCP and UDP to the container loopback, two ports at once, IPv4 and IPv6', async () => {
    const t = await manager.addPort({ proto: 'tcp', parentPort: 8101, childPort: 7101, containerId: 'ctr1' });
    const t2 = await manager.addPort({ proto: 'tcp', parentPort: 8103, childPort: 7103, containerId: 'ctr1' });
    const t6 = await manager.addPort({ proto: 'tcp6', parentPort: 8104, childPort: 7101, containerId: 'ctr1' });
    const u = await manager.addPort({ proto: 'udp', parentPort: 8102, childPort: 7102, containerId: 'ctr1' });
    const u6 = await manager.addPort({ proto: 'udp6', parentPort: 8105, childPort: 7102, containerId: 'ctr1' });
    assert.equal(t.driver, 'builtin');
    const replies = await Promise.all([
      ask(topo.client, 'tcp', ADDR.hostX4, 8101, 'one'),
      ask(topo.client, 'tcp', ADDR.hostX4, 8103, 'two'),
      ask(topo.client, 'tcp', ADDR.hostX6, 8101, 'three'),
      ask(topo.client, 'tcp', ADDR.hostX6, 8104, 'four'),
      ask(topo.host, 'tcp', '::1', 8104, 'five'),
      ask(topo.client, 'udp', ADDR.hostX4, 8102, 'six'),
      ask(topo.client, 'udp', ADDR.hostX6, 8102, 'seven'),
      ask(topo.host, 'udp', '::1', 8105, 'eight'),
    ]);
    // A userland proxy cannot keep the client's address: the container sees its own loopback.
    assert.deepEqual(replies, ['127.0.0.1|one', '127.0.0.1|two', '127.0.0.1|three', '::1|four', '::1|five', '127.0.0.1|six', '127.0.0.1|seven', '::1|eight']);
    // A big payload, byte-exact, through the half-close.
    const big = 'x'.repeat(100_000);
    assert.equal(await ask(topo.client, 'tcp', ADDR.hostX4, 8103, big), `127.0.0.1|${big}`);
    assert.equal(driver.helpers, 2, 'one helper for the container, one for the test host');
    await until('the UDP client entries to expire', () => driver.activeOf(u.id) === 0 && driver.activeOf(u6.id) === 0);
    for (const p of [t, t2, t6, u, u6]) await manager.removePort(p.id);
    assert.equal(driver.helpers, 0);
    assert.equal(await snapshot(topo.host), clean);
  });

  it('is what the manager picks for a loopback childIP or the [::1] parent even with nat as default', async () => {
    const own = new BuiltinPortDriver({ hostNetns: topo.host });
    const both = createPortManager({
      drivers: { builtin: own, nat: { name: 'nat', add: async () => assert.fail('nat was used'), remove: async () => undefined, close: async () => undefined } },
      resolveTarget: () => target(),
    });
    const a = await both.addPort({ proto: 'tcp6', parentIP: '::1', parentPort: 8110, childPort: 7101, containerId: 'ctr1' });
    const b = await both.addPort({ proto: 'tcp', parentPort: 8111, childIP: '127.0.0.1', childPort: 7101, containerId: 'ctr1' });
    assert.deepEqual([a.driver, b.driver], ['builtin', 'builtin']);
    assert.equal(await ask(topo.host, 'tcp', '::1', 8110, 'lo6'), '::1|lo6');
    await both.close();
    assert.equal(own.helpers, 0);
  });

  it('reports a port already taken as address-in-use and leaves nothing', async () => {
    const squatter = await echoServer(topo.host, 'tcp', '0.0.0.0', 8140);
    try {
      const before = await snapshot(topo.host);
      await refused(manager.addPort({ proto: 'tcp4', parentPort: 8140, childPort: 7101, containerId: 'ctr1' }), 'address-in-use', /tcp4 0\.0\.0\.0:8140 is already in use by another program on the host: pick another parentPort/);
      await refused(manager.addPort({ proto: 'tcp', parentPort: 8140, childPort: 7101, containerId: 'ctr1' }), 'address-in-use', /tcp \*:8140 is already in use/);
      assert.equal(await snapshot(topo.host), before);
      assert.equal(driver.helpers, 0);
    } finally {
      await squatter.stop();
    }
  });

  it('leaves nothing behind when an add fails half-way', async () => {
    for (const step of ['child-helper', 'host-helper', 'listen']) {
      failAt = step;
      try {
        await refused(manager.addPort({ proto: 'tcp', parentPort: 8150, childPort: 7101, containerId: 'ctr1' }), 'driver-failed', new RegExp(`injected failure at ${step}`));
      } finally {
        failAt = null;
      }
      assert.equal(driver.helpers, 0, `helpers after a failure at ${step}`);
      assert.equal(await snapshot(topo.host), clean, `after a failure at ${step}`);
    }
    await refused(manager.addPort({ proto: 'tcp', parentPort: 8150, childPort: 7101, containerId: 'gone' }), 'unknown-container', /container gone is not running/);
    await refused(manager.addPort({ proto: 'tcp4', parentPort: 8150, childIP: ADDR.client4, childPort: 7101, containerId: 'ctr1' }), 'invalid-child-ip', /is not an address of container ctr1/);
    assert.equal(driver.helpers, 0);
    const noNetns = createPortManager({ drivers: { builtin: driver }, resolveTarget: () => ({ ...target(), netnsPath: '/run/netns/dobby-no-such-netns' }) });
    await refused(noNetns.addPort({ proto: 'tcp', parentPort: 8150, childPort: 7101, containerId: 'ctr1' }), 'driver-failed', /could not start a helper in the network namespace/);
    assert.equal(driver.helpers, 0);
  });

  it("in the daemon's own namespace: listens on loopback, closes open connections on remove, no fd leak", async () => {
    let port = await freePort();
    let p;
    for (let i = 0; ; i++) {
      try {
        p = await directManager.addPort({ proto: 'tcp4', parentIP: '127.0.0.1', parentPort: port, childPort: 7101, containerId: 'ctr1' });
        break;
      } catch (err) {
        if (i > 5 || (err as PortError).reason !== 'address-in-use') throw err;
        port = await freePort();
      }
    }
    const talk = (payload: string): Promise<string> => new Promise((resolve, reject) => {
      const c = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
      let got = '';
      c.on('data', (d) => (got += d.toString()));
      c.on('end', () => resolve(got));
      c.on('error', reject);
      c.end(payload);
    });
    assert.equal(await talk('hi'), '127.0.0.1|hi');
    const fds = (): number => readdirSync('/proc/self/fd').length;
    const base = fds();
    for (let i = 0; i < 40; i++) assert.equal(await talk(`n${i}`), `127.0.0.1|n${i}`);
    await until('the proxied connections to close', () => direct.activeOf(p.id) === 0);
    assert.ok(fds() <= base + 1, `fds: ${base} before 40 connections, ${fds()} after`);
    // A connection still open when the port goes is closed, not left dangling.
    const open = net.connect({ host: '127.0.0.1', port });
    await new Promise((r) => open.once('connect', r));
    open.write('held');
    await until('the held connection to reach the container', () => direct.activeOf(p.id) === 2);
    const closed = new Promise((r) => open.once('close', r));
    open.on('error', () => undefined);
    await directManager.removePort(p.id);
    await closed;
    assert.equal(direct.helpers, 0);
    await assert.rejects(talk('after'), /ECONNREFUSED/);
  });
});
