// containerToHost / localhostMasquerade rules in test namespaces: a failure at any step leaves host and container as they were.
// needs: root netns

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ContainerToHost, C2H_CHAINS } from '../../../src/drivers/ports/container-to-host.ts';
import { PortError } from '../../../src/ports/port-errors.ts';
import type { StepHook } from '../../../src/drivers/ports/port-driver.ts';
import { ADDR, ask, echoServer, iptablesSave, makeTopology, snapshot, type EchoServer, type Topology } from './netns-fixture.ts';

let topo: Topology;
let service: EchoServer;
let failAt: string | null = null;
let count = 0;
const hook: StepHook = (step) => {
  if (step === failAt && --count <= 0) throw new Error(`injected failure at ${step}`);
};
let c2h: ContainerToHost;
let clean: [string, string];

const container = () => ({ id: 'ctr1', netnsPath: `/run/netns/${topo.ctr}`, ipv4: ADDR.ctr4, bridgeIpv4: ADDR.host4 });
const state = async (): Promise<[string, string]> => [await snapshot(topo.host), await snapshot(topo.ctr)];

describe('containerToHost', { timeout: 120_000 }, () => {
  before(async () => {
    topo = await makeTopology();
    service = await echoServer(topo.host, 'tcp', '127.0.0.1', 7201);
    c2h = new ContainerToHost({ hostNetns: topo.host, beforeStep: hook });
    clean = await state();
  });
  after(async () => {
    let left: [string, string] | undefined;
    try {
      await c2h?.close();
      if (topo !== undefined) left = await state();
      await service?.stop();
    } finally {
      await topo?.destroy();
    }
    assert.deepEqual(left, clean);
  });

  it('tags its rules and removes them', async () => {
    await c2h.add(container(), [{ port: 7201, protocol: 'tcp' }, { port: 7202, protocol: 'udp' }], true);
    const rules = await iptablesSave(topo.host);
    assert.match(rules, new RegExp(`-A ${C2H_CHAINS.dnat} -s ${ADDR.ctr4}/32 -d ${ADDR.host4}/32 -p tcp -m tcp --dport 7201 -m comment --comment "dobby-port c2h container=ctr1 localnet=dph${topo.tag}:0" -j DNAT --to-destination 127.0.0.1:7201`));
    assert.equal(await ask(topo.ctr, 'tcp', '127.0.0.1', 7201, 'lo'), `${ADDR.ctr4}|lo`);
    await c2h.remove('ctr1');
    assert.deepEqual(await state(), clean);
  });

  it('leaves nothing when a step fails half-way (the second entry, the masquerade inside)', async () => {
    for (const [step, nth] of [['c2h-base', 1], ['c2h-route-localnet', 1], ['c2h-dnat', 2], ['c2h-accept', 2], ['c2h-masquerade', 1], ['c2h-masquerade', 2]] as const) {
      failAt = step;
      count = nth;
      try {
        await assert.rejects(c2h.add(container(), [{ port: 7201, protocol: 'tcp' }, { port: 7202, protocol: 'udp' }], true), (err: unknown) =>
          err instanceof PortError && err.reason === 'driver-failed' && err.message.includes(`injected failure at ${step}`));
      } finally {
        failAt = null;
      }
      assert.deepEqual(await state(), clean, `after a failure at ${step} #${nth}`);
    }
  });
});
