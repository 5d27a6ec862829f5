// Anti-spoofing between nat containers, over real namespaces, veth pairs, iptables and ebtables in a
// "host" namespace of the test. The three-container case of issue 11 (a serves 7100/tcp and
// 7101/udp, b may dial them, c may not and borrows b's address) in every start order, IPv4 and IPv6:
// none of c's datagrams may reach a, whoever started first, and b's must.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { silentLogger } from '../../src/log.ts';
import { createNetworkingPlugin, type NetworkingPlugin, type NetworkingPluginOptions } from '../../src/plugins/networking/plugin.ts';
import type { HookContext } from '../../src/plugins/types.ts';
import { HOST_EXT_IFACE, makeTestNetwork } from '../helpers/netns.ts';
import { makeScratch } from '../helpers/scratch.ts';
import { ROLE_DATA, assertNoSpoofedDatagram, spoofRound, type Endpoint } from '../helpers/spoof.ts';

const scratch = makeScratch();
const net = await makeTestNetwork();

function plugin(extra: Partial<NetworkingPluginOptions> = {}): NetworkingPlugin {
  return createNetworkingPlugin({
    stateDir: join(scratch.dir, 'network'), hostNetns: net.hostNs, bridgeName: 'dtbr2', externalInterfaces: [HOST_EXT_IFACE], ...extra,
  });
}

type Role = 'a' | 'b' | 'c';

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((x, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [x, ...rest]));
}

/** Starts a, b and c in `order` (each a namespace of its own), runs the scenario for both families, stops them. */
async function threeContainers(order: readonly Role[], options: Partial<NetworkingPluginOptions> = {}): Promise<void> {
  const before = await net.snapshot();
  const p = plugin(options);
  const started: HookContext[] = [];
  const endpoints = new Map<Role, Endpoint>();
  const processes = await Promise.all(order.map(() => net.namespaceProcess()));
  try {
    for (const [i, role] of order.entries()) {
      const pid = processes[i]!.pid;
      const ctx: HookContext = {
        id: scratch.id(`spoof-${role}`), rootfs: '/nonexistent', logger: silentLogger(), signal: new AbortController().signal,
        data: { type: 'nat', ipv4: true, ipv6: true, interContainer: ROLE_DATA[role] },
      };
      await p.preStart?.({ ...ctx, pid });
      started.push(ctx);
      const n = p.addressOf(ctx.id);
      assert.ok(n !== null);
      endpoints.set(role, { pid, ipv4: n.ipv4, ipv6: n.ipv6 });
    }
    const roles = { a: endpoints.get('a')!, b: endpoints.get('b')!, c: endpoints.get('c')! };
    for (const family of [4, 6] as const) {
      assertNoSpoofedDatagram(await spoofRound(net, roles, family, `${order.join('')}${family}`), `start order ${order.join(', ')}, IPv${family}`);
    }
  } finally {
    for (const ctx of started.reverse()) await p.postStop?.({ ...ctx, exit: null });
    await Promise.all(processes.map((x) => x.kill()));
  }
  assert.equal(await net.snapshot(), before);
}

describe('anti-spoofing between nat containers', { concurrency: 1 }, () => {
  test('a, then c, then b (the order of issue 11): c cannot pass as b', async () => {
    await threeContainers(['a', 'c', 'b']);
  });

  // Without ebtables (a host that has none) the IP-level checks hold alone; with it, both layers.
  for (const [layers, options] of [['iptables alone', { ebtables: null }], ['iptables and ebtables', {}]] as const) {
    for (const order of permutations<Role>(['a', 'b', 'c'])) {
      test(`${layers}, start order ${order.join(', ')}: no datagram of c's reaches a, b's does (IPv4 and IPv6)`, async () => {
        await threeContainers(order, options);
      });
    }
  }
});
