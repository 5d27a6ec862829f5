// The networking plugin's modes around real crun/conmon containers, in namespaces the test makes:
// a "host" (the bridge lives there) and an "external" host behind it. nat reaches the external host
// through masquerade, none reaches nothing, open is the host's namespace, inter-container rules
// let only the named ports through, and nothing is left after a stop or a start that fails half-way.

import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { Iptables } from '../../src/drivers/network/firewall.ts';
import { faultyFirewall, faultyIp, type Faults } from '../../src/drivers/network/faulty.ts';
import { IpCommands } from '../../src/drivers/network/ip.ts';
import { SpawnNetExec } from '../../src/drivers/network/net-exec.ts';
import { SysctlCommand } from '../../src/drivers/network/sysctl.ts';
import { DobbyError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { createNetworkingPlugin, type NetworkingPlugin, type NetworkingPluginOptions } from '../../src/plugins/networking/plugin.ts';
import { StartAbort, type HookContext } from '../../src/plugins/types.ts';
import { makeBundle } from '../helpers/bundle.ts';
import { realMonitor } from '../helpers/manager.ts';
import { EXT_ADDR4, EXT_ADDR6, HOST_ADDR4, HOST_ADDR6, HOST_EXT_IFACE, makeTestNetwork } from '../helpers/netns.ts';
import { makeScratch } from '../helpers/scratch.ts';
import { ROLE_DATA, assertNoSpoofedDatagram, inNetns, spoofRound } from '../helpers/spoof.ts';

const scratch = makeScratch();
const net = await makeTestNetwork();
const { runtime, monitor } = realMonitor(scratch);
after(() => monitor.close());

const BRIDGE = 'dtbr0';
const stateDir = join(scratch.dir, 'network');
const leaseFile = join(stateDir, 'addresses.json');

function plugin(faults: Faults | null = null, extra: Partial<NetworkingPluginOptions> = {}): NetworkingPlugin {
  const exec = new SpawnNetExec({ hostNetns: net.hostNs });
  const ip = new IpCommands(exec);
  const firewall = new Iptables(exec);
  return createNetworkingPlugin({
    stateDir, hostNetns: net.hostNs, bridgeName: BRIDGE, externalInterfaces: [HOST_EXT_IFACE],
    drivers: { exec, ip: faults === null ? ip : faultyIp(ip, faults), firewall: faults === null ? firewall : faultyFirewall(firewall, faults), sysctl: new SysctlCommand(exec) },
    ...extra,
  });
}

async function leases(): Promise<Record<string, string>> {
  const text = await readFile(leaseFile, 'utf8').catch(() => '{"leases":{}}');
  return (JSON.parse(text) as { leases: Record<string, string> }).leases;
}

/** Containers a test has not stopped (it failed half-way): stopped after it, so the next test starts clean. */
const unstopped = new Map<string, { c: Running; p: NetworkingPlugin | null }>();
afterEach(async () => {
  for (const { c, p } of unstopped.values()) await c.stop(p ?? plugin()).catch(() => undefined);
  unstopped.clear();
});

interface Running {
  readonly id: string;
  readonly pid: number;
  readonly ctx: HookContext;
  stop(p: NetworkingPlugin): Promise<void>;
}

/** A created (not started) sleeping container with the plugin's data; `namespaces` replaces the network entry. */
async function create(data: unknown, label: string, network: Record<string, unknown> | null = { type: 'network' }): Promise<Running> {
  const id = scratch.id(label);
  const bundle = await makeBundle(join(scratch.bundlesDir, id), { args: ['/bin/sleep', '1000'], init: true });
  if (network === null || network['path'] !== undefined) {
    const configPath = join(bundle, 'config.json');
    const config = JSON.parse(await readFile(configPath, 'utf8')) as { linux: { namespaces: Record<string, unknown>[] } };
    config.linux.namespaces = config.linux.namespaces.filter((n) => n['type'] !== 'network');
    if (network !== null) config.linux.namespaces.push(network);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(configPath, JSON.stringify(config));
  }
  const created = await monitor.create({ id, bundle, logPath: join(scratch.logsDir, `${id}.log`) });
  const ctx: HookContext = { id, rootfs: join(bundle, 'rootfs'), data, logger: silentLogger(), signal: new AbortController().signal };
  const running: Running = {
    id, pid: created.pid, ctx,
    async stop(p) {
      unstopped.delete(id);
      await runtime.delete(id, { force: true }).catch(() => undefined);
      await monitor.release(id);
      await p.postStop?.({ ...ctx, exit: null });
      await p.preDestruction?.({ ...ctx, exit: null });
    },
  };
  unstopped.set(id, { c: running, p: null });
  return running;
}

/** Runs preStart as the machine does (after create, before start), then starts the container. */
async function start(p: NetworkingPlugin, c: Running): Promise<void> {
  await p.preStart?.({ ...c.ctx, pid: c.pid });
  await runtime.start(c.id);
}

async function addrsIn(pid: number): Promise<string[]> {
  const { run } = await import('../../src/drivers/process.ts');
  const r = await run('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', '-o', 'addr', 'show']);
  return r.stdout.split('\n').filter((l) => l !== '').map((l) => { const f = l.split(/\s+/); return `${f[1]} ${f[3]}`; }).sort();
}

describe('networking modes around real containers', { concurrency: 1 }, () => {
  test('nat: the external host sees the host namespace as the source (v4 and v6); all of it goes at stop', async () => {
    const before = await net.snapshot();
    const p = plugin();
    const c = await create({ type: 'nat', ipv4: true, ipv6: true }, 'nat');
    await start(p, c);
    const n = p.addressOf(c.id);
    assert.ok(n !== null);
    assert.equal(n.type, 'nat');
    assert.match(n.ipv4 ?? '', /^100\.64\.11\.\d+$/);
    assert.match(n.ipv6 ?? '', /^2080:d0bb:1e::6440:b/);
    assert.equal(n.netnsPath, `/proc/${c.pid}/ns/net`);
    const inside = (await addrsIn(c.pid)).filter((a) => !a.startsWith('eth0 fe80:'));
    assert.deepEqual(inside, [`eth0 ${n.ipv4}/24`, `eth0 ${n.ipv6}/120`, 'lo 127.0.0.1/8', 'lo ::1/128'].sort());
    assert.deepEqual(await leases(), { [c.id]: n.ipv4 });
    const rules = await net.inHost(['iptables-save']);
    assert.match(rules, /-A FORWARD -m comment --comment "dobby-net bridge" -j DOBBY-NET-FORWARD/);
    assert.match(rules, /-A DOBBY-NET-POSTROUTING -s 100\.64\.11\.0\/24 ! -d 100\.64\.11\.0\/24 -o ext0 .*-j MASQUERADE/);
    assert.equal((await net.inHost(['sysctl', '-n', 'net.ipv4.ip_forward'])).trim(), '1');

    await net.serve(net.extNs, '::', 7000);
    assert.equal(await net.connect(c.pid, EXT_ADDR4, 7000), `OK ${HOST_ADDR4}`);
    assert.equal(await net.connect(c.pid, EXT_ADDR6, 7000), `OK ${HOST_ADDR6}`);

    await c.stop(p);
    assert.equal(p.addressOf(c.id), null);
    assert.deepEqual(await leases(), {});
    assert.equal(await net.snapshot(), before);
  });

  test('none: only loopback, which works; the external host is unreachable; the host is untouched', async () => {
    const before = await net.snapshot();
    const p = plugin();
    const c = await create({ type: 'none' }, 'none');
    await start(p, c);
    assert.equal(p.addressOf(c.id)?.type, 'none');
    assert.deepEqual(await addrsIn(c.pid), ['lo 127.0.0.1/8', 'lo ::1/128']);
    assert.match(await net.connect(c.pid, EXT_ADDR4, 7000), /^ERR (ENETUNREACH|EHOSTUNREACH)$/);
    await net.serve(c.pid, '127.0.0.1', 7001);
    assert.equal(await net.connect(c.pid, '127.0.0.1', 7001), 'OK 127.0.0.1');
    assert.equal(await net.snapshot(), before);
    await c.stop(p);
    assert.equal(p.addressOf(c.id), null);
    assert.equal(await net.snapshot(), before);
  });

  test('open: the container is in the host namespace, reaches the external host as the host does, nothing is set up', async () => {
    const before = await net.snapshot();
    const p = plugin();
    const c = await create({ type: 'open' }, 'open', { type: 'network', path: `/run/netns/${net.hostNs}` });
    await start(p, c);
    const [mine, host] = await Promise.all([stat(`/proc/${c.pid}/ns/net`), stat(`/run/netns/${net.hostNs}`)]);
    assert.equal(mine.ino, host.ino);
    assert.equal(p.addressOf(c.id)?.netnsPath, `/run/netns/${net.hostNs}`);
    assert.equal(await net.connect(c.pid, EXT_ADDR4, 7000), `OK ${HOST_ADDR4}`);
    assert.equal(await net.snapshot(), before);
    await c.stop(p);

    // nat for a container in the host's namespace is refused before anything is touched.
    const shared = await create({ type: 'nat' }, 'nat-shared', { type: 'network', path: `/run/netns/${net.hostNs}` });
    // A StartAbort: the start fails even when the plugin is not required.
    await assert.rejects(p.preStart?.({ ...shared.ctx, pid: shared.pid }) as Promise<unknown>, (err: DobbyError) => {
      assert.ok(err instanceof StartAbort);
      assert.equal(err.code, 'ABORTED');
      assert.match(err.message, /shares the host's network namespace/);
      return true;
    });
    await shared.stop(p);
    assert.equal(await net.snapshot(), before);
    assert.deepEqual(await leases(), {});
  });

  test('three containers started a, c, b: only the interContainer ports cross the bridge; c cannot pass as b', async () => {
    const before = await net.snapshot();
    const p = plugin();
    const a = await create({ type: 'nat', ipv6: true, ipv4: true, interContainer: ROLE_DATA.a }, 'srv');
    const c = await create({ type: 'nat', ipv6: true, ipv4: true }, 'other');
    const b = await create({ type: 'nat', ipv6: true, ipv4: true, interContainer: ROLE_DATA.b }, 'cli');
    // One after another, in the order that opened the hole of issue 11 (c's checks below b's ACCEPTs).
    for (const x of [a, c, b]) await start(p, x);
    const [na, nb, nc] = [p.addressOf(a.id), p.addressOf(b.id), p.addressOf(c.id)];
    assert.ok(na !== null && nb !== null && nc !== null);
    const addresses = [na.ipv4, nb.ipv4, nc.ipv4];
    assert.equal(new Set(addresses).size, 3, addresses.join(' '));
    assert.equal(Object.keys(await leases()).length, 3);
    await net.serve(a.pid, '0.0.0.0', 7100);
    await net.serve(a.pid, '0.0.0.0', 7102);
    const bridgeIp = na.bridgeIpv4 ?? '';
    assert.equal(bridgeIp, '100.64.11.1');
    // b dials the bridge on the in-port: DNATed to a, which sees b's own address.
    assert.equal(await net.connect(b.pid, bridgeIp, 7100), `OK ${nb.ipv4}`);
    // Another port of a, directly or through the bridge, is refused; so is c, which has no out rule.
    assert.match(await net.connect(b.pid, na.ipv4 ?? '', 7102), /^ERR/);
    assert.match(await net.connect(c.pid, bridgeIp, 7100), /^ERR/);
    assert.match(await net.connect(c.pid, na.ipv4 ?? '', 7100), /^ERR/);
    const rules = await net.inHost(['iptables-save']);
    assert.match(rules, new RegExp(`--comment "?dobby-net:${a.id}"? -j DNAT --to-destination ${na.ipv4}:7100`));
    // c with b's address as its source: no datagram reaches a (b's own do), IPv4 and IPv6.
    const roles = { a: { pid: a.pid, ipv4: na.ipv4, ipv6: na.ipv6 }, b: { pid: b.pid, ipv4: nb.ipv4, ipv6: nb.ipv6 }, c: { pid: c.pid, ipv4: nc.ipv4, ipv6: nc.ipv6 } };
    for (const family of [4, 6] as const) assertNoSpoofedDatagram(await spoofRound(net, roles, family, `crun${family}`), `crun containers a, c, b, IPv${family}`);
    // Nor does a spoofed connection to the host get in.
    await net.serve(net.hostNs, '0.0.0.0', 7103);
    assert.equal(await net.connect(c.pid, bridgeIp, 7103), `OK ${nc.ipv4}`);
    await inNetns(c.pid, ['ip', 'addr', 'add', `${nb.ipv4}/32`, 'dev', 'eth0']);
    assert.equal(await net.connect(c.pid, bridgeIp, 7103, nb.ipv4 ?? undefined, 1500), 'ERR ETIMEDOUT');
    await a.stop(p);
    assert.doesNotMatch(await net.inHost(['iptables-save']), new RegExp(`dobby-net:${a.id}`));
    assert.doesNotMatch(await net.inHost(['ebtables-save']), new RegExp(` ${na.hostVeth} `));
    // The bridge stays while b and c are there.
    assert.match(await net.inHost(['ip', 'link', 'show', BRIDGE]), new RegExp(BRIDGE));
    await Promise.all([b.stop(p), c.stop(p)]);
    assert.equal(await net.snapshot(), before);
    assert.deepEqual(await leases(), {});
  });

  const faultPoints: { name: string; faults: Faults }[] = [
    { name: 'the bridge firewall rules', faults: { firewall: (_f, ch) => ch.some((c) => c.op === 'newChain') } },
    { name: 'the host veth batch', faults: { ip: (t, ops) => t.kind === 'host' && ops.some((o) => o.op === 'addVeth') } },
    { name: 'the container-side batch', faults: { ip: (t) => t.kind === 'pid' } },
    { name: 'the IPv6 inter-container rules', faults: { firewall: (f, ch) => f === 6 && ch.some((c) => c.op === 'insert' && c.chain.endsWith('-INTER') && c.rule.some((x) => x.startsWith('dobby-net:'))) } },
  ];
  for (const [index, point] of faultPoints.entries()) {
    test(`a start failing at ${point.name} leaves nothing, alone and next to a running container`, async () => {
      const before = await net.snapshot();
      const good = plugin();
      const bad = plugin(point.faults);
      const data = { type: 'nat', ipv6: true, interContainer: [{ direction: 'in', port: 7200 }] };
      const alone = await create(data, 'fail');
      await assert.rejects(bad.preStart?.({ ...alone.ctx, pid: alone.pid }) as Promise<unknown>, /injected fault/);
      await bad.preDestruction?.({ ...alone.ctx, exit: null });
      await alone.stop(bad);
      assert.deepEqual(await leases(), {});
      assert.equal(await net.snapshot(), before);

      if (point.name === 'the bridge firewall rules') return; // needs a fresh bridge; covered above
      const running = await create({ type: 'nat' }, 'keep');
      await start(good, running);
      const during = await net.snapshot();
      const second = await create(data, 'fail2');
      await assert.rejects(bad.preStart?.({ ...second.ctx, pid: second.pid }) as Promise<unknown>, /injected fault/);
      await second.stop(bad);
      assert.equal(await net.snapshot(), during);
      assert.deepEqual(Object.keys(await leases()), [running.id]);
      await net.serve(net.extNs, '0.0.0.0', 7300 + index);
      assert.equal(await net.connect(running.pid, EXT_ADDR4, 7300 + index), `OK ${HOST_ADDR4}`);
      await running.stop(good);
      assert.equal(await net.snapshot(), before);
    });
  }

  test('leases survive a daemon restart: the new plugin hands out another address and cleans up the old container', async () => {
    const before = await net.snapshot();
    const first = plugin();
    const a = await create({ type: 'nat', interContainer: [{ direction: 'in', port: 7400 }] }, 'old');
    await start(first, a);
    const addressA = first.addressOf(a.id)?.ipv4;
    const second = plugin(); // a restarted daemon: same state dir, nothing in memory
    assert.equal(second.addressOf(a.id), null);
    const b = await create({ type: 'nat' }, 'new');
    await start(second, b);
    assert.notEqual(second.addressOf(b.id)?.ipv4, addressA);
    await a.stop(second);
    assert.doesNotMatch(await net.inHost(['iptables-save']), new RegExp(`dobby-net:${a.id}`));
    assert.deepEqual(Object.keys(await leases()), [b.id]);
    await b.stop(second);
    assert.equal(await net.snapshot(), before);
  });

  test('a container that died while no daemon watched: the next daemon frees its address and rules (its dnsmasq ones too) at its first nat start', async () => {
    const before = await net.snapshot();
    const first = plugin();
    const dead = await create({ type: 'nat', dnsmasq: true, interContainer: [{ direction: 'in', port: 7600 }] }, 'dead');
    await start(first, dead);
    assert.match(await net.inHost(['iptables-save']), new RegExp(`--dport 53 .*dobby-net:${dead.id}`));
    const deadAddress = first.addressOf(dead.id)?.ipv4;
    // The daemon is gone (no hooks run) and the container dies: the kernel takes its veth pair.
    await runtime.delete(dead.id, { force: true });
    await monitor.release(dead.id);
    assert.deepEqual(Object.keys(await leases()), [dead.id]);
    const second = plugin();
    const b = await create({ type: 'nat' }, 'after');
    await start(second, b);
    assert.deepEqual(Object.keys(await leases()), [b.id]);
    assert.doesNotMatch(await net.inHost(['iptables-save']), new RegExp(`dobby-net:${dead.id}`));
    assert.notEqual(deadAddress, undefined);
    await b.stop(second);
    // Its hooks running late (an adopted exit) change nothing.
    await second.postStop?.({ ...dead.ctx, exit: null });
    await second.preDestruction?.({ ...dead.ctx, exit: null });
    assert.equal(await net.snapshot(), before);
  });
});
