// A new daemon rebuilds its containers from the host (runtime state, monitor exit records, its own
// records), never from a saved snapshot: same ids and descriptors, exits that happened meanwhile
// reported with their status, and what is gone cleaned up.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CgroupProbe } from '../../src/actors/container-actors.ts';
import type { LifecycleEvent } from '../../src/bus.ts';
import { adoptLeftovers } from '../../src/daemon.ts';
import { createFakes, type Fakes } from '../../src/drivers/monitor/fake-monitor.ts';
import { MemoryContainerRecords } from '../../src/drivers/records/container-records.ts';
import { silentLogger } from '../../src/log.ts';
import { createContainerManager, type Manager } from '../../src/manager.ts';
import { PluginRegistry } from '../../src/plugins/registry.ts';
import { HOOK_POINTS, syncHint, type DobbyPlugin, type HookPoint } from '../../src/plugins/types.ts';

const dir = mkdtempSync(join(tmpdir(), 'dobby-adopt-'));
// The fakes run nothing, but the create step reads the bundle's config.json and rootfs.
mkdirSync(join(dir, 'rootfs'));
writeFileSync(join(dir, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', root: { path: 'rootfs' }, process: { args: ['/bin/true'], cwd: '/' } }));
after(() => rmSync(dir, { recursive: true, force: true }));
const noCgroups: CgroupProbe = { pathsOf: async () => null, oomKillCount: async () => 0 };

function daemon(fakes: Fakes, records: MemoryContainerRecords, plugins?: PluginRegistry): { manager: Manager; events: LifecycleEvent[] } {
  const manager = createContainerManager({
    runtime: fakes.runtime, monitor: fakes.monitor, cgroups: noCgroups, records,
    logger: silentLogger(), stateDir: dir, stopGraceMs: 20, killWaitMs: 50,
    ...(plugins === undefined ? {} : { plugins }),
  });
  const events: LifecycleEvent[] = [];
  manager.events$.subscribe((e) => events.push(e));
  return { manager, events };
}

async function until(condition: () => boolean, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(2);
  }
}

test('after a daemon crash, a new daemon re-adopts running, paused and exited containers and forgets missing ones', async () => {
  const fakes = createFakes();
  const records = new MemoryContainerRecords();
  const first = daemon(fakes, records);
  const running = await first.manager.start({ id: 'keeps-running', bundle: dir });
  const paused = await first.manager.start({ id: 'was-paused', bundle: dir });
  await first.manager.pause(paused);
  const exiting = await first.manager.start({ id: 'exits-meanwhile', bundle: dir });
  // The daemon dies: its actors are gone, the containers and their monitors are not.
  first.manager.close();
  fakes.host.exit('exits-meanwhile', 3);
  await records.write({ id: 'long-gone', descriptor: 99, bundle: dir });

  const second = daemon(fakes, records);
  await adoptLeftovers(second.manager, fakes.runtime, records, silentLogger());
  await until(() => second.manager.findById('keeps-running')?.phase === 'running' && second.manager.findById('was-paused')?.phase === 'paused');
  assert.equal(second.manager.findById('keeps-running')?.descriptor, running);
  assert.equal(second.manager.findById('was-paused')?.descriptor, paused);

  await until(() => second.events.filter((e) => e.type === 'deleted').length === 2);
  const exited = second.events.find((e) => e.id === 'exits-meanwhile' && e.type === 'exited');
  assert.ok(exited && exited.type === 'exited');
  assert.equal(exited.descriptor, exiting);
  assert.deepEqual([exited.exitCode, exited.status], [3, 3 << 8]);
  assert.deepEqual(second.events.filter((e) => e.id === 'long-gone').map((e) => e.type), ['deleted']);
  assert.deepEqual((await records.list()).map((r) => r.id).sort(), ['keeps-running', 'was-paused']);

  // The adopted containers are fully controllable: stopping the paused one thaws it first.
  await second.manager.stop(paused, false);
  await second.manager.stop(running, true);
  await until(() => second.manager.list().length === 0);
  fakes.host.assertClean();
  assert.deepEqual(await records.list(), []);
  second.manager.close();
});

/** A plugin recording `<id> <hook> <exit code>` for every hook. */
function tracer(seen: string[]): DobbyPlugin {
  const plugin: Record<string, unknown> = { name: 'tracer', hookHints: HOOK_POINTS.reduce((b, p) => b | syncHint(p), 0) };
  for (const hook of HOOK_POINTS) {
    plugin[hook] = (ctx: { id: string; exit?: { exitCode: number | null } | null }) =>
      void seen.push(`${ctx.id} ${hook}${ctx.exit === undefined ? '' : ` ${ctx.exit?.exitCode ?? 'null'}`}`);
  }
  return plugin as unknown as DobbyPlugin;
}

test("an adopted container's teardown hooks still run: its plugins are selected again from its bundle", async () => {
  const pluginBundle = join(dir, 'with-plugins');
  mkdirSync(join(pluginBundle, 'rootfs'), { recursive: true });
  writeFileSync(join(pluginBundle, 'config.json'), JSON.stringify({
    ociVersion: '1.0.2', root: { path: 'rootfs' }, process: { args: ['/bin/true'], cwd: '/' },
    rdkPlugins: { tracer: { required: true }, 'not-installed-any-more': { required: true } },
  }));
  const fakes = createFakes();
  const records = new MemoryContainerRecords();
  const seenFirst: string[] = [];
  const firstPlugins = new PluginRegistry();
  firstPlugins.register(tracer(seenFirst));
  firstPlugins.register({ name: 'not-installed-any-more', hookHints: 0 });
  const first = daemon(fakes, records, firstPlugins);
  await first.manager.start({ id: 'outlives', bundle: pluginBundle });
  await first.manager.start({ id: 'ends-meanwhile', bundle: pluginBundle });
  const setup: HookPoint[] = ['postConstruction', 'preStart', 'postStart'];
  assert.deepEqual(seenFirst, [...setup.map((h) => `outlives ${h}`), ...setup.map((h) => `ends-meanwhile ${h}`)]);
  first.manager.close();
  fakes.host.exit('ends-meanwhile', 5);

  // The new daemon has the tracer but no longer the other plugin: teardown skips it, never fails.
  const seen: string[] = [];
  const plugins = new PluginRegistry();
  plugins.register(tracer(seen));
  const second = daemon(fakes, records, plugins);
  await adoptLeftovers(second.manager, fakes.runtime, records, silentLogger());
  await until(() => second.manager.findById('outlives')?.phase === 'running' && second.manager.findById('ends-meanwhile') === undefined);
  assert.deepEqual(seen, ['ends-meanwhile postStop 5', 'ends-meanwhile preDestruction 5']);
  fakes.host.exit('outlives', 0);
  await until(() => second.manager.list().length === 0);
  assert.deepEqual(seen.slice(2), ['outlives postStop 0', 'outlives preDestruction 0']);
  fakes.host.assertClean();
  second.manager.close();
});
