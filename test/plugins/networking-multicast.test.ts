// multicastForwarding without a host: the rules and smcroute lines built for a container, the block
// edit that keeps the host's lines and other containers' blocks, and the plugin over the fake
// firewall and router (chains made with the first container, gone with the last, IPv6 groups with
// hop-limit rules, groups of a family the container lacks skipped).

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { FakeLinkFilter } from '../../src/drivers/network/ebtables.ts';
import { FakeFirewall } from '../../src/drivers/network/fake-firewall.ts';
import { FakeIp } from '../../src/drivers/network/fake-ip.ts';
import { blockLines, hasBlockIn, withoutBlock } from '../../src/drivers/network/smcroute.ts';
import { FakeMulticastRouter } from '../../src/drivers/network/smcroute-fake.ts';
import { FakeSysctl } from '../../src/drivers/network/sysctl.ts';
import { silentLogger, type Logger } from '../../src/log.ts';
import { multicastJumps, multicastRules, smcrouteLines } from '../../src/plugins/networking/multicast-rules.ts';
import { createNetworkingPlugin } from '../../src/plugins/networking/plugin.ts';
import type { HookContext } from '../../src/plugins/types.ts';

const dir = mkdtempSync('/tmp/dobby-mcast-fake-');
after(() => rmSync(dir, { recursive: true, force: true }));

describe('multicastForwarding rules and smcroute lines', () => {
  test('per group and port: an ACCEPT towards the bridge and a TTL +1 (hop limit for IPv6), tagged; duplicates once', () => {
    const entries = [{ ip: '239.1.2.3', port: 5000 }, { ip: '239.1.2.3', port: 5000 }, { ip: '239.1.2.3', port: 5001 }];
    assert.deepEqual(multicastRules({ id: 'app', family: 4, bridge: 'dobby0', chain: 'DOBBY-NET-MCAST', entries }).map((r) => `${r.table} ${r.chain} ${r.rule.join(' ')}`), [
      'filter DOBBY-NET-MCAST -d 239.1.2.3/32 ! -i dobby0 -o dobby0 -p udp -m udp --dport 5000 -m comment --comment dobby-net:app -j ACCEPT',
      'mangle DOBBY-NET-MCAST -d 239.1.2.3/32 ! -i dobby0 -p udp -m udp --dport 5000 -m comment --comment dobby-net:app -j TTL --ttl-inc 1',
      'filter DOBBY-NET-MCAST -d 239.1.2.3/32 ! -i dobby0 -o dobby0 -p udp -m udp --dport 5001 -m comment --comment dobby-net:app -j ACCEPT',
      'mangle DOBBY-NET-MCAST -d 239.1.2.3/32 ! -i dobby0 -p udp -m udp --dport 5001 -m comment --comment dobby-net:app -j TTL --ttl-inc 1',
    ]);
    assert.deepEqual(multicastRules({ id: 'app', family: 6, bridge: 'dobby0', chain: 'C', entries: [{ ip: 'ff05::c', port: 1900 }] }).map((r) => r.rule.join(' ')), [
      '-d ff05::c/128 ! -i dobby0 -o dobby0 -p udp -m udp --dport 1900 -m comment --comment dobby-net:app -j ACCEPT',
      '-d ff05::c/128 ! -i dobby0 -p udp -m udp --dport 1900 -m comment --comment dobby-net:app -j HL --hl-inc 1',
    ]);
    assert.deepEqual(multicastJumps(6, 'dobby0', 'C').map((r) => `${r.table} ${r.chain} ${r.rule.join(' ')}`), [
      'filter FORWARD -d ff00::/8 ! -i dobby0 -o dobby0 -m comment --comment dobby-net multicast -j C',
      'mangle PREROUTING -d ff00::/8 ! -i dobby0 -m comment --comment dobby-net multicast -j C',
    ]);
  });

  test('smcroute routes each group once from every external interface and lo to the bridge', () => {
    assert.deepEqual(smcrouteLines([{ ip: '239.1.2.3', port: 1 }, { ip: '239.1.2.3', port: 2 }, { ip: 'ff05::c', port: 3 }], ['eth0', 'wlan0'], 'dobby0'), [
      'mroute from eth0 group 239.1.2.3 to dobby0', 'mroute from wlan0 group 239.1.2.3 to dobby0', 'mroute from lo group 239.1.2.3 to dobby0',
      'mroute from eth0 group ff05::c to dobby0', 'mroute from wlan0 group ff05::c to dobby0', 'mroute from lo group ff05::c to dobby0',
    ]);
  });

  test('taking one container\'s block out of the file keeps every other line, in order', () => {
    const piece = fc.oneof(
      fc.constantFrom('phyint eth0 enable', '# a comment of the host', '', 'mroute from eth0 group 239.9.9.9 to eth1').map((l) => ({ id: null, lines: [l] })),
      fc.record({ id: fc.constantFrom('a', 'b', 'a.b', 'a-1'), lines: fc.array(fc.constantFrom('mroute from eth0 group 239.1.1.1 to dobby0', 'mroute from lo group 239.1.1.1 to dobby0'), { maxLength: 3 }) })
        .map(({ id, lines }) => ({ id, lines: blockLines(id, lines) })),
    );
    fc.assert(fc.property(fc.array(piece, { maxLength: 8 }), fc.constantFrom('a', 'b', 'a.b', 'a-1'), (pieces, id) => {
      const file = pieces.flatMap((p) => p.lines);
      const expected = pieces.filter((p) => p.id !== id).flatMap((p) => p.lines);
      assert.deepEqual(withoutBlock(file, id), expected);
      assert.equal(hasBlockIn(file, id), pieces.some((p) => p.id === id));
      assert.equal(hasBlockIn(withoutBlock(file, id), id), false);
    }));
  });
});

describe('multicastForwarding over the fake firewall and router', () => {
  const ctx = (id: string, data: unknown, logger: Logger = silentLogger()): HookContext => ({ id, rootfs: '/nonexistent', data, logger, signal: new AbortController().signal });
  const world = () => {
    const ip = new FakeIp();
    const fw = new FakeFirewall();
    fw.seed(4, 'mangle', 'PREROUTING', ['-d', '198.51.100.9/32', '-j', 'RETURN']);
    const router = new FakeMulticastRouter();
    const sysctl = new FakeSysctl();
    const plugin = createNetworkingPlugin({
      stateDir: join(dir, `s-${Math.random().toString(36).slice(2)}`), bridgeName: 'fakebr0', externalInterfaces: ['ext0'],
      drivers: { ip, firewall: fw, linkFilter: new FakeLinkFilter(), sysctl, multicastRouter: router, netnsIdentity: async (path) => path },
    });
    const state = async (): Promise<string> => JSON.stringify([await fw.save(4), await fw.save(6), [...router.blocks]]);
    return { ip, fw, router, plugin, state };
  };

  test('chains come with the first container and go with the last; the FORWARD jump is ahead of the bridge\'s', async () => {
    const w = world();
    const before = await w.state();
    const a = { type: 'nat', ipv6: true, ipv4: true, multicastForwarding: [{ ip: '239.1.2.3', port: 5000 }, { ip: 'ff05::c', port: 1900 }] };
    const b = { type: 'nat', multicastForwarding: [{ ip: '239.1.2.4', port: 5002 }] };
    w.ip.addNamespace(10);
    w.ip.addNamespace(11);
    await w.plugin.preStart?.({ ...ctx('a', a), pid: 10 });
    await w.plugin.preStart?.({ ...ctx('b', b), pid: 11 });
    assert.deepEqual(w.router.blocks.get('a'), [
      'mroute from ext0 group 239.1.2.3 to fakebr0', 'mroute from lo group 239.1.2.3 to fakebr0',
      'mroute from ext0 group ff05::c to fakebr0', 'mroute from lo group ff05::c to fakebr0',
    ]);
    const v4 = await w.fw.list(4, ['filter', 'mangle']);
    const forward = v4.rules.filter((r) => r.table === 'filter' && r.chain === 'FORWARD').map((r) => r.rule.at(-1));
    assert.deepEqual(forward, ['DOBBY-NET-MCAST', 'DOBBY-NET-FORWARD']);
    assert.deepEqual(v4.rules.filter((r) => r.table === 'mangle' && r.chain === 'PREROUTING').map((r) => r.rule.at(-1)), ['DOBBY-NET-MCAST', 'RETURN']);
    const inMcast = (set: typeof v4, table: string): string[] => set.rules.filter((r) => r.table === table && r.chain === 'DOBBY-NET-MCAST').map((r) => r.rule.join(' '));
    assert.equal(inMcast(v4, 'filter').length, 2);
    assert.ok(inMcast(v4, 'mangle').every((r) => r.endsWith('-j TTL --ttl-inc 1')));
    const v6 = await w.fw.list(6, ['filter', 'mangle']);
    assert.deepEqual(inMcast(v6, 'mangle'), ['-d ff05::c/128 ! -i fakebr0 -p udp -m udp --dport 1900 -m comment --comment dobby-net:a -j HL --hl-inc 1']);

    w.ip.removeNamespace(10);
    await w.plugin.postStop?.({ ...ctx('a', a), exit: null });
    assert.equal(w.router.blocks.has('a'), false);
    const left = await w.fw.list(4, ['filter', 'mangle']);
    assert.deepEqual(inMcast(left, 'filter').map((r) => r.includes('dobby-net:b')), [true]);
    assert.equal((await w.fw.list(6, ['filter', 'mangle'])).chains.includes('mangle/DOBBY-NET-MCAST'), false, 'the IPv6 chains go with the last IPv6 group');
    w.ip.removeNamespace(11);
    await w.plugin.postStop?.({ ...ctx('b', b), exit: null });
    assert.equal(await w.state(), before);
  });

  test('a group of a family the container has no address of is skipped, said so; a kernel that cannot route multicast is said so; smcrouted not running fails the start and leaves nothing', async () => {
    const w = world();
    const before = await w.state();
    const warnings: string[] = [];
    const logger = { ...silentLogger(), warn: (...args: unknown[]) => { warnings.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')); } } as unknown as Logger;
    w.ip.addNamespace(20);
    const v4only = { type: 'nat', multicastForwarding: [{ ip: 'ff05::c', port: 1900 }] };
    await w.plugin.preStart?.({ ...ctx('v4', v4only, logger), pid: 20 });
    assert.match(warnings.join('\n'), /ff05::c:1900.*no address of these groups' family/);
    assert.equal(w.router.blocks.has('v4'), false);
    w.ip.removeNamespace(20);
    await w.plugin.postStop?.({ ...ctx('v4', v4only), exit: null });
    assert.equal(await w.state(), before);

    w.router.routes = false;
    const v4 = { type: 'nat', multicastForwarding: [{ ip: '239.1.2.3', port: 1 }] };
    w.ip.addNamespace(22);
    await w.plugin.preStart?.({ ...ctx('noroute', v4, logger), pid: 22 });
    assert.match(warnings.join('\n'), /this kernel does not route IPv4 multicast \(CONFIG_IP_MROUTE is not set\)/);
    assert.equal(w.router.blocks.has('noroute'), true, 'the routes are set all the same (a kernel may get it later; Dobby does so too)');
    w.ip.removeNamespace(22);
    await w.plugin.postStop?.({ ...ctx('noroute', v4), exit: null });
    assert.equal(await w.state(), before);

    w.router.failWhen = (what) => what === 'check';
    w.ip.addNamespace(21);
    await assert.rejects(Promise.resolve(w.plugin.preStart?.({ ...ctx('nod', { type: 'nat', multicastForwarding: [{ ip: '239.1.2.3', port: 1 }] }), pid: 21 })), /smcrouted is not running/);
    assert.equal(w.plugin.addressOf('nod'), null);
    w.ip.removeNamespace(21);
    assert.equal(await w.state(), before);
  });
});
