// Anti-spoofing as a property, over real namespaces, veth pairs, iptables and ebtables in a "host"
// namespace of the test: 3-5 nat containers with generated interContainer rules are started and
// stopped in a generated order, then each of them sends UDP datagrams to each of the others on
// every port, from its own address and from every other one's. What arrives must be exactly the
// datagrams from a container's own address to a port it has an `out` rule for: never a spoofed one,
// whatever order the rules went in (with and without the link-layer checks).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { silentLogger } from '../../src/log.ts';
import { createNetworkingPlugin } from '../../src/plugins/networking/plugin.ts';
import type { HookContext } from '../../src/plugins/types.ts';
import { HOST_EXT_IFACE, makeTestNetwork, type Datagram } from '../helpers/netns.ts';
import { makeScratch } from '../helpers/scratch.ts';
import { inNetns, macOf } from '../helpers/spoof.ts';

const scratch = makeScratch();
const net = await makeTestNetwork();
const processes = await Promise.all([0, 1, 2, 3, 4].map(() => net.namespaceProcess()));
after(() => Promise.all(processes.map((p) => p.kill())));

const PORTS = [7201, 7202] as const;

interface Rule { readonly direction: 'in' | 'out'; readonly port: number; readonly protocol: 'udp' }

const ruleArb = fc.record({ direction: fc.constantFrom<'in' | 'out'>('in', 'out'), port: fc.constantFrom(...PORTS), protocol: fc.constant<'udp'>('udp') });
const caseArb = fc.integer({ min: 3, max: 5 }).chain((n) => fc.record({
  rules: fc.array(fc.uniqueArray(ruleArb, { maxLength: 3, selector: (r) => `${r.direction}${r.port}` }), { minLength: n, maxLength: n }),
  /** Containers toggled (started when stopped, stopped when running) in this order; then the rest start in index order. */
  toggles: fc.array(fc.nat(n - 1), { maxLength: 8 }),
  family: fc.constantFrom<4 | 6>(4, 6),
  linkLayer: fc.boolean(),
}));

interface Member { readonly ctx: HookContext; readonly pid: number; address: string; mac: string }

test('whatever the start and stop order of 3-5 nat containers, only datagrams from a sender\'s own address to its out ports arrive', async () => {
  let run = 0;
  await fc.assert(fc.asyncProperty(caseArb, async ({ rules, toggles, family, linkLayer }) => {
    run++;
    const before = await net.snapshot();
    const p = createNetworkingPlugin({
      stateDir: join(scratch.dir, `network-${run}`), hostNetns: net.hostNs, bridgeName: 'dtbr3', externalInterfaces: [HOST_EXT_IFACE],
      ...(linkLayer ? {} : { ebtables: null }),
    });
    const members: Member[] = rules.map((r, i) => ({
      ctx: { id: scratch.id(`p${run}-${i}`), rootfs: '/nonexistent', logger: silentLogger(), signal: new AbortController().signal, data: { type: 'nat', ipv4: true, ipv6: true, interContainer: r } },
      pid: processes[i]!.pid, address: '', mac: '',
    }));
    const running = new Set<number>();
    const startOne = async (i: number): Promise<void> => {
      await p.preStart?.({ ...members[i]!.ctx, pid: members[i]!.pid });
      running.add(i);
    };
    const stopOne = async (i: number): Promise<void> => {
      running.delete(i);
      await p.postStop?.({ ...members[i]!.ctx, exit: null });
    };
    try {
      for (const i of toggles) await (running.has(i) ? stopOne(i) : startOne(i));
      for (const i of members.keys()) if (!running.has(i)) await startOne(i);
      for (const m of members) {
        const n = p.addressOf(m.ctx.id);
        m.address = (family === 4 ? n?.ipv4 : n?.ipv6) ?? '';
        m.mac = await macOf(m.pid);
      }
      const expected = new Set<string>();
      for (const x of members.keys()) {
        for (const y of members.keys()) {
          for (const port of PORTS) if (x !== y && rules[x]!.some((r) => r.direction === 'out' && r.port === port)) expected.add(`own ${x}>${y}:${port}`);
        }
      }
      const arrived = await exchange(members, family, expected);
      assert.deepEqual([...arrived].sort(), [...expected].sort(), `IPv${family}, ${linkLayer ? 'with' : 'without'} ebtables, rules ${JSON.stringify(rules)}, toggles ${toggles.join(',')}`);
    } finally {
      for (const i of [...running]) await stopOne(i);
    }
    assert.equal(await net.snapshot(), before);
  }), { numRuns: 6 });
});

/**
 * Every member sends to every other member on every port: spoofed first (in one round per borrowed
 * address z, every other member holds z's address on its eth0 and sends from it to all but z),
 * then from its own. Returns what arrived at its target, as `own x>y:port` / `spoof x as z>y:port`,
 * once the `expected` ones and the host's markers have (or after 10 s).
 */
async function exchange(members: readonly Member[], family: 4 | 6, expected: ReadonlySet<string>): Promise<Set<string>> {
  const sinks = await Promise.all(members.map((m) => net.udpSink(m.pid, family === 4 ? '0.0.0.0' : '::', PORTS)));
  const cidr = (address: string): string => `${address}/${family === 4 ? 32 : 128}`;
  try {
    // An attacker with CAP_NET_ADMIN: every neighbour fixed, so no ARP or ND of its own is needed.
    await Promise.all(members.map(async (x, xi) => {
      for (const [zi, z] of members.entries()) if (zi !== xi) await inNetns(x.pid, ['ip', 'neigh', 'replace', z.address, 'lladdr', z.mac, 'dev', 'eth0', 'nud', 'permanent']);
    }));
    for (const [zi, z] of members.entries()) {
      await Promise.all(members.map(async (x, xi) => {
        if (xi === zi) return;
        await inNetns(x.pid, ['ip', 'addr', 'add', cidr(z.address), 'dev', 'eth0', ...(family === 6 ? ['nodad'] : [])]);
        const spoofed: Datagram[] = members.flatMap((y, yi) => (yi === xi || yi === zi ? [] : PORTS.map((port) => ({ host: y.address, port, from: z.address, text: `spoof ${xi} as ${zi}>${yi}:${port}` }))));
        assert.equal(await net.udpSend(x.pid, spoofed), 'SENT');
        await inNetns(x.pid, ['ip', 'addr', 'del', cidr(z.address), 'dev', 'eth0']);
      }));
    }
    await Promise.all(members.map(async (x, xi) => {
      const own: Datagram[] = members.flatMap((y, yi) => (yi === xi ? [] : PORTS.map((port) => ({ host: y.address, port, text: `own ${xi}>${yi}:${port}` }))));
      assert.equal(await net.udpSend(x.pid, own), 'SENT');
    }));
    // Then the host's markers to every member and port, over the same bridge: once they and every
    // datagram that should arrive are in, the members' (sent before) had their chance.
    await net.udpSend(net.hostNs, members.flatMap((y, yi) => PORTS.map((port) => ({ host: y.address, port, text: `marker ${yi}:${port}` }))));
    const got = (): Set<string> => new Set(sinks.flatMap((s, yi) => s.received().map((d) => d.text.replace(/ \d+$/, '')).filter((t) => t.endsWith(`>${yi}:${t.split(':')[1]}`) || t.startsWith(`marker ${yi}:`))));
    const markers = members.flatMap((_, yi) => PORTS.map((port) => `marker ${yi}:${port}`));
    const deadline = Date.now() + 10_000;
    while ([...expected, ...markers].some((w) => !got().has(w)) && Date.now() < deadline) await sleep(50);
    for (const m of markers) assert.ok(got().has(m), `the host's ${m} never arrived`);
    return new Set([...got()].filter((t) => !t.startsWith('marker ')));
  } finally {
    await Promise.all(sinks.map((s) => s.stop()));
  }
}
