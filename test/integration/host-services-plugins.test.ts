// appservicesrdk and thunder end to end: dobbyd with the networking plugin (its "host" a test
// namespace). appservicesrdk: a nat bundle asking for Dobby's local-services-1 set menu and an
// additional port reaches the host loopback services of those ports at the bridge address and at its
// own localhost, and no other host port; stop, a crash of the container and a failed start leave the
// host as before; a second driver (a restarted daemon) removes rules it did not make. thunder: the
// host's 127.0.0.1:9998 at the bridge address and THUNDER_ACCESS naming it, no other port; without
// nat THUNDER_ACCESS is localhost and no rule is made. Bad data names the field. The range is not
// Dobby's (as settings network.addressRange may give): the bridge address comes from it (for
// httpproxy's ignoreProxyOnBridge too).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { filter, firstValueFrom, timeout } from 'rxjs';
import { parseDaemonArgs } from '../../src/daemon-options.ts';
import { startDaemon, type Daemon } from '../../src/daemon.ts';
import { HostServiceAccess } from '../../src/drivers/ports/host-service-access.ts';
import { silentLogger } from '../../src/log.ts';
import { createNetworkingPlugin } from '../../src/plugins/networking/plugin.ts';
import { HookHint, type DobbyPlugin } from '../../src/plugins/types.ts';
import { makeBundle, writeConfig } from '../helpers/bundle.ts';
import { containerEnviron } from '../helpers/container-environ.ts';
import { HOST_EXT_IFACE, makeTestNetwork } from '../helpers/netns.ts';
import { makeScratch } from '../helpers/scratch.ts';

const scratch = makeScratch();
const net = await makeTestNetwork();
const plugin = createNetworkingPlugin({
  stateDir: join(scratch.dir, 'daemon', 'network'), hostNetns: net.hostNs, bridgeName: `dab${net.tag}`, externalInterfaces: [HOST_EXT_IFACE],
  addressRange: '100.64.78.0/24',
});
const options = parseDaemonArgs(['--state-dir', join(scratch.dir, 'daemon'), '--skip-host-check', '--stop-grace', '1'], {}, 2);
assert.ok(options !== 'help');
/** A plugin of the test's whose preStart fails: it runs after appservicesrdk (Dobby orders unknown plugins last). */
const failing: DobbyPlugin = { name: 'failprestart', hookHints: HookHint.PreStartSync, preStart: () => false };
const daemon: Daemon = await startDaemon(options, silentLogger(), { plugins: [plugin, failing], portsHostNetns: net.hostNs });
after(() => daemon.close());

const NAT = { required: true, data: { type: 'nat', ipv4: true } };

async function bundleWith(id: string, rdkPlugins: Record<string, unknown>): Promise<string> {
  const args = ['/bin/sleep', '1000'];
  const bundle = await makeBundle(join(scratch.bundlesDir, id), { args, init: true });
  await writeConfig(bundle, { args, init: true }, (config) => {
    config['ociVersion'] = '1.0.2-dobby';
    config['rdkPlugins'] = rdkPlugins;
  });
  return bundle;
}

function gone(id: string): Promise<unknown> {
  return firstValueFrom(daemon.manager.events$.pipe(filter((e) => e.id === id && e.type === 'deleted'), timeout(30_000)));
}

describe('appservicesrdk through dobbyd and the networking plugin', { concurrency: 1, timeout: 180_000 }, () => {
  test('local-services-1 and an additional port reach the host loopback, at the bridge and at localhost; no other port; Stop undoes it', async () => {
    const before = await net.snapshot();
    const id = scratch.id('as');
    const bundle = await bundleWith(id, { networking: NAT, appservicesrdk: { required: true, dependsOn: ['networking'], data: { setMenu: 'sky-LOCAL-services-1', additionalPorts: [7401, 7401, 100] } } });
    const descriptor = await daemon.manager.start({ id, bundle });
    const pid = daemon.manager.get(descriptor)?.pid as number;
    const network = plugin.addressOf(id);
    assert.ok(network !== null && network.ipv4 !== null && network.bridgeIpv4 !== null);
    for (const port of [9001, 8008, 7401, 7402]) await net.serve(net.hostNs, '127.0.0.1', port);
    for (const port of [9001, 8008, 7401]) {
      assert.equal(await net.connect(pid, network.bridgeIpv4, port), `OK ${network.ipv4}`, `bridge:${port}`);
      assert.equal(await net.connect(pid, '127.0.0.1', port), `OK ${network.ipv4}`, `localhost:${port}`);
    }
    // A host loopback service on a port the plugin did not open is not reached.
    assert.match(await net.connect(pid, network.bridgeIpv4, 7402, undefined, 2000), /^ERR /);
    assert.match(await net.connect(pid, '127.0.0.1', 7402, undefined, 2000), /^ERR /);

    const deleted = gone(id);
    await daemon.manager.stop(descriptor, false);
    await deleted;
    assert.equal(await net.snapshot(), before);
  });

  test('a container that dies and a start that fails after the rules were made leave nothing', async () => {
    const before = await net.snapshot();
    const id = scratch.id('as-crash');
    const bundle = await bundleWith(id, { networking: NAT, appservicesrdk: { required: true, dependsOn: ['networking'], data: { additionalPorts: [7403] } } });
    const descriptor = await daemon.manager.start({ id, bundle });
    const pid = daemon.manager.get(descriptor)?.pid as number;
    assert.match(await net.inHost(['iptables-save']), new RegExp(`dobby-as container=${id}`));
    const deleted = gone(id);
    process.kill(pid, 'SIGKILL');
    await deleted;
    assert.equal(await net.snapshot(), before);

    const failed = scratch.id('as-fail');
    const failingBundle = await bundleWith(failed, {
      networking: NAT, appservicesrdk: { required: true, dependsOn: ['networking'], data: { additionalPorts: [7404] } }, failprestart: { required: true, data: {} },
    });
    const ran: string[] = [];
    const sub = daemon.manager.events$.subscribe((e) => {
      const h = e as { id?: string; type: string; plugin?: string; hook?: string; ok?: boolean };
      if (h.id === failed && h.type === 'hook') ran.push(`${h.plugin}:${h.hook}:${h.ok}`);
    });
    await assert.rejects(daemon.manager.start({ id: failed, bundle: failingBundle }), /failprestart/);
    sub.unsubscribe();
    assert.ok(ran.includes('appservicesrdk:preStart:true'), `appservicesrdk's preStart did not run before the failure: ${ran.join(', ')}`);
    assert.ok(ran.includes('appservicesrdk:postStop:true') || ran.includes('appservicesrdk:preDestruction:true'), ran.join(', '));
    assert.equal(await net.snapshot(), before);

    // Without dependsOn appservicesrdk runs before networking (Dobby's order): a clear error, nothing made.
    const early = scratch.id('as-order');
    const earlyBundle = await bundleWith(early, { networking: NAT, appservicesrdk: { required: true, data: { additionalPorts: [7404] } } });
    await assert.rejects(daemon.manager.start({ id: early, bundle: earlyBundle }), /appservicesrdk needs the networking plugin's nat network .*"dependsOn": \["networking"\]/);
    assert.equal(await net.snapshot(), before);
  });

  test('rules made by another daemon are removed from the rules alone (a daemon restarted after a crash)', async () => {
    const before = await net.snapshot();
    const id = scratch.id('as-restart');
    const bundle = await bundleWith(id, { networking: NAT });
    const descriptor = await daemon.manager.start({ id, bundle });
    const network = plugin.addressOf(id)!;
    const first = new HostServiceAccess({ tag: 'AS', hostNetns: net.hostNs });
    await first.open({ id, netnsPath: network.netnsPath, ipv4: network.ipv4!, bridgeIpv4: network.bridgeIpv4!, containerInterface: network.containerInterface }, [7405], true);
    assert.match(await net.inHost(['iptables-save']), new RegExp(`dobby-as container=${id}`));
    await new HostServiceAccess({ tag: 'AS', hostNetns: net.hostNs }).close(id);
    assert.doesNotMatch(await net.inHost(['iptables-save']), new RegExp(`dobby-as container=${id}|${first.chainOf(id)}`));
    const deleted = gone(id);
    await daemon.manager.stop(descriptor, false);
    await deleted;
    assert.equal(await net.snapshot(), before);
  });

  test('bad data fails the start naming the field; nothing is left', async () => {
    const before = await net.snapshot();
    for (const [i, [data, field]] of ([
      [{ setMenu: 'local-services-6' }, /appservicesrdk\.data\.setMenu is "local-services-6"; it must end in local-services-1 to local-services-5/],
      [{ additionalPorts: [70000] }, /appservicesrdk\.data\.additionalPorts\[0\] is 70000; it must be a TCP port/],
      [{ additionalPorts: 7401 }, /appservicesrdk\.data\.additionalPorts is 7401; it must be an array/],
      [null, /appservicesrdk\.data is missing/],
    ] as const).entries()) {
      const id = scratch.id(`as-bad${i}`);
      const bundle = await bundleWith(id, { networking: NAT, appservicesrdk: { required: false, dependsOn: ['networking'], data } });
      await assert.rejects(daemon.manager.start({ id, bundle }), field);
    }
    assert.equal(await net.snapshot(), before);
  });
});

/**
 * The container init's environment, as the host sees it, once it runs the bundle's program: until
 * then the pid is the runtime's own (crun) waiting to exec it, with crun's environment.
 */
describe('thunder through dobbyd and the networking plugin', { concurrency: 1, timeout: 180_000 }, () => {
  test('nat: the host\'s Thunder port at the bridge address, THUNDER_ACCESS names it, no other host port; Stop and a crash undo it', async () => {
    const before = await net.snapshot();
    for (const crash of [false, true]) {
      const id = scratch.id(crash ? 'thunder-crash' : 'thunder');
      const bundle = await bundleWith(id, {
        networking: NAT, thunder: { required: true, data: { connLimit: 16 } },
        httpproxy: { required: true, data: { proxy: { host: 'proxy.test', port: 3128 }, ignoreProxyOnBridge: true, ignoreProxy: ['localhost'] } },
      });
      const descriptor = await daemon.manager.start({ id, bundle });
      const pid = daemon.manager.get(descriptor)?.pid as number;
      const network = plugin.addressOf(id);
      assert.ok(network !== null && network.ipv4 !== null && network.bridgeIpv4 !== null);
      const env = await containerEnviron(pid);
      assert.equal(network.bridgeIpv4, '100.64.78.1');
      assert.equal(env.get('THUNDER_ACCESS'), `${network.bridgeIpv4}:9998`, JSON.stringify([...env]));
      assert.equal(env.get('no_proxy'), '100.64.78.1,localhost', 'httpproxy\'s ignoreProxyOnBridge names the bridge of this range');
      if (!crash) {
        for (const port of [9998, 9997]) await net.serve(net.hostNs, '127.0.0.1', port);
      }
      assert.equal(await net.connect(pid, network.bridgeIpv4, 9998), `OK ${network.ipv4}`);
      assert.match(await net.connect(pid, network.bridgeIpv4, 9997, undefined, 2000), /^ERR /);
      assert.match(await net.connect(pid, '127.0.0.1', 9998, undefined, 2000), /^ERR /, 'thunder opens no localhost forwarding inside');
      assert.match(await net.inHost(['iptables-save']), new RegExp(`dobby-thunder container=${id}`));
      const deleted = gone(id);
      if (crash) process.kill(pid, 'SIGKILL');
      else await daemon.manager.stop(descriptor, false);
      await deleted;
      assert.equal(await net.snapshot(), before);
    }
  });

  test('without nat networking: THUNDER_ACCESS is the container\'s localhost and no rule is made; bad data names the field', async () => {
    const before = await net.snapshot();
    const id = scratch.id('thunder-host');
    const bundle = await bundleWith(id, { thunder: { data: { trusted: true, bearerUrl: 'http://localhost/token' } } });
    const descriptor = await daemon.manager.start({ id, bundle });
    const env = await containerEnviron(daemon.manager.get(descriptor)?.pid as number);
    assert.equal(env.get('THUNDER_ACCESS'), '127.0.0.1:9998', JSON.stringify([...env]));
    assert.equal(await net.snapshot(), before);
    const deleted = gone(id);
    await daemon.manager.stop(descriptor, false);
    await deleted;

    for (const [i, [data, field]] of ([
      [{ trusted: 'yes' }, /thunder\.data\.trusted is "yes"; it must be true or false/],
      [{ bearerUrl: 5 }, /thunder\.data\.bearerUrl is 5; it must be a string/],
      [[], /thunder\.data is an array; it must be an object/],
    ] as const).entries()) {
      const bad = scratch.id(`thunder-bad${i}`);
      await assert.rejects(daemon.manager.start({ id: bad, bundle: await bundleWith(bad, { networking: NAT, thunder: { data } }) }), field);
    }
    assert.equal(await net.snapshot(), before);
  });
});
