// MulticastSockets through the whole daemon: StartFromBundle over D-Bus with the plugin in the
// bundle's legacyPlugins, the real manager, its hooks, crun and conmon, all inside a private
// network namespace. The container
// gets a host datagram through its server fd and answers through its client fd; after Stop the
// daemon holds no socket; bad plugin data fails the start with nothing left.

import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdir, readdir, readlink, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { filter, firstValueFrom, ReplaySubject, timeout } from 'rxjs';
import type { LifecycleEvent, LifecycleEventType } from '../../src/bus.ts';
import { CONTAINER_INIT, realCgroupProbe } from '../../src/daemon.ts';
import { SpecBundles } from '../../src/drivers/bundles/spec-bundles.ts';
import { FileContainerRecords } from '../../src/drivers/records/container-records.ts';
import { OciCliRuntime } from '../../src/drivers/runtime/oci-cli-runtime.ts';
import { silentLogger } from '../../src/log.ts';
import { createContainerManager } from '../../src/manager.ts';
import { createMulticastSocketsPlugin } from '../../src/plugins/multicast-sockets.ts';
import { PluginRegistry } from '../../src/plugins/registry.ts';
import { call, serve, testBus, type TestBus } from '../api/harness.ts';
import { makeBundle, writeConfig, type BundleOptions } from '../helpers/bundle.ts';
import { realMonitor } from '../helpers/manager.ts';
import { makeScratch } from '../helpers/scratch.ts';
import { multicastNetnsHere, testInOwnNetns } from '../drivers/multicast-netns.ts';

const GROUP_IN = { ip: '239.30.0.1', port: 17001 };
const GROUP_OUT = { ip: '239.30.0.2', port: 17002 };

async function openSockets(): Promise<Set<string>> {
  const links = await Promise.all((await readdir('/proc/self/fd')).map((n) => readlink(`/proc/self/fd/${n}`).catch(() => '')));
  return new Set(links.filter((l) => l.startsWith('socket:')));
}

/**
 * A busybox bundle under tini that names MulticastSockets in legacyPlugins, with the host's /usr
 * read-only inside (and Debian's merged-/usr lib links) so python3 can send through an fd.
 */
async function pluginBundle(dir: string, args: string[], pluginName: string, data: unknown): Promise<string> {
  const options: BundleOptions = { args, init: true };
  const bundle = await makeBundle(dir, options);
  const rootfs = join(bundle, 'rootfs');
  await mkdir(join(rootfs, 'usr'));
  await symlink('usr/lib', join(rootfs, 'lib'));
  await symlink('usr/lib64', join(rootfs, 'lib64'));
  await writeConfig(bundle, options, (config) => {
    (config['mounts'] as unknown[]).push({ destination: '/usr', type: 'bind', source: '/usr', options: ['rbind', 'ro', 'nosuid', 'nodev'] });
    config['legacyPlugins'] = { [pluginName]: { required: true, data } };
  });
  return bundle;
}

interface DaemonEnv {
  readonly scratch: ReturnType<typeof makeScratch>;
  readonly plugin: ReturnType<typeof createMulticastSocketsPlugin>;
  readonly manager: ReturnType<typeof createContainerManager>;
  readonly runtime: OciCliRuntime;
  readonly address: string;
  next(id: string, type: LifecycleEventType): Promise<LifecycleEvent>;
}

const cases: [string, (env: DaemonEnv) => Promise<void>][] = [];
const inner = (name: string, fn: (env: DaemonEnv) => Promise<void>): void => void cases.push([name, fn]);

inner('StartFromBundle with MulticastSockets: a datagram in through the server fd, one out through the client fd; Stop closes the sockets', async ({ scratch, plugin, manager, address, next }) => {
  const id = scratch.id('mcast');
  const script = [
    'eval "dd bs=2048 count=1 <&$MCAST_SERVER_SOCKET_SSDP_FD" > /tmp/got 2>/dev/null',
    `/usr/bin/python3 -c 'import os, socket; s = socket.socket(fileno=int(os.environ["MCAST_CLIENT_SOCKET_SSDP_FD"])); s.sendto(b"reply to " + open("/tmp/got", "rb").read(), ("${GROUP_OUT.ip}", ${GROUP_OUT.port}))'`,
    'exec sleep 1000',
  ].join('\n');
  const data = { serverSockets: [{ name: 'SSDP', ...GROUP_IN }], clientSockets: [{ name: 'SSDP' }] };
  const listener = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const tx = dgram.createSocket('udp4');
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve) => listener.bind(GROUP_OUT.port, GROUP_OUT.ip, resolve));
    listener.addMembership(GROUP_OUT.ip);
    await new Promise<void>((resolve) => tx.bind(0, resolve)); // its kernel socket exists before the count below
    const reply = new Promise<[string, dgram.RemoteInfo]>((resolve) => listener.once('message', (m, r) => resolve([m.toString(), r])));
    const before = await openSockets();

    const bundle = await pluginBundle(join(scratch.bundlesDir, id), ['/bin/sh', '-c', script], 'MulticastSockets', data);
    const answer = await call(address, 'ctrl1', 'StartFromBundle', 'ssah', id, bundle, '0');
    const cd = Number(/^i (\d+)$/.exec(answer)?.[1]);
    assert.ok(cd > 0, answer);
    const passed = plugin.passed(id);
    assert.deepEqual(passed.map((p) => `${p.env}=${p.containerFd}`), ['MCAST_SERVER_SOCKET_SSDP_FD=3', 'MCAST_CLIENT_SOCKET_SSDP_FD=4']);
    const pluginSockets = await Promise.all(passed.map((p) => readlink(`/proc/self/fd/${p.socket.fd}`)));
    const pid = manager.get(cd)?.pid;
    assert.ok(typeof pid === 'number');
    // The container's fds 3 and 4 are the very sockets the plugin made.
    assert.deepEqual(await Promise.all([3, 4].map((n) => readlink(`/proc/${pid}/fd/${n}`).catch(() => 'not open'))), pluginSockets);

    await new Promise<void>((resolve, reject) => tx.send('hello from the host', GROUP_IN.port, GROUP_IN.ip, (err) => (err ? reject(err) : resolve())));
    const [text, from] = await Promise.race([
      reply,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('no datagram from the container within 10 s')), 10_000))),
    ]);
    assert.equal(text, 'reply to hello from the host');
    assert.equal(from.port, passed[1]!.socket.local.port);

    const report = manager.get(cd)?.plugins;
    assert.deepEqual(report?.map((p) => [p.name, p.kind, p.hooks.map((h) => [h.hook, h.mode, h.ok])]),
      [['MulticastSockets', 'legacy', [['postConstruction', 'sync', true]]]]);

    assert.equal(await call(address, 'ctrl1', 'Stop', 'ib', String(cd), 'false'), 'b true');
    await next(id, 'deleted');
    assert.deepEqual(plugin.passed(id), []);
    const left = await openSockets();
    for (const link of pluginSockets) assert.ok(!left.has(link), `${link} still open in the daemon after the stop`);
    assert.deepEqual([...left].filter((l) => !before.has(l)), [], 'the start left sockets open in the daemon');
  } finally {
    clearTimeout(timer);
    listener.close();
    tx.close();
  }
});

inner('bad MulticastSockets data fails StartFromBundle (-1), named in start-failed; no container, no socket left', async ({ scratch, manager, runtime, address, next }) => {
  const id = scratch.id('mcast-bad');
  const before = await openSockets();
  const bad = { serverSockets: [{ name: 'ok', ...GROUP_IN }], clientSockets: [{ name: 'dup' }, { name: 'dup' }] };
  const bundle = await pluginBundle(join(scratch.bundlesDir, id), ['/bin/true'], 'multicastsockets', bad);
  const answer = await call(address, 'ctrl1', 'StartFromBundle', 'ssah', id, bundle, '0');
  assert.equal(answer, 'i -1');
  const failed = await next(id, 'start-failed');
  assert.match(JSON.stringify(failed), /clientSockets\[1\]\.name \\"dup\\" is already the name of clientSockets\[0\]/);
  await next(id, 'deleted');
  assert.equal(manager.findById(id), undefined);
  assert.equal(await runtime.state(id), null);
  assert.deepEqual([...(await openSockets())].filter((l) => !before.has(l)), []);
});


if (multicastNetnsHere() !== null) {
  const scratch = makeScratch();
  const { runtime, monitor } = realMonitor(scratch);
  const plugin = createMulticastSocketsPlugin();
  const plugins = new PluginRegistry();
  plugins.register(plugin);
  const manager = createContainerManager({
    runtime, monitor, cgroups: realCgroupProbe, plugins,
    records: new FileContainerRecords(join(scratch.dir, 'daemon', 'containers')),
    specBundles: new SpecBundles({ dir: join(scratch.dir, 'spec-bundles'), initPath: CONTAINER_INIT }),
    logger: silentLogger(),
    stateDir: join(scratch.dir, 'daemon'),
    stopGraceMs: 2_000,
  });
  const events = new ReplaySubject<LifecycleEvent>();
  const subscription = manager.events$.subscribe(events);
  const next = (id: string, type: LifecycleEventType): Promise<LifecycleEvent> =>
    firstValueFrom(events.pipe(filter((e) => e.id === id && e.type === type), timeout(20_000)));
  let bus: TestBus | undefined;
  let address = '';

  before(async () => {
    bus = await testBus();
    address = bus.address;
    await serve({ manager, address });
  });
  after(async () => {
    await bus?.stop();
    await manager.shutdown({ force: true, timeoutMs: 20_000 });
    subscription.unsubscribe();
    manager.close();
    monitor.close();
  });

  describe('MulticastSockets through the daemon (in its network namespace)', () => {
    for (const [name, fn] of cases) test(name, () => fn({ scratch, plugin, manager, runtime, address, next }));
  });
} else {
  testInOwnNetns('MulticastSockets through the daemon, inside a private network namespace', fileURLToPath(import.meta.url), cases.length, 180_000);
}
