// A daemon that exits keeping its containers leaves their nat ports working; the next one rebuilds them from the
// rules (ids, route_localnet's old value), removes a dead container's, and removes the rest cleanly later.
// needs: root netns

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createPortActor } from '../../../src/actors/port-actor.ts';
import { createContainerToHost, createPorts } from '../../../src/drivers/ports/index.ts';
import { silentLogger } from '../../../src/log.ts';
import { Subject } from 'rxjs';
import type { LifecycleEvent } from '../../../src/bus.ts';
import { ADDR, ask, echoServer, iptablesSave, makeTopology, snapshot, type EchoServer, type Topology } from './netns-fixture.ts';

let topo: Topology;
const servers: EchoServer[] = [];
let clean: string;

const target = (id: string) => ({ containerId: id, netnsPath: `/run/netns/${topo.ctr}`, ipv4: ADDR.ctr4, ipv6: ADDR.ctr6 });
const network = () => ({ id: 'ctr1', netnsPath: `/run/netns/${topo.ctr}`, ipv4: ADDR.ctr4, ipv6: ADDR.ctr6, bridgeIpv4: ADDR.host4 });

function actor() {
  return createPortActor({
    ports: createPorts({ hostNetns: topo.host, resolveTarget: (id) => target(id) }),
    containerToHost: createContainerToHost({ hostNetns: topo.host }),
    containerEvents$: new Subject<LifecycleEvent>(),
    logger: silentLogger(),
  });
}

describe('port recovery after a daemon restart', { timeout: 120_000 }, () => {
  before(async () => {
    topo = await makeTopology();
    servers.push(await echoServer(topo.ctr, 'tcp', ADDR.ctr4, 7001));
    servers.push(await echoServer(topo.ctr, 'tcp', ADDR.ctr6, 7001));
    servers.push(await echoServer(topo.host, 'tcp', '127.0.0.1', 7201));
    clean = await snapshot(topo.host);
  });

  after(async () => {
    let left: string | undefined;
    try {
      if (topo !== undefined) left = await snapshot(topo.host);
      for (const s of servers) await s.stop();
    } finally {
      await topo?.destroy();
    }
    assert.equal(left, clean);
  });

  it('takes over the live containers’ ports and drops the dead one’s', async () => {
    const first = actor();
    const dual = await first.addPort({ proto: 'tcp', parentPort: 8501, childPort: 7001, containerId: 'ctr1' });
    const lo = await first.addPort({ proto: 'tcp4', parentIP: '127.0.0.1', parentPort: 8502, childPort: 7001, containerId: 'ctr1' });
    const dead = await first.addPort({ proto: 'tcp4', parentPort: 8503, childPort: 7001, containerId: 'ctr2' });
    await first.applyPortForwarding('ctr1', { containerToHost: [{ port: 7201, protocol: 'tcp' }] }, network());
    const proxied = await first.addPort({ proto: 'tcp4', parentPort: 8504, childPort: 7001, childIP: '127.0.0.1', containerId: 'ctr1' });
    assert.equal(proxied.driver, 'builtin');
    // The daemon goes, its containers stay: nat keeps working without it, the proxy does not.
    await first.close({ keep: true });
    assert.equal(await ask(topo.client, 'tcp', ADDR.hostX4, 8501, 'alone'), `${ADDR.client4}|alone`);
    assert.match(await ask(topo.client, 'tcp', ADDR.hostX4, 8504, 'x').catch((e: Error) => e.message), /ECONNREFUSED/);
    assert.match(await iptablesSave(topo.host), /dobby-port id=3 container=ctr2/);

    const second = actor();
    const recovered = await second.recover((id) => id === 'ctr1');
    assert.deepEqual(recovered.map((p) => [p.id, p.spec.proto, p.spec.parentIP, p.spec.parentPort, p.spec.childPort]), [
      [dual.id, 'tcp', '', 8501, 7001],
      [lo.id, 'tcp4', '127.0.0.1', 8502, 7001],
    ]);
    assert.doesNotMatch(await iptablesSave(topo.host), /container=ctr2/, "the dead container's rules are gone");
    void dead;
    assert.equal(await ask(topo.client, 'tcp', ADDR.hostX6, 8501, 'v6'), `${ADDR.client6}|v6`);
    assert.equal(await ask(topo.host, 'tcp', '127.0.0.1', 8502, 'lo'), `${ADDR.host4}|lo`);
    assert.equal(await ask(topo.ctr, 'tcp', ADDR.host4, 7201, 'c2h'), `${ADDR.ctr4}|c2h`);
    // New ids continue after the recovered ones; conflicts are checked against them.
    const next = await second.addPort({ proto: 'udp', parentPort: 8501, childPort: 7001, containerId: 'ctr1' });
    // (The builtin port died with the first daemon: nothing of it is left to keep its id.)
    assert.ok(next.id > lo.id);
    await assert.rejects(second.addPort({ proto: 'tcp4', parentPort: 8501, childPort: 7001, containerId: 'ctr1' }), /conflict with ID 1/);
    // The container goes: everything is removed, route_localnet back to what it was before the first daemon.
    await second.removeContainerPorts('ctr1');
    assert.deepEqual(second.listPorts(), []);
    await second.close();
    assert.equal(await snapshot(topo.host), clean);
  });
});
