// nat networking through the daemon: startDaemon with the networking plugin (its "host" a namespace
// of the test), a bundle whose rdkPlugins ask for nat, the manager's own hooks around crun and
// conmon. The container reaches the external host through masquerade; a start that fails half-way
// through network set-up (required plugin) leaves nothing; after the stops the host is as before.

import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { filter, firstValueFrom, timeout } from 'rxjs';
import { parseDaemonArgs } from '../../src/daemon-options.ts';
import { startDaemon, type Daemon } from '../../src/daemon.ts';
import { Iptables } from '../../src/drivers/network/firewall.ts';
import { faultyIp } from '../../src/drivers/network/faulty.ts';
import { IpCommands } from '../../src/drivers/network/ip.ts';
import { SpawnNetExec } from '../../src/drivers/network/net-exec.ts';
import { SysctlCommand } from '../../src/drivers/network/sysctl.ts';
import { silentLogger } from '../../src/log.ts';
import { createNetworkingPlugin, type NetworkingPlugin } from '../../src/plugins/networking/plugin.ts';
import { makeBundle, writeConfig } from '../helpers/bundle.ts';
import { EXT_ADDR4, HOST_ADDR4, HOST_EXT_IFACE, makeTestNetwork } from '../helpers/netns.ts';
import { makeScratch } from '../helpers/scratch.ts';

const scratch = makeScratch();
const net = await makeTestNetwork();
let failNext = false;

function networking(): NetworkingPlugin {
  const exec = new SpawnNetExec({ hostNetns: net.hostNs });
  return createNetworkingPlugin({
    stateDir: join(scratch.dir, 'daemon', 'network'), hostNetns: net.hostNs, bridgeName: 'dtbr1', externalInterfaces: [HOST_EXT_IFACE],
    drivers: {
      exec,
      ip: faultyIp(new IpCommands(exec), { ip: (t) => t.kind === 'pid' && failNext }),
      firewall: new Iptables(exec),
      sysctl: new SysctlCommand(exec),
    },
  });
}

const plugin = networking();
const options = parseDaemonArgs(['--state-dir', join(scratch.dir, 'daemon'), '--skip-host-check', '--stop-grace', '1'], {}, 2);
assert.ok(options !== 'help');
const daemon: Daemon = await startDaemon(options, silentLogger(), { plugins: [plugin] });
after(() => daemon.close());

/** A nat bundle; `network` replaces its network namespace entry (null: none at all). */
async function natBundle(id: string, required: boolean, network: Record<string, unknown> | null = { type: 'network' }): Promise<string> {
  const bundle = await makeBundle(join(scratch.bundlesDir, id), { args: ['/bin/sleep', '1000'], init: true });
  await writeConfig(bundle, { args: ['/bin/sleep', '1000'], init: true }, (config) => {
    config['rdkPlugins'] = { networking: { required, data: { type: 'nat', ipv4: true } } };
    const linux = config['linux'] as { namespaces: Record<string, unknown>[] };
    linux.namespaces = [...linux.namespaces.filter((n) => n['type'] !== 'network'), ...(network === null ? [] : [network])];
  });
  return bundle;
}

function deleted(id: string): Promise<unknown> {
  return firstValueFrom(daemon.manager.events$.pipe(filter((e) => e.id === id && e.type === 'deleted'), timeout(20_000)));
}

describe('nat networking through the daemon', { concurrency: 1 }, () => {
  test('the daemon uses the embedder\'s networking plugin instead of its built-in one', () => {
    assert.equal(daemon.plugins.get('networking'), plugin);
  });

  test('a nat bundle reaches the external host through masquerade; Stop takes the network down', async () => {
    const before = await net.snapshot();
    const id = scratch.id('dnat');
    const gone = deleted(id);
    const descriptor = await daemon.manager.start({ id, bundle: await natBundle(id, true) });
    const n = plugin.addressOf(id);
    assert.ok(n !== null && n.ipv4 !== null);
    const pid = daemon.manager.get(descriptor)?.pid;
    assert.equal(n.netnsPath, `/proc/${pid}/ns/net`);
    await net.serve(net.extNs, '0.0.0.0', 7500);
    assert.equal(await net.connect(pid as number, EXT_ADDR4, 7500), `OK ${HOST_ADDR4}`);
    await daemon.manager.stop(descriptor, false);
    await gone;
    assert.equal(plugin.addressOf(id), null);
    assert.equal(await net.snapshot(), before);
  });

  test('a nat bundle without a network namespace gets one (and the host\'s resolv.conf), even when the plugin is not required', async () => {
    const before = await net.snapshot();
    const id = scratch.id('dnons');
    const gone = deleted(id);
    const descriptor = await daemon.manager.start({ id, bundle: await natBundle(id, false, null) });
    const pid = daemon.manager.get(descriptor)?.pid as number;
    assert.notEqual(statSync(`/proc/${pid}/ns/net`).ino, statSync('/proc/self/ns/net').ino, 'the container shares the daemon\'s network namespace');
    assert.ok(plugin.addressOf(id)?.ipv4 !== null);
    await net.serve(net.extNs, '0.0.0.0', 7501);
    assert.equal(await net.connect(pid, EXT_ADDR4, 7501), `OK ${HOST_ADDR4}`);
    assert.equal(readFileSync(`/proc/${pid}/root/etc/resolv.conf`, 'utf8'), readFileSync('/etc/resolv.conf', 'utf8'));
    await daemon.manager.stop(descriptor, false);
    await gone;
    assert.equal(await net.snapshot(), before);
  });

  test('a nat bundle that joins the host\'s network namespace fails its start, even when the plugin is not required', async () => {
    const before = await net.snapshot();
    const id = scratch.id('dhostns');
    await assert.rejects(
      daemon.manager.start({ id, bundle: await natBundle(id, false, { type: 'network', path: `/run/netns/${net.hostNs}` }) }),
      /shares the host's network namespace/,
    );
    assert.equal(plugin.addressOf(id), null);
    assert.equal(await net.snapshot(), before);
  });

  test('a required networking plugin failing half-way fails the start and leaves nothing', async () => {
    const before = await net.snapshot();
    const id = scratch.id('dfail');
    failNext = true;
    try {
      await assert.rejects(daemon.manager.start({ id, bundle: await natBundle(id, true) }), /injected fault/);
    } finally {
      failNext = false;
    }
    assert.equal(plugin.addressOf(id), null);
    assert.equal(await net.snapshot(), before);
  });
});
