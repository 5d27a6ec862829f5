// portForwarding end to end: dobbyd with the networking plugin (its "host" a test namespace), a nat bundle
// asking for hostToContainer and containerToHost ports, traffic from the test's external namespace with its
// source address kept, then Stop: the ports, the rules and the network gone, the host as before.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { filter, firstValueFrom, timeout } from 'rxjs';
import type { PortEvent } from '../../src/actors/port-actor.ts';
import { parseDaemonArgs } from '../../src/daemon-options.ts';
import { startDaemon, type Daemon } from '../../src/daemon.ts';
import { silentLogger } from '../../src/log.ts';
import { createNetworkingPlugin } from '../../src/plugins/networking/plugin.ts';
import { makeBundle, writeConfig } from '../helpers/bundle.ts';
import { EXT_ADDR4, HOST_ADDR4, HOST_EXT_IFACE, makeTestNetwork } from '../helpers/netns.ts';
import { makeScratch } from '../helpers/scratch.ts';

const scratch = makeScratch();
const net = await makeTestNetwork();
const plugin = createNetworkingPlugin({
  stateDir: join(scratch.dir, 'daemon', 'network'), hostNetns: net.hostNs, bridgeName: `dpb${net.tag}`, externalInterfaces: [HOST_EXT_IFACE],
});
const options = parseDaemonArgs(['--state-dir', join(scratch.dir, 'daemon'), '--skip-host-check', '--stop-grace', '1'], {}, 2);
assert.ok(options !== 'help');
const daemon: Daemon = await startDaemon(options, silentLogger(), { plugins: [plugin], portsHostNetns: net.hostNs });
after(() => daemon.close());

describe('portForwarding through the networking plugin and the port manager', { timeout: 120_000 }, () => {
  test('hostToContainer reaches the container with the client address kept; containerToHost reaches the host loopback; Stop undoes both', async () => {
    const before = await net.snapshot();
    const id = scratch.id('pf');
    const args = ['/bin/sleep', '1000'];
    const bundle = await makeBundle(join(scratch.bundlesDir, id), { args, init: true });
    await writeConfig(bundle, { args, init: true }, (config) => {
      config['rdkPlugins'] = {
        networking: {
          required: true,
          data: {
            type: 'nat', ipv4: true,
            portForwarding: { hostToContainer: [{ port: 7301, protocol: 'tcp' }], containerToHost: [{ port: 7302, protocol: 'tcp' }], localhostMasquerade: true },
          },
        },
      };
    });
    const applied = firstValueFrom(daemon.ports.events$.pipe(filter((e: PortEvent) => e.type === 'forwarding.applied' && e.containerId === id), timeout(20_000)));
    const descriptor = await daemon.manager.start({ id, bundle });
    await applied;
    const pid = daemon.manager.get(descriptor)?.pid as number;
    const network = plugin.addressOf(id);
    assert.ok(network !== null && network.ipv4 !== null && network.bridgeIpv4 !== null);
    assert.deepEqual(daemon.ports.listPorts().map((p) => [p.spec.parentPort, p.spec.childPort, p.driver]), [[7301, 7301, 'nat']]);

    // Host → container: the external client's own address arrives.
    await net.serve(pid, '0.0.0.0', 7301);
    assert.equal(await net.connect(net.extNs, HOST_ADDR4, 7301), `OK ${EXT_ADDR4}`);
    // Container → a service on the host's loopback, at the bridge address and at its own localhost.
    await net.serve(net.hostNs, '127.0.0.1', 7302);
    assert.equal(await net.connect(pid, network.bridgeIpv4, 7302), `OK ${network.ipv4}`);
    assert.equal(await net.connect(pid, '127.0.0.1', 7302), `OK ${network.ipv4}`);

    const gone = firstValueFrom(daemon.manager.events$.pipe(filter((e) => e.id === id && e.type === 'deleted'), timeout(20_000)));
    await daemon.manager.stop(descriptor, false);
    await gone;
    const end = Date.now() + 10_000;
    while (daemon.ports.listPorts().length > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(daemon.ports.listPorts(), []);
    assert.equal(await net.snapshot(), before);
  });
});
