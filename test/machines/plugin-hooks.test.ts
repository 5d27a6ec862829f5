// The hook states of the container machine over the fake runtime: where each hook runs relative to
// the runtime calls and the lifecycle events, stops during hooks, and teardown hooks on failed starts.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CgroupProbe } from '../../src/actors/container-actors.ts';
import type { LifecycleEvent } from '../../src/bus.ts';
import { createFakes } from '../../src/drivers/monitor/fake-monitor.ts';
import { MemoryContainerRecords } from '../../src/drivers/records/container-records.ts';
import { DobbyError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { createContainerManager } from '../../src/manager.ts';
import { PluginRegistry } from '../../src/plugins/registry.ts';
import { HOOK_POINTS, syncHint, type DobbyPlugin, type HookPoint } from '../../src/plugins/types.ts';

const dir = mkdtempSync(join(tmpdir(), 'dobby-hooks-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const noCgroups: CgroupProbe = { pathsOf: async () => null, oomKillCount: async () => 0 };

function bundle(name: string, rdkPlugins: Record<string, unknown>): string {
  const path = join(dir, name);
  mkdirSync(join(path, 'rootfs'), { recursive: true });
  writeFileSync(join(path, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', root: { path: 'rootfs' }, process: { args: ['/bin/true'], cwd: '/' }, rdkPlugins }));
  return path;
}

/** A plugin with every sync hook; each hook logs `<point>` into `trace` and then does what `gate` says. */
function tracer(trace: string[], gate: Partial<Record<HookPoint, () => unknown>> = {}): DobbyPlugin {
  const plugin: Record<string, unknown> = { name: 'tracer', hookHints: HOOK_POINTS.reduce((b, p) => b | syncHint(p), 0) };
  for (const point of HOOK_POINTS) {
    plugin[point] = (ctx: { pid?: number }) => {
      trace.push(ctx.pid === undefined ? point : `${point}(pid)`);
      return gate[point]?.();
    };
  }
  return plugin as unknown as DobbyPlugin;
}

function setUp(plugins: DobbyPlugin[]) {
  const fakes = createFakes();
  const registry = new PluginRegistry();
  for (const p of plugins) registry.register(p);
  const manager = createContainerManager({
    runtime: fakes.runtime, monitor: fakes.monitor, cgroups: noCgroups, records: new MemoryContainerRecords(),
    logger: silentLogger(), stateDir: dir, stopGraceMs: 20, killWaitMs: 50, plugins: registry, hookTimeoutMs: 200,
  });
  const trace: string[] = [];
  const events: LifecycleEvent[] = [];
  manager.events$.subscribe((e) => {
    events.push(e);
    trace.push(e.type === 'hook' ? `hook:${e.hook}:${e.ok ? 'ok' : 'failed'}` : `event:${e.type}`);
  });
  after(() => manager.close());
  return { fakes, manager, trace, events };
}

async function until(condition: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(2);
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

test('a normal run: postConstruction before create, preStart between create and start, Started after postStart, teardown hooks before delete', async () => {
  const trace: string[] = [];
  const { fakes, manager, trace: bus } = setUp([tracer(trace)]);
  const id = 'normal';
  const b = bundle(id, { tracer: { required: true } });
  const d = await manager.start({ id, bundle: b });
  // Before the start resolves: every setup hook ran and Started went out.
  assert.deepEqual(trace, ['postConstruction', 'preStart(pid)', 'postStart(pid)']);
  assert.deepEqual(bus.filter((t) => t.startsWith('event:')), ['event:created', 'event:started']);
  assert.ok(bus.indexOf('hook:postStart:ok') < bus.indexOf('event:started'), 'Started came before postStart ended');
  assert.ok(bus.indexOf('event:created') < bus.indexOf('hook:preStart:ok'));
  assert.equal(manager.get(d)?.phase, 'running');
  fakes.host.exit(id, 0);
  await until(() => manager.findById(id) === undefined);
  assert.deepEqual(trace, ['postConstruction', 'preStart(pid)', 'postStart(pid)', 'postStop', 'preDestruction']);
  assert.deepEqual(bus.filter((t) => t.startsWith('event:')), ['event:created', 'event:started', 'event:exited', 'event:deleted']);
  assert.ok(bus.indexOf('event:exited') < bus.indexOf('hook:postStop:ok'));
  assert.ok(bus.indexOf('hook:preDestruction:ok') < bus.indexOf('event:deleted'));
  fakes.host.assertClean();
});

test('GetInfo data: the summary lists each plugin with its hook runs', async () => {
  const trace: string[] = [];
  const { manager } = setUp([tracer(trace)]);
  const id = 'info';
  const d = await manager.start({ id, bundle: bundle(id, { tracer: {}, absent: { required: false } }) });
  const plugins = manager.get(d)?.plugins;
  assert.ok(plugins !== undefined);
  assert.deepEqual(plugins.map((p) => [p.name, p.skipped ?? null, p.hooks.map((h) => `${h.hook}:${h.mode}:${h.ok}`)]), [
    ['tracer', null, ['postConstruction:sync:true', 'preStart:sync:true', 'postStart:sync:true']],
    ['absent', "no plugin named 'absent' is installed", []],
  ]);
  assert.ok(plugins[0]!.hooks.every((h) => typeof h.durationMs === 'number' && h.durationMs >= 0));
  await manager.stop(d, true);
  await until(() => manager.findById(id) === undefined);
});

test('a failing postConstruction aborts before create: start-failed, preDestruction, no postStop, reply ABORTED', async () => {
  const trace: string[] = [];
  const { fakes, manager, trace: bus } = setUp([tracer(trace, { postConstruction: () => false })]);
  const id = 'pc-fails';
  await assert.rejects(manager.start({ id, bundle: bundle(id, { tracer: { required: true } }) }), (err: unknown) => {
    assert.ok(err instanceof DobbyError);
    assert.equal(err.code, 'ABORTED');
    assert.match(err.message, /postConstruction hook of plugin 'tracer' failed: returned false/);
    return true;
  });
  assert.deepEqual(trace, ['postConstruction', 'preDestruction']);
  assert.deepEqual(bus.filter((t) => t.startsWith('event:')), ['event:start-failed', 'event:deleted']);
  assert.equal(manager.findById(id), undefined);
  fakes.host.assertClean();
});

test('a failing preStart aborts after create: postStop and preDestruction run, the container is deleted', async () => {
  const trace: string[] = [];
  const { fakes, manager, trace: bus } = setUp([tracer(trace, { preStart: () => Promise.reject(new Error('no')) })]);
  const id = 'ps-fails';
  await assert.rejects(manager.start({ id, bundle: bundle(id, { tracer: { required: true } }) }), /preStart hook of plugin 'tracer' failed: threw: no/);
  assert.deepEqual(trace, ['postConstruction', 'preStart(pid)', 'postStop', 'preDestruction']);
  assert.deepEqual(bus.filter((t) => t.startsWith('event:')), ['event:created', 'event:start-failed', 'event:deleted']);
  fakes.host.assertClean();
});

test('a failing create still runs preDestruction; a failing postStart is reported but the container runs', async () => {
  const trace: string[] = [];
  const { fakes, manager } = setUp([tracer(trace, { postStart: () => false })]);
  const id = 'create-fails';
  fakes.host.failNext('create', new DobbyError('RUNTIME_FAILED', 'injected create failure'), { id });
  await assert.rejects(manager.start({ id, bundle: bundle(id, { tracer: {} }) }), /injected create failure/);
  assert.deepEqual(trace, ['postConstruction', 'preDestruction']);
  trace.length = 0;
  const d = await manager.start({ id, bundle: bundle(id, { tracer: {} }) });
  assert.equal(manager.get(d)?.phase, 'running');
  assert.equal(manager.get(d)?.plugins?.[0]?.hooks.find((h) => h.hook === 'postStart')?.error, 'returned false');
  await manager.stop(d, false);
  await until(() => manager.findById(id) === undefined);
  assert.deepEqual(trace, ['postConstruction', 'preStart(pid)', 'postStart(pid)', 'postStop', 'preDestruction']);
  fakes.host.assertClean();
});

test('failing teardown hooks (throw, hang) are logged and teardown goes on', async () => {
  const trace: string[] = [];
  const { fakes, manager, events } = setUp([tracer(trace, { postStop: () => new Promise(() => {}), preDestruction: () => { throw new Error('x'); } })]);
  const id = 'teardown-fails';
  const d = await manager.start({ id, bundle: bundle(id, { tracer: { required: true } }) });
  await manager.stop(d, true);
  await until(() => manager.findById(id) === undefined);
  const runs = events.flatMap((e) => (e.type === 'hook' ? [[e.hook, e.ok, e.error ?? null]] : []));
  assert.deepEqual(runs.slice(-2), [['postStop', false, 'timed out after 200 ms'], ['preDestruction', false, 'threw: x']]);
  fakes.host.assertClean();
});

for (const point of ['postConstruction', 'preStart'] as const) {
  test(`a stop during ${point} cancels the start once the hook is done: no create (or no start), teardown hooks run`, async () => {
    const trace: string[] = [];
    const gate = deferred();
    const { fakes, manager, trace: bus } = setUp([tracer(trace, { [point]: () => gate.promise })]);
    const id = `stop-in-${point.toLowerCase()}`;
    const starting = manager.start({ id, bundle: bundle(id, { tracer: { required: true } }) });
    await until(() => trace.length > 0 && trace.at(-1)!.startsWith(point));
    const summary = manager.findById(id);
    assert.equal(summary?.phase, point === 'postConstruction' ? 'creating' : 'created');
    await manager.stop(summary!.descriptor, false);
    gate.resolve();
    await assert.rejects(starting, (err: unknown) => err instanceof DobbyError && err.code === 'ABORTED' && /cancelled by a stop/.test(err.message));
    await until(() => manager.findById(id) === undefined);
    assert.deepEqual(trace, point === 'postConstruction' ? ['postConstruction', 'preDestruction'] : ['postConstruction', 'preStart(pid)', 'postStop', 'preDestruction']);
    assert.ok(!bus.includes('event:started'));
    fakes.host.assertClean();
  });
}

test('plugins that cannot be selected fail the start before any hook: a required plugin missing, a dependsOn cycle', async () => {
  const trace: string[] = [];
  const { fakes, manager, trace: bus } = setUp([tracer(trace)]);
  await assert.rejects(manager.start({ id: 'missing', bundle: bundle('missing', { tracer: {}, gpu: { required: true } }) }), (err: unknown) =>
    err instanceof DobbyError && err.code === 'BUNDLE_INVALID' && /rdkPlugins\.gpu is required, but no plugin named 'gpu' is installed/.test(err.message));
  await assert.rejects(manager.start({ id: 'cycle', bundle: bundle('cycle', { tracer: { dependsOn: ['other'] }, other: { dependsOn: ['tracer'] } }) }), /cycle: tracer -> other -> tracer/);
  assert.deepEqual(trace, [], 'no hook may run, not even preDestruction');
  assert.deepEqual(bus, ['event:start-failed', 'event:deleted', 'event:start-failed', 'event:deleted']);
  fakes.host.assertClean();
});

test('teardown beside the runtime: when every plugin says its teardown needs nothing of the runtime, the runtime deletes the container while the hooks run; otherwise after them', async () => {
  for (const beside of [true, false]) {
    const trace: string[] = [];
    const held = deferred();
    const plugin = { ...tracer(trace, { postStop: () => held.promise }), ...(beside ? { teardownBesideRuntime: true } : {}) } as DobbyPlugin;
    const { fakes, manager, trace: bus } = setUp([plugin]);
    const remove = fakes.runtime.delete.bind(fakes.runtime);
    fakes.runtime.delete = async (id, options) => {
      trace.push('runtime:delete');
      return remove(id, options);
    };
    const id = beside ? 'beside' : 'after';
    await manager.start({ id, bundle: bundle(id, { tracer: { required: true } }) });
    fakes.host.exit(id, 0);
    await until(() => trace.includes('postStop'));
    if (beside) {
      await until(() => trace.includes('runtime:delete'));
    } else {
      // Well inside the hook time limit (200 ms): the delete must wait for the hook however long it takes.
      await sleep(100);
      assert.ok(!trace.includes('runtime:delete'), trace.join(' '));
    }
    held.resolve();
    await until(() => manager.findById(id) === undefined);
    assert.deepEqual(trace.slice(3), beside ? ['postStop', 'runtime:delete', 'preDestruction'] : ['postStop', 'preDestruction', 'runtime:delete']);
    // Either way the container is reported gone only once its teardown hooks are done.
    assert.ok(bus.indexOf('hook:preDestruction:ok') < bus.indexOf('event:deleted'), bus.join(' '));
    fakes.host.assertClean();
  }
});
