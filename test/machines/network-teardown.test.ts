// The manager with the real networking plugin over fake drivers slower than the hook time limit: a
// container is reported deleted only once its network is gone (the nat teardown is awaited past the
// limit), whether its set-up ran past the limit or it ran and was stopped.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { filter, firstValueFrom } from 'rxjs';
import type { CgroupProbe } from '../../src/actors/container-actors.ts';
import { createFakes } from '../../src/drivers/monitor/fake-monitor.ts';
import { FakeFirewall } from '../../src/drivers/network/fake-firewall.ts';
import { FakeIp } from '../../src/drivers/network/fake-ip.ts';
import { FakeSysctl } from '../../src/drivers/network/sysctl.ts';
import { MemoryContainerRecords } from '../../src/drivers/records/container-records.ts';
import { DobbyError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { createContainerManager } from '../../src/manager.ts';
import { FakeLinkFilter } from '../../src/drivers/network/ebtables.ts';
import { createNetworkingPlugin } from '../../src/plugins/networking/plugin.ts';
import { PluginRegistry } from '../../src/plugins/registry.ts';

const dir = mkdtempSync(join(tmpdir(), 'dobby-net-teardown-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const noCgroups: CgroupProbe = { pathsOf: async () => null, oomKillCount: async () => 0 };
// Long enough that the set-up hooks of a start nobody holds back end well within it on a loaded
// machine; the tests hold the network drivers at a gate to run past it, instead of racing a delay.
const HOOK_LIMIT_MS = 1_000;

function world(name: string) {
  const fakes = createFakes();
  const ip = new FakeIp();
  const fw = new FakeFirewall();
  const sysctl = new FakeSysctl();
  /** While closed, every ip and firewall batch waits for it to open. */
  let gate: Promise<void> | null = null;
  let open = (): void => undefined;
  const hold = (): void => {
    gate = new Promise<void>((resolve) => { open = resolve; });
  };
  const release = (): void => {
    gate = null;
    open();
  };
  const delay = async <T>(work: () => Promise<T>): Promise<T> => {
    if (gate !== null) await gate;
    return work();
  };
  const networking = createNetworkingPlugin({
    stateDir: join(dir, name), bridgeName: 'fakebr0', externalInterfaces: ['ext0'],
    drivers: {
      ip: { apply: (t, ops, id) => delay(() => ip.apply(t, ops, id)), links: (t) => ip.links(t), routes: (t, f) => ip.routes(t, f) },
      firewall: { apply: (f, changes, id) => delay(() => fw.apply(f, changes, id)), list: (f) => fw.list(f), save: (f) => fw.save(f) },
      linkFilter: new FakeLinkFilter(), sysctl, netnsIdentity: async (path) => path,
    },
  });
  const registry = new PluginRegistry();
  registry.register(networking);
  const create = fakes.monitor.create.bind(fakes.monitor);
  fakes.monitor.create = async (options) => {
    const created = await create(options);
    ip.addNamespace(created.pid);
    return created;
  };
  const manager = createContainerManager({
    runtime: fakes.runtime, monitor: fakes.monitor, cgroups: noCgroups, records: new MemoryContainerRecords(),
    logger: silentLogger(), stateDir: join(dir, `${name}-state`), stopGraceMs: 10, killWaitMs: 50, plugins: registry, hookTimeoutMs: HOOK_LIMIT_MS,
  });
  after(() => manager.close());
  const bundle = join(dir, `${name}-bundle`);
  mkdirSync(join(bundle, 'rootfs'), { recursive: true });
  writeFileSync(join(bundle, 'config.json'), JSON.stringify({
    ociVersion: '1.0.2', root: { path: 'rootfs' }, process: { args: ['/bin/true'], cwd: '/' },
    linux: { namespaces: [{ type: 'network' }, { type: 'pid' }, { type: 'mount' }] },
    rdkPlugins: { networking: { required: true, data: { type: 'nat' } } },
  }));
  const hostState = async (): Promise<string> => JSON.stringify([ip.snapshot()['host'], await fw.save(4), await fw.save(6), [...sysctl.values]]);
  const deleted = (id: string) => firstValueFrom(manager.events$.pipe(filter((e) => e.id === id && e.type === 'deleted')));
  return { manager, networking, hold, release, bundle, hostState, deleted };
}

test('a nat set-up that runs past the hook time limit fails the start, and deleted comes only after its network is undone', async () => {
  const w = world('setup');
  const before = await w.hostState();
  w.hold();
  let isDeleted = false;
  const deleted = w.deleted('slowup').then(() => { isDeleted = true; });
  const started = w.manager.start({ id: 'slowup', bundle: w.bundle });
  // Past the hook time limit the start gives up on the set-up, which still waits at the gate: its undo cannot have run.
  await sleep(HOOK_LIMIT_MS * 1.5);
  assert.equal(isDeleted, false, 'reported deleted while its nat set-up was still held');
  w.release();
  await assert.rejects(started, (err: unknown) => err instanceof DobbyError && /preStart hook of plugin 'networking'/.test(err.message));
  await deleted;
  assert.equal(w.networking.addressOf('slowup'), null);
  assert.equal(await w.hostState(), before, 'the network was still being undone when the container was reported deleted');
});

test('a nat teardown slower than the hook time limit is awaited: deleted comes after it', async () => {
  const w = world('stop');
  const before = await w.hostState();
  const descriptor = await w.manager.start({ id: 'slowdown', bundle: w.bundle });
  assert.notEqual(w.networking.addressOf('slowdown'), null);
  w.hold();
  let isDeleted = false;
  const deleted = w.deleted('slowdown').then(() => { isDeleted = true; });
  const stopped = w.manager.stop(descriptor, true);
  // Past the hook time limit with the teardown still held: the container must not be gone yet.
  await sleep(HOOK_LIMIT_MS * 1.5);
  assert.equal(isDeleted, false, 'reported deleted while its nat teardown was still held');
  w.release();
  await stopped;
  await deleted;
  assert.equal(w.networking.addressOf('slowdown'), null);
  assert.equal(await w.hostState(), before, 'the network was still being undone when the container was reported deleted');
});
