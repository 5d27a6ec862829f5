// multicastForwarding around real crun/conmon containers, in namespaces the test makes: a stand-in
// host (the bridge and a private smcrouted with its own identity and config file) and an "outside"
// host behind its external interface. A container's groups get their smcroute block (the host's own
// lines kept), rules in our chains, and their datagrams reach the container: sent on the bridge
// always, sent from outside where the kernel routes multicast (CONFIG_IP_MROUTE); other groups and
// ports do not. Stop, a failed start and crash recovery leave the file and the tables as they were.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DobbyError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { createNetworkingPlugin, type NetworkingPlugin } from '../../src/plugins/networking/plugin.ts';
import type { HookContext } from '../../src/plugins/types.ts';
import { makeBundle } from '../helpers/bundle.ts';
import { realMonitor } from '../helpers/manager.ts';
import { multicastKit, type Smcrouted } from '../helpers/multicast-forwarding.ts';
import { EXT_ADDR4, HOST_EXT_IFACE, makeTestNetwork } from '../helpers/netns.ts';
import { makeScratch } from '../helpers/scratch.ts';

const scratch = makeScratch();
const net = await makeTestNetwork();
const kit = multicastKit();
after(() => kit.cleanup());
const { runtime, monitor } = realMonitor(scratch);
after(() => monitor.close());

const BRIDGE = 'dtbr0';
const stateDir = join(scratch.dir, 'network');
const HOST_LINES = '# the host\'s own routes, which stay\nphyint ext0 enable\n';
// A host has its mangle table (iptables-nft makes it on first use and has no way to remove it), and
// rules of others in it that ours must leave where they are.
for (const [tool, other] of [['iptables', '198.51.100.9'], ['ip6tables', '2001:db8:99::9']] as const) {
  await net.inHost([tool, '-t', 'mangle', '-A', 'PREROUTING', '-d', other, '-m', 'comment', '--comment', 'someone else', '-j', 'RETURN']);
}
const daemon: Smcrouted = await kit.smcrouted(net.hostNs, `dtmc-${net.tag}`, HOST_LINES);
const routesByKernel = existsSync('/proc/net/ip_mr_vif');
const NO_MROUTE = 'this kernel does not route multicast (CONFIG_IP_MROUTE is not set: /proc/net/ip_mr_vif is missing), so nothing from the outside host can be forwarded';

const GROUP = '239.1.2.3';
const OTHER_GROUP = '239.1.2.4';
const PORT = 5000;
const OTHER_PORT = 5001;

function plugin(smcroute: { identity?: string; smcroutectl?: string } = {}): NetworkingPlugin {
  return createNetworkingPlugin({
    stateDir, hostNetns: net.hostNs, bridgeName: BRIDGE, externalInterfaces: [HOST_EXT_IFACE],
    smcroute: { configFile: daemon.configFile, identity: daemon.identity, ...smcroute },
  });
}

interface Running {
  readonly id: string;
  readonly pid: number;
  readonly ctx: HookContext;
  /** The container goes as the machine makes it go: runtime delete, then the teardown hooks. */
  stop(p: NetworkingPlugin): Promise<void>;
  /** The container dies with no hook run (a daemon that crashed meanwhile). */
  kill(): Promise<void>;
}

const unstopped = new Map<string, Running>();
afterEach(async () => {
  for (const c of unstopped.values()) await c.stop(plugin()).catch(() => undefined);
  unstopped.clear();
});

async function create(data: unknown, label: string): Promise<Running> {
  const id = scratch.id(label);
  const bundle = await makeBundle(join(scratch.bundlesDir, id), { args: ['/bin/sleep', '1000'], init: true });
  const created = await monitor.create({ id, bundle, logPath: join(scratch.logsDir, `${id}.log`) });
  const ctx: HookContext = { id, rootfs: join(bundle, 'rootfs'), data, logger: silentLogger(), signal: new AbortController().signal };
  const kill = async (): Promise<void> => {
    await runtime.delete(id, { force: true }).catch(() => undefined);
    await monitor.release(id);
  };
  const running: Running = {
    id, pid: created.pid, ctx, kill,
    async stop(p) {
      unstopped.delete(id);
      await kill();
      await p.postStop?.({ ...ctx, exit: null });
      await p.preDestruction?.({ ...ctx, exit: null });
    },
  };
  unstopped.set(id, running);
  return running;
}

async function start(p: NetworkingPlugin, c: Running): Promise<void> {
  await p.preStart?.({ ...c.ctx, pid: c.pid });
  await runtime.start(c.id);
}

const conf = (): Promise<string> => readFile(daemon.configFile, 'utf8');
const data = (groups: readonly { ip: string; port: number }[]): unknown => ({ type: 'nat', multicastForwarding: groups });

/** Sends the `before` datagrams, then `last` until it arrives on `port`: the ones before had their chance over the same path. */
async function sendUntil(from: { netns: string; address: string }, got: () => string[], before: readonly { group: string; port: number; text: string }[], last: { group: string; port: number; text: string }): Promise<boolean> {
  await kit.send(from.netns, from.address, before);
  for (let i = 0; i < 100; i++) {
    await kit.send(from.netns, from.address, [last]);
    await sleep(50);
    if (got().some((t) => t === last.text)) return true;
  }
  return false;
}

describe('multicastForwarding around real containers', { concurrency: 1 }, () => {
  test('a nat container\'s group: smcroute block, rules in our chains, the datagrams reach it; all of it goes at stop', async (t) => {
    const before = await net.snapshot();
    const p = plugin();
    const c = await create(data([{ ip: GROUP, port: PORT }]), 'mc');
    const logFrom = daemon.log().length;
    await start(p, c);
    const n = p.addressOf(c.id);
    assert.ok(n !== null && n.ipv4 !== null && n.hostVeth !== null);

    // The block, after the host's own lines, and smcrouted read it.
    assert.equal(await conf(), `${HOST_LINES}#START:${c.id}\nmroute from ${HOST_EXT_IFACE} group ${GROUP} to ${BRIDGE}\nmroute from lo group ${GROUP} to ${BRIDGE}\n#END:${c.id}\n`);
    assert.ok(await daemon.logged(`mroute from ${HOST_EXT_IFACE} group ${GROUP} to ${BRIDGE}`, logFrom), `smcrouted did not re-read its config:\n${daemon.log().slice(logFrom)}`);

    // The rules: in chains of ours, tagged with the container, reached ahead of the bridge's refusal.
    const v4 = await net.inHost(['iptables-save']);
    assert.match(v4, new RegExp(`-A DOBBY-NET-MCAST -d ${GROUP}/32 ! -i ${BRIDGE} -o ${BRIDGE} -p udp -m udp --dport ${PORT} -m comment --comment "?dobby-net:${c.id}"? -j ACCEPT`));
    assert.match(v4, new RegExp(`-A DOBBY-NET-MCAST -d ${GROUP}/32 ! -i ${BRIDGE} -p udp -m udp --dport ${PORT} -m comment --comment "?dobby-net:${c.id}"? -j TTL --ttl-inc 1`));
    const forward = v4.split('\n').filter((l) => l.startsWith('-A FORWARD '));
    const mcastJump = forward.findIndex((l) => l.endsWith('-j DOBBY-NET-MCAST'));
    assert.ok(mcastJump >= 0 && mcastJump < forward.findIndex((l) => l.endsWith('-j DOBBY-NET-FORWARD')), forward.join('\n'));
    assert.match(v4, /-A PREROUTING -d 224\.0\.0\.0\/4 ! -i dtbr0 -m comment --comment "dobby-net multicast" -j DOBBY-NET-MCAST/);
    // The link layer already lets multicast out to the container's port (nothing new there).
    assert.match(await net.inHost(['ebtables-save']), new RegExp(`-A DOBBY-NET-TO -p IPv4 -o ${n.hostVeth} --ip-dst 224\\.0\\.0\\.0/4 -j RETURN`));

    const rx = await kit.receive(c.pid, n.ipv4, [GROUP, OTHER_GROUP], [PORT, OTHER_PORT]);
    // Sent on the bridge by the host itself: through our link-layer chains to the container's port.
    assert.ok(await sendUntil({ netns: net.hostNs, address: n.bridgeIpv4 ?? '' }, () => rx.got(PORT), [], { group: GROUP, port: PORT, text: 'from-host' }), 'a datagram the host sent to the group on the bridge never arrived');

    await t.test('from the outside host: the group and port arrive, another port or group does not', { skip: routesByKernel ? false : NO_MROUTE }, async () => {
      const arrived = await sendUntil({ netns: net.extNs, address: EXT_ADDR4 }, () => rx.got(PORT), [
        { group: GROUP, port: OTHER_PORT, text: 'other-port' },
        { group: OTHER_GROUP, port: PORT, text: 'other-group' },
      ], { group: GROUP, port: PORT, text: 'outside' });
      assert.ok(arrived, `nothing the outside host sent to ${GROUP}:${PORT} arrived`);
      assert.deepEqual(rx.got(OTHER_PORT), [], 'a datagram to a port not listed arrived');
      assert.ok(!rx.got(PORT).includes('other-group'), 'a datagram to a group not listed arrived');
    });
    await rx.stop();

    const stopFrom = daemon.log().length;
    await c.stop(p);
    assert.equal(await conf(), HOST_LINES);
    assert.ok(await daemon.logged('Reloading configuration', stopFrom), 'smcrouted was not told that the block went');
    assert.equal(await net.snapshot(), before);
    assert.doesNotMatch(await net.inHost(['iptables-save']), /MCAST/);
  });

  test('containers starting and stopping together keep each other\'s blocks; the chains go with the last one', async () => {
    const before = await net.snapshot();
    const p = plugin();
    const cs = await Promise.all([0, 1, 2].map((i) => create(data([{ ip: `239.1.3.${i}`, port: 6000 + i }]), `mc${i}`)));
    await Promise.all(cs.map((c) => start(p, c)));
    const text = await conf();
    for (const [i, c] of cs.entries()) {
      assert.ok(text.includes(`#START:${c.id}\nmroute from ${HOST_EXT_IFACE} group 239.1.3.${i} to ${BRIDGE}\nmroute from lo group 239.1.3.${i} to ${BRIDGE}\n#END:${c.id}\n`), text);
    }
    assert.ok(text.startsWith(HOST_LINES));
    const [first, ...rest] = cs as [Running, ...Running[]];
    await first.stop(p);
    const v4 = await net.inHost(['iptables-save']);
    assert.ok(!v4.includes(`dobby-net:${first.id}`) && !(await conf()).includes(first.id));
    for (const c of rest) assert.ok(v4.includes(`dobby-net:${c.id}`) && (await conf()).includes(`#START:${c.id}`));
    await Promise.all(rest.map((c) => c.stop(p)));
    assert.equal(await conf(), HOST_LINES);
    assert.equal(await net.snapshot(), before);
  });

  test('without a running smcrouted, or without smcroutectl, the start fails naming what to start or install; nothing is left', async () => {
    const before = await net.snapshot();
    for (const [smcroute, message] of [
      [{ identity: `dtmc-none-${net.tag}` }, /multicastForwarding needs a running smcrouted.*Cannot find IPC socket.*start smcrouted reading \S+\.conf/],
      [{ smcroutectl: '/nonexistent/smcroutectl' }, /multicastForwarding needs smcroute, and \/nonexistent\/smcroutectl is not there: apt-get install smcroute/],
    ] as const) {
      const p = plugin(smcroute);
      const c = await create(data([{ ip: GROUP, port: PORT }]), 'nod');
      await assert.rejects(Promise.resolve(p.preStart?.({ ...c.ctx, pid: c.pid })), (err: DobbyError) => {
        assert.equal(err.code, 'HOST_UNSUITABLE');
        assert.match(err.message, message);
        return true;
      });
      assert.equal(p.addressOf(c.id), null);
      await c.stop(p);
      assert.equal(await conf(), HOST_LINES);
      assert.equal(await net.snapshot(), before);
    }
  });

  test('crash recovery: the block and rules of a container that died while no daemon watched go with the next bridge bring-up', async () => {
    const before = await net.snapshot();
    const crashed = plugin();
    const c = await create(data([{ ip: GROUP, port: PORT }]), 'gone');
    await start(crashed, c);
    unstopped.delete(c.id);
    // The daemon "dies": its plugin is dropped; then the container dies with no hook run.
    await c.kill();
    assert.ok((await conf()).includes(`#START:${c.id}`));
    const restarted = plugin();
    const next = await create({ type: 'nat' }, 'next');
    await start(restarted, next);
    assert.equal(await conf(), HOST_LINES);
    assert.ok(!(await net.inHost(['iptables-save'])).includes(`dobby-net:${c.id}`));
    await next.stop(restarted);
    assert.equal(await net.snapshot(), before);
  });
});
