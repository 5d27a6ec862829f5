// The networking plugin over the fake ip, firewall and sysctl: any mix of nat/none/open starts and
// stops, with faults injected anywhere in the set-up, sequential or concurrent, leaves the host's
// links, rules (others' rules in place and in order), sysctls and leases exactly as they were, and
// never gives two live containers one address.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { FakeFirewall } from '../../src/drivers/network/fake-firewall.ts';
import { FakeIp } from '../../src/drivers/network/fake-ip.ts';
import { FakeSysctl } from '../../src/drivers/network/sysctl.ts';
import { FakeLinkFilter } from '../../src/drivers/network/ebtables.ts';
import { faultyFirewall, faultyIp, faultyLinkFilter } from '../../src/drivers/network/faulty.ts';
import { FakeMulticastRouter } from '../../src/drivers/network/smcroute-fake.ts';
import { DobbyError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { createNetworkingPlugin, type NetworkingPlugin } from '../../src/plugins/networking/plugin.ts';
import type { HookContext } from '../../src/plugins/types.ts';

const dir = mkdtempSync('/tmp/dobby-h6-fake-');
after(() => rmSync(dir, { recursive: true, force: true }));
let runs = 0;

interface World {
  readonly ip: FakeIp;
  readonly fw: FakeFirewall;
  readonly links: FakeLinkFilter;
  readonly router: FakeMulticastRouter;
  readonly sysctl: FakeSysctl;
  readonly plugin: NetworkingPlugin;
  /** The firewall and sysctls inside each container (localhostMasquerade), by pid. */
  readonly inside: Map<number, { readonly fw: FakeFirewall; readonly sysctl: FakeSysctl }>;
  /** Fail the n-th driver call from now (counting ip and firewall batches together); null: none. */
  failAt: number | null;
  calls: number;
  /** Faults are for the set-up; teardown runs clean (its own failures are a different story). */
  tearingDown: boolean;
}

function world(): World {
  const ip = new FakeIp();
  const fw = new FakeFirewall();
  fw.seed(4, 'filter', 'FORWARD', ['-s', '198.51.100.7/32', '-j', 'DROP']);
  fw.seed(4, 'nat', 'POSTROUTING', ['-d', '198.51.100.8/32', '-j', 'RETURN']);
  fw.seed(6, 'filter', 'FORWARD', ['-s', '2001:db8:99::7/128', '-j', 'DROP']);
  const sysctl = new FakeSysctl();
  const router = new FakeMulticastRouter();
  const w: World = { ip, fw, links: new FakeLinkFilter(), router, sysctl, inside: new Map(), failAt: null, calls: 0, tearingDown: false, plugin: undefined as unknown as NetworkingPlugin };
  const fault = (): boolean => {
    if (w.tearingDown) return false;
    w.calls++;
    return w.failAt !== null && w.calls === w.failAt;
  };
  router.failWhen = () => fault();
  (w as { plugin: NetworkingPlugin }).plugin = createNetworkingPlugin({
    stateDir: join(dir, `state-${++runs}`), bridgeName: 'fakebr0', externalInterfaces: ['ext0', 'ext1'],
    drivers: {
      ip: faultyIp(ip, { ip: fault }), firewall: faultyFirewall(fw, { firewall: fault }), linkFilter: faultyLinkFilter(w.links, { linkFilter: fault }), sysctl,
      multicastRouter: router,
      netnsIdentity: async (path) => path,
      inside: (pid) => {
        const drivers = { fw: new FakeFirewall(), sysctl: new FakeSysctl({ 'net.ipv4.conf.eth0.route_localnet': '0' }) };
        w.inside.set(pid, drivers);
        return { firewall: faultyFirewall(drivers.fw, { firewall: fault }), sysctl: drivers.sysctl };
      },
    },
  });
  return w;
}

async function hostState(w: World): Promise<string> {
  return JSON.stringify([w.ip.snapshot()['host'], await w.fw.save(4), await w.fw.save(6), await w.links.tables.save(4), [...w.sysctl.values], [...w.router.blocks]]);
}

const ctx = (id: string, data: unknown): HookContext => ({ id, rootfs: '/nonexistent', data, logger: silentLogger(), signal: new AbortController().signal });

const dataArb = fc.oneof(
  fc.constant({ type: 'none' }),
  fc.constant({ type: 'open' }),
  fc.record({
    type: fc.constant('nat'),
    ipv6: fc.boolean(),
    dnsmasq: fc.boolean(),
    interContainer: fc.array(fc.record({
      direction: fc.constantFrom('in', 'out'), port: fc.integer({ min: 1, max: 65535 }), protocol: fc.constantFrom('tcp', 'udp'), localhostMasquerade: fc.boolean(),
    }), { maxLength: 3 }),
    multicastForwarding: fc.array(fc.record({ ip: fc.constantFrom('239.255.255.250', '224.0.0.251', 'ff02::fb'), port: fc.integer({ min: 1, max: 65535 }) }), { maxLength: 2 }),
  }),
);

async function startOne(w: World, id: string, pid: number, data: unknown): Promise<boolean> {
  w.ip.addNamespace(pid);
  try {
    await w.plugin.preStart?.({ ...ctx(id, data), pid });
    return true;
  } catch {
    // As the machine does for a failed start: the process goes, then preDestruction.
    w.ip.removeNamespace(pid);
    w.tearingDown = true;
    try {
      await w.plugin.preDestruction?.({ ...ctx(id, data), exit: null });
    } finally {
      w.tearingDown = false;
    }
    return false;
  }
}

async function stopOne(w: World, id: string, pid: number, data: unknown): Promise<void> {
  w.ip.removeNamespace(pid);
  w.tearingDown = true;
  try {
    await w.plugin.postStop?.({ ...ctx(id, data), exit: null });
    await w.plugin.preDestruction?.({ ...ctx(id, data), exit: null });
  } finally {
    w.tearingDown = false;
  }
}

function assertDistinct(w: World, ids: Iterable<string>): void {
  const addresses = [...ids].map((id) => w.plugin.addressOf(id)?.ipv4).filter((a): a is string => typeof a === 'string');
  assert.equal(new Set(addresses).size, addresses.length, addresses.join(' '));
}

describe('networking plugin over fakes', () => {
  test('sequential starts and stops with a fault anywhere leave the host as it was', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 4 }), dataArb), { minLength: 1, maxLength: 25 }),
      fc.option(fc.integer({ min: 1, max: 40 }), { nil: null }),
      async (ops, failAt) => {
        const w = world();
        const before = await hostState(w);
        w.failAt = failAt;
        const live = new Map<string, { pid: number; data: unknown }>();
        let pid = 1000;
        for (const [start, k, data] of ops) {
          const id = `c${k}`;
          const running = live.get(id);
          if (start && running === undefined) {
            const p = ++pid;
            if (await startOne(w, id, p, data)) live.set(id, { pid: p, data });
            else assert.equal(w.plugin.addressOf(id), null);
          } else if (!start && running !== undefined) {
            await stopOne(w, id, running.pid, running.data);
            live.delete(id);
          }
          assertDistinct(w, live.keys());
        }
        w.failAt = null;
        for (const [id, r] of live) await stopOne(w, id, r.pid, r.data);
        assert.equal(await hostState(w), before);
      },
    ), { numRuns: 80 });
  });

  test('concurrent starts then concurrent stops, with faults: distinct addresses, nothing left', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(dataArb, { minLength: 1, maxLength: 8 }),
      fc.option(fc.integer({ min: 1, max: 30 }), { nil: null }),
      async (datas, failAt) => {
        const w = world();
        const before = await hostState(w);
        w.failAt = failAt;
        const started = await Promise.all(datas.map((d, i) => startOne(w, `k${i}`, 2000 + i, d)));
        assertDistinct(w, datas.map((_, i) => `k${i}`));
        const natCount = datas.filter((d, i) => started[i] && d.type === 'nat').length;
        const bridge = w.ip.snapshot()['host']?.some((l) => l.name === 'fakebr0') ?? false;
        assert.equal(bridge, natCount > 0);
        w.failAt = null;
        await Promise.all(datas.map((d, i) => (started[i] ? stopOne(w, `k${i}`, 2000 + i, d) : Promise.resolve())));
        assert.equal(await hostState(w), before);
      },
    ), { numRuns: 60 });
  });

  test("the last container's postStop failing at any step (a bridge-down failure included) is finished by preDestruction", async () => {
    const data = { type: 'nat' };
    // How many driver calls a clean teardown of the last container makes.
    const clean = world();
    await startOne(clean, 'only', 60, data);
    clean.ip.removeNamespace(60);
    const counted = clean.calls;
    await clean.plugin.postStop?.({ ...ctx('only', data), exit: null });
    const steps = clean.calls - counted;
    assert.ok(steps >= 3, `a teardown of ${steps} driver calls is too few to take the bridge down`);
    for (let k = 1; k <= steps; k++) {
      const w = world();
      const before = await hostState(w);
      await startOne(w, 'only', 61, data);
      w.ip.removeNamespace(61);
      w.failAt = w.calls + k;
      await assert.rejects(Promise.resolve(w.plugin.postStop?.({ ...ctx('only', data), exit: null })), /could not (undo|take)/, `step ${k}`);
      w.failAt = null;
      await w.plugin.preDestruction?.({ ...ctx('only', data), exit: null });
      assert.equal(await hostState(w), before, `step ${k} of ${steps} failed at postStop: something was left`);
    }
  });

  test('a teardown that comes while set-up is still running (the hook timed out) waits for it; an abort stops it; nothing is left', async () => {
    for (const abort of [false, true]) {
      const w = world();
      const before = await hostState(w);
      const slow = createNetworkingPlugin({
        stateDir: join(dir, `state-slow-${abort}`), bridgeName: 'fakebr0', externalInterfaces: ['ext0', 'ext1'],
        drivers: {
          ip: { apply: async (t, ops, id) => { await new Promise((r) => setTimeout(r, 15)); return w.ip.apply(t, ops, id); }, links: (t) => w.ip.links(t), routes: (t, f) => w.ip.routes(t, f) },
          firewall: w.fw, linkFilter: w.links, sysctl: w.sysctl, netnsIdentity: async (path) => path,
        },
      });
      w.ip.addNamespace(55);
      const controller = new AbortController();
      const c = { ...ctx('slow', { type: 'nat', interContainer: [{ direction: 'in', port: 80 }] }), signal: controller.signal };
      const starting = Promise.resolve(slow.preStart?.({ ...c, pid: 55 }));
      if (abort) setTimeout(() => controller.abort(), 20);
      const outcome = starting.then(() => 'ok', (err: Error) => err.message);
      await slow.preDestruction?.({ ...c, exit: null });
      const result = await outcome;
      if (abort) assert.match(result, /ran past the hook's time limit/);
      assert.equal(slow.addressOf('slow'), null);
      w.ip.removeNamespace(55);
      assert.equal(await hostState(w), before);
    }
  });

  test('nat in the fake: veth in the container as eth0 with the address, default route via the bridge, sysctl on', async () => {
    const w = world();
    await startOne(w, 'one', 77, { type: 'nat', ipv4: true, ipv6: true });
    const n = w.plugin.addressOf('one');
    assert.equal(n?.ipv4, '100.64.11.2');
    assert.equal(n?.ipv6, '2080:d0bb:1e::6440:b02');
    const inside = w.ip.snapshot()['pid:77'] ?? [];
    assert.deepEqual(inside.map((l) => [l.name, l.up, l.addresses.map((a) => `${a.address}/${a.prefixLength}`)]), [
      ['lo', true, []], ['eth0', true, ['100.64.11.2/24', '2080:d0bb:1e::6440:b02/120']],
    ]);
    assert.deepEqual((await w.ip.routes({ kind: 'pid', pid: 77 }, 4)).map((r) => r.gateway), ['100.64.11.1']);
    assert.equal(w.sysctl.values.get('net.ipv4.ip_forward'), '1');
    const fwd = (await w.fw.list(4)).rules.filter((r) => r.chain === 'FORWARD');
    // Our jump went on top; the other rule is still there, unchanged.
    assert.deepEqual(fwd.map((r) => r.rule.at(-1)), ['DOBBY-NET-FORWARD', 'DROP']);
    await stopOne(w, 'one', 77, { type: 'nat' });
    assert.equal(w.sysctl.values.get('net.ipv4.ip_forward'), '0');
  });

  test('without br_netfilter a nat container with interContainer rules is refused, naming the module and the fix; one without them starts', async () => {
    const w = world();
    for (const f of ['iptables', 'ip6tables']) w.sysctl.values.delete(`net.bridge.bridge-nf-call-${f}`);
    const before = await hostState(w);
    w.ip.addNamespace(81);
    await assert.rejects(Promise.resolve(w.plugin.preStart?.({ ...ctx('icc', { type: 'nat', interContainer: [{ direction: 'in', port: 80 }] }), pid: 81 })), (err: DobbyError) => {
      assert.equal(err.code, 'HOST_UNSUITABLE');
      assert.match(err.message, /br_netfilter is not loaded.*modprobe br_netfilter/);
      return true;
    });
    assert.equal(await hostState(w), before);
    assert.equal(await startOne(w, 'plain', 82, { type: 'nat' }), true);
    await stopOne(w, 'plain', 82, { type: 'nat' });
    w.ip.removeNamespace(81);
    assert.equal(await hostState(w), before);
  });

  test('bridge-nf-call-iptables off in the bridge\'s namespace: turned on with the bridge, put back with it', async () => {
    const w = world();
    for (const f of ['iptables', 'ip6tables']) w.sysctl.values.set(`net.bridge.bridge-nf-call-${f}`, '0');
    const before = await hostState(w);
    await startOne(w, 'icc', 83, { type: 'nat', ipv6: true, interContainer: [{ direction: 'in', port: 80 }] });
    assert.equal(w.sysctl.values.get('net.bridge.bridge-nf-call-iptables'), '1');
    assert.equal(w.sysctl.values.get('net.bridge.bridge-nf-call-ip6tables'), '1');
    await stopOne(w, 'icc', 83, { type: 'nat' });
    assert.equal(await hostState(w), before);
  });

  test('dnsmasq and localhostMasquerade in the fake: the DNS DNAT and ACCEPT on the host, Dobby\'s rules inside; none of it without IPv4 or a firewall inside', async () => {
    const w = world();
    const before = await hostState(w);
    const interContainer = [{ direction: 'in', port: 7000, localhostMasquerade: true }, { direction: 'out', port: 7001, protocol: 'udp', localhostMasquerade: true }, { direction: 'out', port: 7002 }];
    assert.equal(await startOne(w, 'lm', 91, { type: 'nat', dnsmasq: true, interContainer }), true);
    const host = (await w.fw.list(4)).rules.filter((r) => r.rule.includes('dobby-net:lm'));
    const dns = host.filter((r) => r.rule.includes('53')).map((r) => `${r.table}/${r.chain} ${r.rule.join(' ')}`);
    assert.deepEqual(dns.sort(), [
      'filter/DOBBY-NET-INPUT -s 100.64.11.2/32 -d 127.0.0.1/32 -i fakebr0 -p tcp -m tcp --dport 53 -m physdev --physdev-in dveth2 -m comment --comment dobby-net:lm -j ACCEPT',
      'filter/DOBBY-NET-INPUT -s 100.64.11.2/32 -d 127.0.0.1/32 -i fakebr0 -p udp -m udp --dport 53 -m physdev --physdev-in dveth2 -m comment --comment dobby-net:lm -j ACCEPT',
      'nat/DOBBY-NET-PREROUTING -s 100.64.11.2/32 -d 100.64.11.1/32 -i fakebr0 -p tcp -m tcp --dport 53 -m comment --comment dobby-net:lm -j DNAT --to-destination 127.0.0.1:53',
      'nat/DOBBY-NET-PREROUTING -s 100.64.11.2/32 -d 100.64.11.1/32 -i fakebr0 -p udp -m udp --dport 53 -m comment --comment dobby-net:lm -j DNAT --to-destination 127.0.0.1:53',
    ]);
    const inside = w.inside.get(91);
    assert.ok(inside !== undefined);
    assert.deepEqual((await inside.fw.list(4)).rules.map((r) => `${r.chain} ${r.rule.join(' ')}`), [
      'PREROUTING -s 100.64.11.0/24 -d 100.64.11.2/32 -p tcp -m tcp --dport 7000 -j DNAT --to-destination 127.0.0.1:7000',
      'OUTPUT -o lo -p udp -m udp --dport 7001 -j DNAT --to-destination 100.64.11.1:7001',
      'POSTROUTING -s 127.0.0.1/32 -d 100.64.11.1/32 -p udp -m udp --dport 7001 -j SNAT --to-source 100.64.11.2',
    ]);
    assert.equal(inside.sysctl.values.get('net.ipv4.conf.eth0.route_localnet'), '1');
    await stopOne(w, 'lm', 91, { type: 'nat' });
    assert.equal(await hostState(w), before);

    // IPv6 only: no DNS rules, nothing inside (both IPv4 only, as Dobby).
    assert.equal(await startOne(w, 'six', 92, { type: 'nat', ipv6: true, dnsmasq: true, interContainer }), true);
    assert.deepEqual((await w.fw.list(4)).rules.filter((r) => r.rule.includes('dobby-net:six') && r.rule.includes('53')), []);
    assert.equal(w.inside.has(92), false);
    await stopOne(w, 'six', 92, { type: 'nat' });
    assert.equal(await hostState(w), before);

    // A plugin given a fake firewall and no firewall for inside containers refuses, and leaves nothing.
    const ip = new FakeIp();
    const fw = new FakeFirewall();
    const bare = createNetworkingPlugin({ stateDir: join(dir, 'bare'), bridgeName: 'fakebr0', drivers: { ip, firewall: fw, linkFilter: new FakeLinkFilter(), sysctl: new FakeSysctl(), netnsIdentity: async (path) => path } });
    const emptyRules = await fw.save(4);
    ip.addNamespace(93);
    await assert.rejects(Promise.resolve(bare.preStart?.({ ...ctx('bare', { type: 'nat', interContainer }), pid: 93 })), /interContainer localhostMasquerade needs the firewall inside the container/);
    await bare.preDestruction?.({ ...ctx('bare', { type: 'nat' }), exit: null });
    assert.equal(await fw.save(4), emptyRules);
    assert.equal(bare.addressOf('bare'), null);
  });

  test('a fake firewall without a link filter is refused (the real ebtables would change the real host)', () => {
    assert.throws(() => createNetworkingPlugin({ stateDir: join(dir, 'guard'), drivers: { firewall: new FakeFirewall() } }), /give drivers\.linkFilter too/);
  });
});
