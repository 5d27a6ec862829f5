// multicastForwarding through the daemon: startDaemon with the networking plugin (its "host" a
// namespace of the test, its smcroute a private smcrouted there), Dobby-format bundles whose
// rdkPlugins.networking.data names a group, the manager's own hooks around crun and conmon. The
// container gets its block and its datagrams; Stop takes it all; with smcrouted gone a required
// plugin fails the start naming it and leaves nothing, a plugin that is not required lets the
// container start without a network, as for any other failure of it.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { filter, firstValueFrom, timeout } from 'rxjs';
import { parseDaemonArgs } from '../../src/daemon-options.ts';
import { startDaemon, type Daemon } from '../../src/daemon.ts';
import { silentLogger } from '../../src/log.ts';
import { createNetworkingPlugin } from '../../src/plugins/networking/plugin.ts';
import { makeBundle, writeConfig } from '../helpers/bundle.ts';
import { multicastKit } from '../helpers/multicast-forwarding.ts';
import { HOST_EXT_IFACE, makeTestNetwork } from '../helpers/netns.ts';
import { makeScratch } from '../helpers/scratch.ts';

const scratch = makeScratch();
const net = await makeTestNetwork();
const kit = multicastKit();
after(() => kit.cleanup());
// The host's mangle table, as a host has it (iptables-nft cannot remove one made on first use).
await net.inHost(['iptables', '-t', 'mangle', '-A', 'PREROUTING', '-d', '198.51.100.9', '-m', 'comment', '--comment', 'someone else', '-j', 'RETURN']);
const HOST_LINES = 'phyint ext0 enable\n';
const smcrouted = await kit.smcrouted(net.hostNs, `dtmd-${net.tag}`, HOST_LINES);
const BRIDGE = 'dtbr2';
const GROUP = '239.7.7.7';
const PORT = 7700;

const plugin = createNetworkingPlugin({
  stateDir: join(scratch.dir, 'daemon', 'network'), hostNetns: net.hostNs, bridgeName: BRIDGE, externalInterfaces: [HOST_EXT_IFACE],
  smcroute: { configFile: smcrouted.configFile, identity: smcrouted.identity },
});
const options = parseDaemonArgs(['--state-dir', join(scratch.dir, 'daemon'), '--skip-host-check', '--stop-grace', '1'], {}, 2);
assert.ok(options !== 'help');
const daemon: Daemon = await startDaemon(options, silentLogger(), { plugins: [plugin] });
after(() => daemon.close());

async function bundle(id: string, required: boolean): Promise<string> {
  const path = await makeBundle(join(scratch.bundlesDir, id), { args: ['/bin/sleep', '1000'], init: true });
  await writeConfig(path, { args: ['/bin/sleep', '1000'], init: true }, (config) => {
    config['rdkPlugins'] = { networking: { required, data: { type: 'nat', ipv4: true, multicastForwarding: [{ ip: GROUP, port: PORT }] } } };
  });
  return path;
}

function deleted(id: string): Promise<unknown> {
  return firstValueFrom(daemon.manager.events$.pipe(filter((e) => e.id === id && e.type === 'deleted'), timeout(20_000)));
}

const conf = (): Promise<string> => readFile(smcrouted.configFile, 'utf8');

describe('multicastForwarding through the daemon', { concurrency: 1 }, () => {
  test('a Dobby bundle\'s group: its block and rules while it runs, the group\'s datagrams reach it; Stop takes it all', async () => {
    const before = await net.snapshot();
    const id = scratch.id('dmc');
    const gone = deleted(id);
    const descriptor = await daemon.manager.start({ id, bundle: await bundle(id, true) });
    const n = plugin.addressOf(id);
    assert.ok(n !== null && n.ipv4 !== null && n.bridgeIpv4 !== null);
    assert.equal(await conf(), `${HOST_LINES}#START:${id}\nmroute from ${HOST_EXT_IFACE} group ${GROUP} to ${BRIDGE}\nmroute from lo group ${GROUP} to ${BRIDGE}\n#END:${id}\n`);
    assert.match(await net.inHost(['iptables-save', '-t', 'mangle']), new RegExp(`-A DOBBY-NET-MCAST -d ${GROUP}/32 ! -i ${BRIDGE} -p udp -m udp --dport ${PORT} -m comment --comment "?dobby-net:${id}"? -j TTL --ttl-inc 1`));
    const pid = daemon.manager.get(descriptor)?.pid as number;
    const rx = await kit.receive(pid, n.ipv4, [GROUP], [PORT]);
    let arrived = false;
    for (let i = 0; i < 100 && !arrived; i++) {
      await kit.send(net.hostNs, n.bridgeIpv4, [{ group: GROUP, port: PORT, text: 'hello' }]);
      await sleep(50);
      arrived = rx.got(PORT).includes('hello');
    }
    assert.ok(arrived, 'the group\'s datagram sent on the bridge never reached the container');
    await rx.stop();
    await daemon.manager.stop(descriptor, false);
    await gone;
    assert.equal(plugin.addressOf(id), null);
    assert.equal(await conf(), HOST_LINES);
    assert.equal(await net.snapshot(), before);
  });

  test('smcrouted gone: a required plugin fails the start naming it and leaves nothing; one not required lets the container run without a network', async () => {
    await smcrouted.stop();
    const before = await net.snapshot();
    const id = scratch.id('dmcreq');
    await assert.rejects(daemon.manager.start({ id, bundle: await bundle(id, true) }), /multicastForwarding needs a running smcrouted.*start smcrouted reading/);
    assert.equal(plugin.addressOf(id), null);
    assert.equal(await conf(), HOST_LINES);
    assert.equal(await net.snapshot(), before);

    const optional = scratch.id('dmcopt');
    const gone = deleted(optional);
    const descriptor = await daemon.manager.start({ id: optional, bundle: await bundle(optional, false) });
    assert.equal(plugin.addressOf(optional), null);
    assert.equal(await net.snapshot(), before);
    await daemon.manager.stop(descriptor, false);
    await gone;
    assert.equal(await conf(), HOST_LINES);
    assert.equal(await net.snapshot(), before);
  });
});
