// The networking plugin's ways to 127.0.0.1, through dobbyd around real crun/conmon containers, its
// "host" a namespace of the test and its range not Dobby's (100.64.77.0/24, as settings may give):
// - dnsmasq: the container's resolv.conf names the bridge address and its DNS queries (udp and tcp)
//   reach a real DNS responder on the host's 127.0.0.1:53, with the host's INPUT policy DROP; stop,
//   a crash and a failed start leave no rule and no file; no resolver there is a warning naming it;
//   an IPv6-only container is told it gets none; the host's loopback takes nothing else from the bridge.
// - interContainer localhostMasquerade: a client reaches another container's server, which listens on
//   127.0.0.1 only, at its own 127.0.0.1; without the option it does not.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { filter, firstValueFrom, timeout } from 'rxjs';
import { parseDaemonArgs } from '../../src/daemon-options.ts';
import { startDaemon, type Daemon } from '../../src/daemon.ts';
import { run } from '../../src/drivers/process.ts';
import { createNetworkingPlugin } from '../../src/plugins/networking/plugin.ts';
import { HookHint, type DobbyPlugin } from '../../src/plugins/types.ts';
import { makeBundle, writeConfig } from '../helpers/bundle.ts';
import { dnsQuery, startDnsResponder } from '../helpers/dns.ts';
import { HOST_EXT_IFACE, makeTestNetwork } from '../helpers/netns.ts';
import { makeScratch } from '../helpers/scratch.ts';
import { warningLog } from '../helpers/warnings.ts';

const scratch = makeScratch();
const net = await makeTestNetwork();
const RANGE = '100.64.77.0/24';
const BRIDGE_IP = '100.64.77.1';
const networkDir = join(scratch.dir, 'daemon', 'network');
// resolverAnswerMs 0: the tests start and stop resolvers between starts, and each start is to see the host as it is.
const plugin = createNetworkingPlugin({
  stateDir: networkDir, hostNetns: net.hostNs, bridgeName: `dl${net.tag}`, externalInterfaces: [HOST_EXT_IFACE], addressRange: RANGE,
  resolverAnswerMs: 0,
});
const { logger, warnings, warned } = warningLog();
/** A plugin of the test's whose preStart fails: it runs after networking (Dobby orders unknown plugins last). */
const failing: DobbyPlugin = { name: 'failprestart', hookHints: HookHint.PreStartSync, preStart: () => false };
const options = parseDaemonArgs(['--state-dir', join(scratch.dir, 'daemon'), '--skip-host-check', '--stop-grace', '1'], {}, 2);
assert.ok(options !== 'help');
const daemon: Daemon = await startDaemon(options, logger, { plugins: [plugin, failing], portsHostNetns: net.hostNs });
after(() => daemon.close());

async function natBundle(id: string, data: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<string> {
  const args = ['/bin/sleep', '1000'];
  const bundle = await makeBundle(join(scratch.bundlesDir, id), { args, init: true });
  await writeConfig(bundle, { args, init: true }, (config) => {
    config['rdkPlugins'] = { networking: { required: true, data: { type: 'nat', ...data } }, ...extra };
  });
  return bundle;
}

function gone(id: string): Promise<unknown> {
  return firstValueFrom(daemon.manager.events$.pipe(filter((e) => e.id === id && e.type === 'deleted'), timeout(30_000)));
}

async function start(id: string, data: Record<string, unknown>): Promise<{ descriptor: number; pid: number }> {
  const descriptor = await daemon.manager.start({ id, bundle: await natBundle(id, data) });
  return { descriptor, pid: daemon.manager.get(descriptor)?.pid as number };
}

async function stop(id: string, descriptor: number): Promise<void> {
  const deleted = gone(id);
  await daemon.manager.stop(descriptor, false);
  await deleted;
}

/** busybox nslookup inside the container (its mount namespace: its own /etc/resolv.conf). */
async function nslookup(pid: number, name: string): Promise<string> {
  const r = await run('nsenter', ['-t', String(pid), '-m', '-n', '-r', '-w', '/bin/busybox', 'nslookup', name]);
  return `${r.stdout}${r.stderr}`;
}

const resolvFiles = (): string[] => (existsSync(join(networkDir, 'resolv')) ? readdirSync(join(networkDir, 'resolv')) : []);
const NAME = 'dobby-test.example';
const ANSWER = '192.0.2.53';

describe('dnsmasq through dobbyd', { concurrency: 1, timeout: 180_000 }, () => {
  test('the container asks the bridge address and the host\'s resolver on 127.0.0.1:53 answers (udp, tcp), with INPUT policy DROP; stop and a crash leave nothing', async () => {
    await net.inHost(['iptables', '-P', 'INPUT', 'DROP']);
    try {
      const before = await net.snapshot();
      const resolver = await startDnsResponder(net.hostNs, '127.0.0.1', { [NAME]: ANSWER });
      for (const crash of [false, true]) {
        const id = scratch.id(crash ? 'dns-crash' : 'dns');
        const { descriptor, pid } = await start(id, { dnsmasq: true });
        const network = plugin.addressOf(id);
        assert.ok(network !== null && network.ipv4 !== null);
        assert.equal(network.bridgeIpv4, BRIDGE_IP);
        assert.match(readFileSync(`/proc/${pid}/root/etc/resolv.conf`, 'utf8'), new RegExp(`^nameserver ${BRIDGE_IP.replaceAll('.', '\\.')}$`, 'm'));
        assert.deepEqual(resolvFiles(), [`${id}.conf`]);
        const looked = await nslookup(pid, NAME);
        assert.match(looked, new RegExp(`Address:? +${ANSWER.replaceAll('.', '\\.')}`), looked);
        assert.equal(await dnsQuery(pid, BRIDGE_IP, NAME, 'tcp'), ANSWER);
        assert.equal(await dnsQuery(pid, BRIDGE_IP, 'other.example', 'udp'), 'NXDOMAIN');
        // The responder saw the container's own address, over both protocols.
        const seen = resolver.queries().filter((q) => q.from === network.ipv4);
        assert.ok(seen.some((q) => q.proto === 'udp' && q.name === NAME) && seen.some((q) => q.proto === 'tcp'), JSON.stringify(resolver.queries()));
        await plugin.resolverChecksSettled();
        assert.ok(!warned(id, /listens on 127\.0\.0\.1:53/), 'warned although a resolver listens');
        assert.match(await net.inHost(['iptables-save']), new RegExp(`--dport 53 .*dobby-net:${id}"? -j DNAT --to-destination 127\\.0\\.0\\.1:53`));
        const deleted = gone(id);
        if (crash) process.kill(pid, 'SIGKILL');
        else await daemon.manager.stop(descriptor, false);
        await deleted;
        assert.equal(await net.snapshot(), before);
        assert.deepEqual(resolvFiles(), []);
      }
      await resolver.stop();
    } finally {
      await net.inHost(['iptables', '-P', 'INPUT', 'ACCEPT']);
    }
  });

  test('a container without dnsmasq asking the bridge gets no answer; nor does one sending to 127.0.0.1 through the bridge itself', async () => {
    const before = await net.snapshot();
    const resolver = await startDnsResponder(net.hostNs, '127.0.0.1', { [NAME]: ANSWER });
    const id = scratch.id('nodns');
    const { descriptor, pid } = await start(id, {});
    assert.equal(readFileSync(`/proc/${pid}/root/etc/resolv.conf`, 'utf8'), readFileSync('/etc/resolv.conf', 'utf8'));
    assert.equal(await dnsQuery(pid, BRIDGE_IP, NAME, 'udp'), 'ERR ETIMEDOUT');
    // The bridge has route_localnet=1 for the DNATs; a container routing 127.0.0.1 out of its own
    // interface (it has CAP_NET_ADMIN in its namespace here) still does not reach the host's loopback.
    const inside = (argv: string[]): Promise<unknown> => run('nsenter', [`--net=/proc/${pid}/ns/net`, '--', ...argv]).then((r) => assert.equal(r.code, 0, r.stderr));
    await inside(['ip', 'route', 'del', 'local', '127.0.0.0/8', 'dev', 'lo', 'table', 'local']);
    await inside(['ip', 'route', 'del', 'local', '127.0.0.1', 'dev', 'lo', 'table', 'local']);
    await inside(['ip', 'route', 'add', '127.0.0.1/32', 'via', BRIDGE_IP, 'dev', 'eth0']);
    await inside(['sysctl', '-q', '-w', 'net.ipv4.conf.eth0.route_localnet=1']);
    assert.equal(await dnsQuery(pid, '127.0.0.1', NAME, 'udp'), 'ERR ETIMEDOUT');
    assert.deepEqual(resolver.queries(), []);
    await resolver.stop();
    await stop(id, descriptor);
    assert.equal(await net.snapshot(), before);
  });

  test('no resolver on the host\'s 127.0.0.1:53: a warning naming it; IPv6 only: a warning and the host\'s resolv.conf; a failed start leaves nothing', async () => {
    const before = await net.snapshot();
    const id = scratch.id('dns-none');
    const { descriptor, pid } = await start(id, { dnsmasq: true });
    await plugin.resolverChecksSettled();
    assert.ok(warned(id, /nothing in the host's network namespace listens on 127\.0\.0\.1:53 \(udp, tcp\)/), JSON.stringify(warnings));
    assert.equal(await dnsQuery(pid, BRIDGE_IP, NAME, 'udp'), 'ERR ETIMEDOUT');
    await stop(id, descriptor);

    const v6 = scratch.id('dns-v6');
    const six = await start(v6, { dnsmasq: true, ipv6: true });
    assert.ok(warned(v6, /cannot DNAT IPv6 to the host's ::1, so an IPv6-only container gets no DNS forwarding/), JSON.stringify(warnings));
    assert.equal(readFileSync(`/proc/${six.pid}/root/etc/resolv.conf`, 'utf8'), readFileSync('/etc/resolv.conf', 'utf8'));
    assert.deepEqual(resolvFiles(), []);
    await stop(v6, six.descriptor);

    const failed = scratch.id('dns-fail');
    const bundle = await natBundle(failed, { dnsmasq: true }, { failprestart: { required: true, data: {} } });
    await assert.rejects(daemon.manager.start({ id: failed, bundle }), /failprestart/);
    assert.deepEqual(resolvFiles(), []);
    assert.equal(await net.snapshot(), before);
  });

  test('bad data fails the start naming the field; nothing is left', async () => {
    const before = await net.snapshot();
    for (const [i, [data, field]] of ([
      [{ dnsmasq: 'yes' }, /networking\.data\.dnsmasq is "yes"; it must be true or false/],
      [{ interContainer: [{ direction: 'out', port: 7700, localhostMasquerade: 1 }] }, /networking\.data\.interContainer\[0\]\.localhostMasquerade is 1; it must be true or false/],
    ] as const).entries()) {
      const id = scratch.id(`dns-bad${i}`);
      await assert.rejects(daemon.manager.start({ id, bundle: await natBundle(id, data) }), field);
    }
    assert.deepEqual(resolvFiles(), []);
    assert.equal(await net.snapshot(), before);
  });
});

describe('interContainer localhostMasquerade through dobbyd', { concurrency: 1, timeout: 180_000 }, () => {
  test('a client reaches a server that listens on 127.0.0.1 only at its own 127.0.0.1; without the option neither way reaches it', async () => {
    const before = await net.snapshot();
    const pairs = [];
    for (const [masquerade, port] of [[true, 7700], [false, 7701]] as const) {
      const server = scratch.id(masquerade ? 'lm-srv' : 'plain-srv');
      const client = scratch.id(masquerade ? 'lm-cli' : 'plain-cli');
      const s = await start(server, { interContainer: [{ direction: 'in', port, localhostMasquerade: masquerade }] });
      const c = await start(client, { interContainer: [{ direction: 'out', port, localhostMasquerade: masquerade }] });
      await net.serve(s.pid, '127.0.0.1', port);
      pairs.push({ server, client, s, c, port, masquerade });
    }
    for (const { server, client, s, c, port, masquerade } of pairs) {
      const clientIp = plugin.addressOf(client)?.ipv4;
      assert.ok(clientIp !== undefined && clientIp !== null);
      if (masquerade) {
        // The server sees the client's own address, whichever way the client dials.
        assert.equal(await net.connect(c.pid, '127.0.0.1', port), `OK ${clientIp}`);
        assert.equal(await net.connect(c.pid, BRIDGE_IP, port), `OK ${clientIp}`);
      } else {
        assert.match(await net.connect(c.pid, '127.0.0.1', port, undefined, 2000), /^ERR /);
        assert.match(await net.connect(c.pid, BRIDGE_IP, port, undefined, 2000), /^ERR /);
        // The same path reaches the server on its own address: only its loopback is out of reach.
        await net.serve(s.pid, plugin.addressOf(server)?.ipv4 ?? '', port);
        assert.equal(await net.connect(c.pid, BRIDGE_IP, port), `OK ${clientIp}`);
      }
    }
    for (const { server, client, s, c } of pairs) {
      await stop(client, c.descriptor);
      await stop(server, s.descriptor);
    }
    assert.equal(await net.snapshot(), before);
  });
});

test('resolv.conf files an earlier daemon left go when the plugin starts', () => {
  const dir = join(scratch.dir, 'earlier', 'network');
  mkdirSync(join(dir, 'resolv'), { recursive: true });
  writeFileSync(join(dir, 'resolv', 'gone.conf'), 'nameserver 100.64.11.1\n');
  createNetworkingPlugin({ stateDir: dir, hostNetns: net.hostNs, bridgeName: `dm${net.tag}`, externalInterfaces: [HOST_EXT_IFACE] });
  assert.equal(existsSync(join(dir, 'resolv')), false);
});
