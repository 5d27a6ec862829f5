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
import { ROLE_DATA, assertNoSpoofedDatagram, inNetns, macOf, sendArpReplies, spoofRound, type Endpoint } from '../helpers/spoof.ts';

const BRIDGE = 'dtbr2';
const scratch = makeScratch();
const net = await makeTestNetwork();

function plugin(extra: Partial<NetworkingPluginOptions> = {}): NetworkingPlugin {
  return createNetworkingPlugin({
    stateDir: join(scratch.dir, 'network'), hostNetns: net.hostNs, bridgeName: BRIDGE, externalInterfaces: [HOST_EXT_IFACE], ...extra,
  });
}

type Role = 'a' | 'b' | 'c';

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((x, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [x, ...rest]));
}

/** Starts a, b and c in `order` (each a namespace of its own), runs the scenario for both families, stops them. */
async function threeContainers(order: readonly Role[], options: Partial<NetworkingPluginOptions> = {}, whileUp?: () => Promise<void>): Promise<void> {
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
    await whileUp?.();
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

  /** b and c (nat, no inter-container rules) in namespaces of their own; `body` gets their endpoints and MACs. */
  async function pair(options: Partial<NetworkingPluginOptions>, body: (b: Endpoint & { mac: string }, c: Endpoint & { mac: string }) => Promise<void>): Promise<void> {
    const before = await net.snapshot();
    const p = plugin(options);
    const processes = await Promise.all([net.namespaceProcess(), net.namespaceProcess()]);
    const ctxs: HookContext[] = [];
    try {
      const ends: (Endpoint & { mac: string })[] = [];
      for (const [i, x] of processes.entries()) {
        const ctx: HookContext = { id: scratch.id(`l2-${i}`), rootfs: '/nonexistent', logger: silentLogger(), signal: new AbortController().signal, data: { type: 'nat' } };
        await p.preStart?.({ ...ctx, pid: x.pid });
        ctxs.push(ctx);
        const n = p.addressOf(ctx.id);
        assert.ok(n !== null);
        ends.push({ pid: x.pid, ipv4: n.ipv4, ipv6: n.ipv6, mac: await macOf(x.pid) });
      }
      await body(ends[0]!, ends[1]!);
    } finally {
      for (const ctx of ctxs) await p.postStop?.({ ...ctx, exit: null });
      await Promise.all(processes.map((x) => x.kill()));
    }
    assert.equal(await net.snapshot(), before);
  }

  /** The host sends datagrams to b until one arrives or 3 s pass; how many b and c each got. */
  async function hostToB(b: Endpoint, c: Endpoint): Promise<{ b: number; c: number }> {
    const [sinkB, sinkC] = await Promise.all([net.udpSink(b.pid, '0.0.0.0', [7300]), net.udpSink(c.pid, '0.0.0.0', [7300])]);
    const deadline = Date.now() + 3_000;
    while (sinkB.received().length === 0 && Date.now() < deadline) {
      assert.equal(await net.udpSend(net.hostNs, [{ host: b.ipv4 ?? '', port: 7300, text: 'to-b' }]), 'SENT');
    }
    await Promise.all([sinkB.stop(), sinkC.stop()]);
    return { b: sinkB.received().length, c: sinkC.received().length };
  }

  // With ebtables the forgeries move nothing; without it (a host that has none) they do, which is
  // what shows these witnesses can see them at all.
  for (const [layers, options, holds] of [['with ebtables', {}, true], ['without ebtables', { ebtables: null }, false]] as const) {
    test(`${layers}: c forging b's MAC ${holds ? 'does not' : 'does'} take b's traffic from the host`, async () => {
      await pair(options, async (b, c) => {
        // The host's neighbour entry for b is fixed (no ARP answers race with the forgery): only the
        // bridge's MAC table decides where the host's frames to b go. b speaks first (the bridge
        // learns its MAC on its port), then c with b's MAC and address.
        // b is kept quiet too (no IPv6 of its own: no router solicitations, no MLD reports).
        await net.inHost(['ip', 'neigh', 'replace', b.ipv4 ?? '', 'lladdr', b.mac, 'dev', BRIDGE, 'nud', 'permanent']);
        await inNetns(b.pid, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1']);
        assert.equal(await net.udpSend(b.pid, [{ host: '100.64.11.1', port: 7399, text: 'hello' }]), 'SENT');
        await inNetns(c.pid, ['ip', 'addr', 'add', `${b.ipv4}/32`, 'dev', 'eth0']);
        await inNetns(c.pid, ['ip', 'link', 'set', 'dev', 'eth0', 'address', b.mac]);
        assert.equal(await net.udpSend(c.pid, [{ host: '100.64.11.1', port: 7399, from: c.ipv4 ?? '', text: 'forged', count: 3 }]), 'SENT');
        const got = await hostToB(b, c);
        if (holds) assert.ok(got.b > 0 && got.c === 0, `b got ${got.b}, c got ${got.c} of the host's datagrams to b`);
        else assert.ok(got.c > 0 && got.b === 0, `without ebtables c was expected to take b's traffic (b got ${got.b}, c ${got.c})`);
      });
    });

    test(`${layers}: ARP replies from c claiming b's address ${holds ? 'do not' : 'do'} redirect the host's traffic to b`, async () => {
      await pair(options, async (b, c) => {
        // The host knows b (a neighbour entry with b's MAC) before c starts lying.
        assert.ok((await hostToB(b, c)).b > 0);
        await inNetns(c.pid, ['ip', 'addr', 'add', `${b.ipv4}/32`, 'dev', 'eth0']);
        const [bridgeLink] = JSON.parse(await net.inHost(['ip', '-j', 'link', 'show', 'dev', BRIDGE])) as { address: string }[];
        await sendArpReplies(c.pid, { senderMac: c.mac, claimedIp: b.ipv4 ?? '', targetMac: bridgeLink?.address ?? '', targetIp: '100.64.11.1' });
        const [entry] = JSON.parse(await net.inHost(['ip', '-j', 'neigh', 'show', b.ipv4 ?? '', 'dev', BRIDGE])) as { lladdr?: string }[];
        assert.equal(entry?.lladdr, holds ? b.mac : c.mac);
        const got = await hostToB(b, c);
        if (holds) assert.ok(got.b > 0 && got.c === 0, `b got ${got.b}, c got ${got.c} of the host's datagrams to b`);
        else assert.ok(got.c > 0 && got.b === 0, `without ebtables c was expected to take b's traffic (b got ${got.b}, c ${got.c})`);
      });
    });
  }

  test('bridge-nf-call-iptables off in the bridge\'s namespace: dobbyd turns it on with the bridge (the checks hold) and back off with it', async () => {
    const keys = ['net.bridge.bridge-nf-call-iptables', 'net.bridge.bridge-nf-call-ip6tables'];
    const read = async (): Promise<string> => (await net.inHost(['sysctl', '-n', ...keys])).trim().replace(/\s+/g, ' ');
    await net.inHost(['sysctl', '-q', '-w', ...keys.map((k) => `${k}=0`)]);
    try {
      await threeContainers(['a', 'c', 'b'], {}, async () => assert.equal(await read(), '1 1'));
      assert.equal(await read(), '0 0');
    } finally {
      await net.inHost(['sysctl', '-q', '-w', ...keys.map((k) => `${k}=1`)]);
    }
  });

  for (const [layers, options] of [['iptables alone', { ebtables: null }], ['iptables and ebtables', {}]] as const) {
    test(`${layers}: a container without an IPv6 address sends no IPv6, one with it does`, async () => {
      const before = await net.snapshot();
      const p = plugin(options);
      const [dual, v4only] = await Promise.all([net.namespaceProcess(), net.namespaceProcess()]);
      const ctx = (label: string, ipv6: boolean): HookContext => ({
        id: scratch.id(label), rootfs: '/nonexistent', logger: silentLogger(), signal: new AbortController().signal, data: { type: 'nat', ipv4: true, ipv6 },
      });
      const [cDual, cV4] = [ctx('dual', true), ctx('v4only', false)];
      try {
        await p.preStart?.({ ...cDual, pid: dual.pid });
        await p.preStart?.({ ...cV4, pid: v4only.pid });
        const bridge6 = p.addressOf(cDual.id)?.bridgeIpv6 ?? '';
        assert.equal(p.addressOf(cV4.id)?.ipv6, null);
        const sink = await net.udpSink(net.hostNs, '::', [7105]);
        // The v4-only one makes itself an IPv6 address of the containers' range and a route to the bridge.
        const [bridgeLink] = JSON.parse(await net.inHost(['ip', '-j', 'link', 'show', 'dev', BRIDGE])) as { address: string }[];
        await inNetns(v4only.pid, ['ip', 'addr', 'add', '2080:d0bb:1e::6440:bfa/120', 'dev', 'eth0', 'nodad']);
        await inNetns(v4only.pid, ['ip', 'neigh', 'replace', bridge6, 'lladdr', bridgeLink?.address ?? '', 'dev', 'eth0', 'nud', 'permanent']);
        assert.equal(await net.udpSend(v4only.pid, [{ host: bridge6, port: 7105, text: 'v4only', count: 5 }]), 'SENT');
        const deadline = Date.now() + 10_000;
        while (!sink.received().some((d) => d.text.startsWith('dual ')) && Date.now() < deadline) {
          assert.equal(await net.udpSend(dual.pid, [{ host: bridge6, port: 7105, text: 'dual' }]), 'SENT');
        }
        await sink.stop();
        assert.ok(sink.received().some((d) => d.text.startsWith('dual ')), 'the dual-stack container\'s datagram never reached the host');
        assert.deepEqual(sink.received().filter((d) => d.text.startsWith('v4only ')), []);
      } finally {
        for (const c of [cDual, cV4]) await p.postStop?.({ ...c, exit: null });
        await Promise.all([dual.kill(), v4only.kill()]);
      }
      assert.equal(await net.snapshot(), before);
    });
  }
});
