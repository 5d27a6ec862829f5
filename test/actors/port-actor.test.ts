// The port actor with real drivers in test namespaces: Dobby's portForwarding (hostToContainer, containerToHost,
// localhostMasquerade) applied when the network comes up, all or nothing, and removed when the container goes.
// needs: root netns

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Subject } from 'rxjs';
import { createPortActor, type NetworkNotice, type PortActor, type PortEvent } from '../../src/actors/port-actor.ts';
import type { LifecycleEvent } from '../../src/bus.ts';
import { createContainerToHost, createPorts } from '../../src/drivers/ports/index.ts';
import { PortError } from '../../src/ports/port-errors.ts';
import { silentLogger } from '../../src/log.ts';
import { ADDR, ask, echoServer, makeTopology, snapshot, type EchoServer, type Topology } from '../drivers/ports/netns-fixture.ts';

let topo: Topology;
const servers: EchoServer[] = [];
const containerEvents = new Subject<LifecycleEvent>();
const networkEvents = new Subject<NetworkNotice>();
let actor: PortActor;
const seen: PortEvent[] = [];
let cleanHost: string;
let cleanCtr: string;

const network = () => ({ id: 'ctr1', netnsPath: `/run/netns/${topo.ctr}`, ipv4: ADDR.ctr4, ipv6: ADDR.ctr6, bridgeIpv4: ADDR.host4 });

async function until(what: string, check: () => boolean): Promise<void> {
  const end = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('port actor', { timeout: 120_000 }, () => {
  before(async () => {
    topo = await makeTopology();
    servers.push(await echoServer(topo.ctr, 'tcp', ADDR.ctr4, 7001));
    servers.push(await echoServer(topo.ctr, 'udp', ADDR.ctr4, 7002));
    // A service on the host's loopback only, for containerToHost.
    servers.push(await echoServer(topo.host, 'tcp', '127.0.0.1', 7201));
    actor = createPortActor({
      ports: createPorts({ hostNetns: topo.host, resolveTarget: (id) => (id === 'ctr1' ? { containerId: id, ...network() } : undefined) }),
      containerToHost: createContainerToHost({ hostNetns: topo.host }),
      containerEvents$: containerEvents,
      networkEvents$: networkEvents,
      logger: silentLogger(),
    });
    actor.events$.subscribe((e) => seen.push(e));
    cleanHost = await snapshot(topo.host);
    cleanCtr = await snapshot(topo.ctr);
  });

  after(async () => {
    let left: [string, string] | undefined;
    try {
      await actor?.close();
      // Before the test's own servers stop: the clean snapshots were taken with them listening.
      if (topo !== undefined) left = [await snapshot(topo.host), await snapshot(topo.ctr)];
      for (const s of servers) await s.stop();
    } finally {
      await topo?.destroy();
    }
    assert.deepEqual(left, [cleanHost, cleanCtr]);
  });

  it("applies a container's portForwarding when its network comes up and removes it when the container exits", async () => {
    networkEvents.next({
      type: 'attached',
      network: network(),
      portForwarding: {
        hostToContainer: [{ port: 7001, protocol: 'tcp' }, { port: 7002, protocol: 'udp' }],
        containerToHost: [{ port: 7201, protocol: 'tcp' }],
        localhostMasquerade: true,
      },
    });
    await until('the forwarding', () => seen.some((e) => e.type === 'forwarding.applied' && e.ports.length === 2));
    assert.equal(actor.listPorts().length, 2);
    // hostToContainer: the same port on the host, the client's address kept.
    assert.equal(await ask(topo.client, 'tcp', ADDR.hostX4, 7001, 'in'), `${ADDR.client4}|in`);
    assert.equal(await ask(topo.client, 'udp', ADDR.hostX4, 7002, 'in-udp'), `${ADDR.client4}|in-udp`);
    // containerToHost: the container reaches the host's 127.0.0.1:7201 at the bridge address…
    assert.equal(await ask(topo.ctr, 'tcp', ADDR.host4, 7201, 'out'), `${ADDR.ctr4}|out`);
    // …and, with localhostMasquerade, at its own 127.0.0.1.
    assert.equal(await ask(topo.ctr, 'tcp', '127.0.0.1', 7201, 'lo'), `${ADDR.ctr4}|lo`);
    // Nobody else gets to the host's loopback service that way.
    assert.match(await ask(topo.client, 'tcp', ADDR.host4, 7201, 'x').catch((e: Error) => e.message), /ECONNREFUSED/);
    assert.deepEqual(seen.filter((e) => e.type === 'port.added').length, 2);

    containerEvents.next({ type: 'exited', id: 'ctr1', descriptor: 1, at: Date.now(), exitCode: 0, signal: null, status: 0, oomKilled: false });
    await until('the ports to go', () => actor.listPorts().length === 0);
    await until('the removal events', () => seen.filter((e) => e.type === 'port.removed').length === 2);
    assert.equal(await snapshot(topo.host), cleanHost);
    assert.equal(await snapshot(topo.ctr), cleanCtr);
  });

  it('is all or nothing: a conflict or a failing containerToHost takes the ports added before it back', async () => {
    const held = await actor.addPort({ proto: 'udp', parentPort: 7600, childPort: 7002, containerId: 'ctr1' });
    const before = await snapshot(topo.host);
    await assert.rejects(
      actor.applyPortForwarding('ctr1', { hostToContainer: [{ port: 7601, protocol: 'tcp' }, { port: 7600, protocol: 'udp' }] }, network()),
      (err: unknown) => err instanceof PortError && err.reason === 'conflict' && /container ctr1 portForwarding: conflict with ID/.test(err.message),
    );
    assert.deepEqual(actor.listPorts().map((p) => p.id), [held.id]);
    await assert.rejects(
      actor.applyPortForwarding('ctr1', { hostToContainer: [{ port: 7602, protocol: 'tcp' }], containerToHost: [{ port: 7201, protocol: 'tcp' }] }, { ...network(), bridgeIpv4: null }),
      (err: unknown) => err instanceof PortError && err.reason === 'unsupported' && /containerToHost needs nat networking with IPv4/.test(err.message),
    );
    assert.deepEqual(actor.listPorts().map((p) => p.id), [held.id]);
    assert.equal(await snapshot(topo.host), before);
    assert.equal(await snapshot(topo.ctr), cleanCtr);
    assert.ok(seen.some((e) => e.type === 'port.error' && e.containerId === 'ctr1'));
    await actor.removeContainerPorts('ctr1');
    assert.equal(await snapshot(topo.host), cleanHost);
  });

  it('the networking plugin detaching a container removes its ports too', async () => {
    networkEvents.next({ type: 'attached', network: network(), portForwarding: { hostToContainer: [{ port: 7001, protocol: 'tcp' }] } });
    await until('the port', () => actor.listPorts().length === 1);
    networkEvents.next({ type: 'detached', id: 'ctr1' });
    await until('the port to go', () => actor.listPorts().length === 0);
    assert.equal(await snapshot(topo.host), cleanHost);
  });
});
