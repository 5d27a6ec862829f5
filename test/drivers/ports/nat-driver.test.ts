// The nat port driver in test namespaces: echo through DNAT (TCP, UDP, v4, v6, two ports), source address kept, bad input, no leaks.
// needs: root netns

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NatPortDriver, NAT_CHAINS } from '../../../src/drivers/ports/nat-driver.ts';
import { PortError } from '../../../src/ports/port-errors.ts';
import { createPortManager, type PortManager } from '../../../src/drivers/ports/port-manager.ts';
import type { PortTarget, StepHook } from '../../../src/drivers/ports/port-driver.ts';
import { ADDR, ask, echoServer, refused, iptablesSave, makeTopology, snapshot, type EchoServer, type Topology } from './netns-fixture.ts';

let topo: Topology;
const servers: EchoServer[] = [];
let failAt: string | null = null;
const hook: StepHook = (step) => {
  if (step === failAt) throw new Error(`injected failure at ${step}`);
};
let manager: PortManager;
let clean: string;

const target = (): PortTarget => ({ containerId: 'ctr1', netnsPath: `/run/netns/${topo.ctr}`, ipv4: ADDR.ctr4, ipv6: ADDR.ctr6 });

describe('nat port driver', { timeout: 120_000 }, () => {
  before(async () => {
    topo = await makeTopology();
    for (const [proto, port] of [['tcp', 7001], ['tcp', 7003], ['udp', 7002]] as const) {
      servers.push(await echoServer(topo.ctr, proto, ADDR.ctr4, port));
      servers.push(await echoServer(topo.ctr, proto, ADDR.ctr6, port));
    }
    manager = createPortManager({
      drivers: { nat: new NatPortDriver({ hostNetns: topo.host, beforeStep: hook }) },
      resolveTarget: (id) => (id === 'ctr1' ? target() : undefined),
    });
    clean = await snapshot(topo.host);
  });

  after(async () => {
    let left: string | undefined;
    try {
      await manager?.close();
      for (const s of servers) await s.stop();
      if (topo !== undefined) left = await snapshot(topo.host);
    } finally {
      await topo?.destroy();
    }
    assert.equal(left, clean, 'the host namespace is as it was');
  });

  it('forwards TCP and UDP, two ports at once, IPv4 and IPv6, and keeps the client address', async () => {
    const a = await manager.addPort({ proto: 'tcp', parentIP: '', parentPort: 8001, childPort: 7001, containerId: 'ctr1' });
    const b = await manager.addPort({ proto: 'tcp', parentIP: '', parentPort: 8003, childPort: 7003, containerId: 'ctr1' });
    const u = await manager.addPort({ proto: 'udp', parentIP: '', parentPort: 8002, childPort: 7002, containerId: 'ctr1' });
    assert.deepEqual([a.id, b.id, u.id], [1, 2, 3]);
    assert.equal(a.driver, 'nat');
    const replies = await Promise.all([
      ask(topo.client, 'tcp', ADDR.hostX4, 8001, 'one'),
      ask(topo.client, 'tcp', ADDR.hostX4, 8003, 'two'),
      ask(topo.client, 'tcp', ADDR.hostX6, 8001, 'three'),
      ask(topo.client, 'tcp', ADDR.hostX6, 8003, 'four'),
      ask(topo.client, 'udp', ADDR.hostX4, 8002, 'five'),
      ask(topo.client, 'udp', ADDR.hostX6, 8002, 'six'),
    ]);
    assert.deepEqual(replies, [
      `${ADDR.client4}|one`, `${ADDR.client4}|two`, `${ADDR.client6}|three`, `${ADDR.client6}|four`, `${ADDR.client4}|five`, `${ADDR.client6}|six`,
    ]);
    const rules = await iptablesSave(topo.host);
    assert.match(rules, new RegExp(`-A ${NAT_CHAINS.dnat} -p tcp -m tcp --dport 8001 -m comment --comment "dobby-port id=1 container=ctr1" -j DNAT --to-destination ${ADDR.ctr4}:7001`));
    assert.match(rules, /-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment dobby-ports -j DOBBY-PORTS-DNAT/);
    assert.equal(rules.match(/-A OUTPUT .*-j DOBBY-PORTS-DNAT/g)?.length, 2, 'one OUTPUT jump per family');
    for (const p of [a, b, u]) await manager.removePort(p.id);
    assert.equal(await snapshot(topo.host), clean, 'removing the last port removes the chains and jumps');
    await assert.rejects(ask(topo.client, 'tcp', ADDR.hostX4, 8001, 'gone'));
  });

  it("reaches the container from the host's own 127.0.0.1 (route_localnet + masquerade), and undoes it", async () => {
    const p = await manager.addPort({ proto: 'tcp4', parentIP: '127.0.0.1', parentPort: 8011, childPort: 7001, containerId: 'ctr1' });
    assert.equal(await ask(topo.host, 'tcp', '127.0.0.1', 8011, 'lo'), `${ADDR.host4}|lo`);
    assert.equal(await ask(topo.client, 'tcp', ADDR.hostX4, 8011, 'x').catch(() => 'refused'), 'refused', 'a 127.0.0.1 port is not reachable from outside');
    await manager.removePort(p.id);
    assert.equal(await snapshot(topo.host), clean);
  });

  it('refuses bad input with clear errors and applies nothing', async () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ proto: 'tcp', parentPort: 0, childPort: 7001, containerId: 'ctr1' }, 'invalid-port', /parentPort 0 is not a port/],
      [{ proto: 'tcp', parentPort: 65536, childPort: 7001, containerId: 'ctr1' }, 'invalid-port', /parentPort 65536/],
      [{ proto: 'tcp', parentPort: 8020, childPort: 65536, containerId: 'ctr1' }, 'invalid-port', /childPort 65536/],
      [{ proto: 'sctp', parentPort: 8020, childPort: 7001, containerId: 'ctr1' }, 'invalid-proto', /unknown proto "sctp"/],
      [{ proto: 'tcp', parentIP: '300.1.1.1', parentPort: 8020, childPort: 7001, containerId: 'ctr1' }, 'invalid-parent-ip', /parentIP "300.1.1.1" does not parse/],
      [{ proto: 'tcp4', parentPort: 8020, childIP: ADDR.ctr6, childPort: 7001, containerId: 'ctr1' }, 'family-mismatch', /childIP fd00:d0b:1::2 is IPv6/],
      [{ proto: 'tcp', parentPort: 8020, childPort: 7001, containerId: 'nobody' }, 'unknown-container', /container nobody is not running/],
      [{ proto: 'tcp4', parentPort: 8020, childIP: ADDR.client4, childPort: 7001, containerId: 'ctr1' }, 'invalid-child-ip', /childIP 10\.213\.2\.2 is not an address of container ctr1/],
      [{ proto: 'tcp', parentIP: '::1', parentPort: 8020, childPort: 7001, containerId: 'ctr1', driver: 'nat' }, 'unsupported', /builtin driver for \[::1\]/],
      [{ proto: 'tcp', parentPort: 8020, childPort: 7001, containerId: 'ctr1', driver: 'builtin' }, 'unsupported', /builtin port driver is not enabled/],
    ];
    for (const [spec, reason, pattern] of cases) await refused(manager.addPort(spec), reason, pattern);
    await refused(manager.removePort(4242), 'unknown-id', /unknown id: 4242 \(no ports are forwarded/);
    assert.equal(await snapshot(topo.host), clean);
  });

  it('refuses duplicates and conflicts that differ only in normalisation', async () => {
    const p = await manager.addPort({ proto: 'tcp', parentIP: '', parentPort: 8030, childPort: 7001, containerId: 'ctr1' });
    const before = await snapshot(topo.host);
    await refused(manager.addPort({ proto: 'tcp', parentIP: '', parentPort: 8030, childPort: 7001, containerId: 'ctr1' }), 'conflict', new RegExp(`^conflict with ID ${p.id}`));
    await refused(manager.addPort({ proto: 'tcp4', parentIP: '0.0.0.0', parentPort: 8030, childPort: 7003, containerId: 'ctr1' }), 'conflict', /conflict with ID/);
    await refused(manager.addPort({ proto: 'tcp6', parentIP: '::', parentPort: 8030, childPort: 7003, containerId: 'ctr1' }), 'conflict', /conflict with ID/);
    await refused(manager.addPort({ proto: 'tcp', parentIP: ADDR.hostX4, parentPort: 8030, childPort: 7003, containerId: 'ctr1' }), 'conflict', /conflict with ID/);
    assert.equal(await snapshot(topo.host), before, 'a refused port changes nothing');
    const udp = await manager.addPort({ proto: 'udp', parentIP: '', parentPort: 8030, childPort: 7002, containerId: 'ctr1' });
    await manager.removePort(udp.id);
    await manager.removePort(p.id);
    await refused(manager.removePort(p.id), 'unknown-id', new RegExp(`unknown id: ${p.id}`));
    assert.equal(await snapshot(topo.host), clean);
  });

  it('refuses a port a host program already listens on', async () => {
    const squatter = await echoServer(topo.host, 'tcp', '0.0.0.0', 8040);
    try {
      const before = await snapshot(topo.host);
      await refused(manager.addPort({ proto: 'tcp', parentPort: 8040, childPort: 7001, containerId: 'ctr1' }), 'address-in-use', /0\.0\.0\.0:8040 is already in use by a program on the host/);
      assert.equal(await snapshot(topo.host), before);
    } finally {
      await squatter.stop();
    }
  });

  it('leaves nothing behind when an add fails half-way, at every step', async () => {
    const steps = ['check-listeners', 'base-ipv4', 'dnat-ipv4', 'forward-ipv4', 'route-localnet', 'snat-loopback', 'base-ipv6', 'dnat-ipv6', 'forward-ipv6'];
    for (const step of steps) {
      failAt = step;
      try {
        await refused(manager.addPort({ proto: 'tcp', parentPort: 8050, childPort: 7001, containerId: 'ctr1' }), 'driver-failed', new RegExp(`injected failure at ${step}.*nothing was left applied`));
      } finally {
        failAt = null;
      }
      assert.equal(await snapshot(topo.host), clean, `after a failure at ${step}`);
    }
    // And with another port in place, whose shared chains must survive the failed one.
    const keep = await manager.addPort({ proto: 'tcp', parentPort: 8051, childPort: 7001, containerId: 'ctr1' });
    const withOne = await snapshot(topo.host);
    failAt = 'forward-ipv6';
    await refused(manager.addPort({ proto: 'tcp', parentPort: 8052, childPort: 7003, containerId: 'ctr1' }), 'driver-failed', /injected/);
    failAt = null;
    assert.equal(await snapshot(topo.host), withOne);
    assert.equal(await ask(topo.client, 'tcp', ADDR.hostX4, 8051, 'still'), `${ADDR.client4}|still`);
    await manager.removePort(keep.id);
    assert.equal(await snapshot(topo.host), clean);
  });

  it('serialises concurrent adds: one of ten identical ones wins, ids are never reused', async () => {
    const spec = { proto: 'tcp', parentPort: 8060, childPort: 7001, containerId: 'ctr1' };
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => manager.addPort(spec)));
    const won = results.filter((r) => r.status === 'fulfilled');
    assert.equal(won.length, 1);
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as PortError).reason, 'conflict');
    const id = (won[0] as PromiseFulfilledResult<{ id: number }>).value.id;
    await manager.removePort(id);
    const again = await manager.addPort(spec);
    assert.ok(again.id > id, 'a new port gets a new id');
    assert.deepEqual(manager.listPorts().map((p) => p.id), [again.id]);
    assert.deepEqual(await manager.removeContainerPorts('ctr1'), [again.id], "removing the container's ports");
    assert.deepEqual(manager.listPorts(), []);
    assert.equal(await snapshot(topo.host), clean);
  });
});
