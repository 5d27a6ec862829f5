// The hook runner: order (dependsOn, reversed at teardown), sync one after another, async together,
// and every way a hook can fail (throw, sync throw, false, never resolving) turned into a failed run.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { silentLogger } from '../../src/log.ts';
import { pointsWithHooks, runHookPoint, type HookPointInput } from '../../src/plugins/hook-runner.ts';
import { PluginRegistry } from '../../src/plugins/registry.ts';
import { selectPlugins, type PluginSelection } from '../../src/plugins/selection.ts';
import { createStartState } from '../../src/plugins/start-state.ts';
import { HOOK_POINTS, HookHint, StartAbort, asyncHint, syncHint, type DobbyPlugin, type HookPoint, type HookRun } from '../../src/plugins/types.ts';

interface Mark {
  readonly plugin: string;
  readonly hook: HookPoint;
  readonly edge: 'start' | 'end';
  readonly seq: number;
}

/** A plugin that records start/end marks of every hook; `work` decides what each hook does. */
function recorder(name: string, hints: number, marks: Mark[], work: (hook: HookPoint, ctx: { signal: AbortSignal }) => unknown = () => sleep(20)) {
  let seq = 0;
  const hook = (point: HookPoint) =>
    async function (this: unknown, ctx: { signal: AbortSignal }) {
      marks.push({ plugin: name, hook: point, edge: 'start', seq: seq++ });
      try {
        return await work(point, ctx);
      } finally {
        marks.push({ plugin: name, hook: point, edge: 'end', seq: seq++ });
      }
    };
  const plugin: Record<string, unknown> = { name, hookHints: hints };
  for (const point of HOOK_POINTS) plugin[point] = hook(point);
  return plugin as unknown as DobbyPlugin;
}

function setUp(plugins: DobbyPlugin[], rdkPlugins: Record<string, unknown>) {
  const registry = new PluginRegistry();
  for (const p of plugins) registry.register(p);
  const selection = selectPlugins({ rdkPlugins }, '/bundle', { isInstalled: (n) => registry.has(n) });
  const runs: HookRun[] = [];
  const run = (point: HookPoint, extra: Partial<HookPointInput> = {}, timeoutMs = 2_000) =>
    runHookPoint({ id: 'c1', point, selection, startState: createStartState(0), ...extra }, { registry, timeoutMs, logger: silentLogger(), onRun: (r) => runs.push(r) });
  return { registry, selection, runs, run };
}

const ALL_SYNC = HOOK_POINTS.reduce((bits, p) => bits | syncHint(p), 0);
const ALL_ASYNC = HOOK_POINTS.reduce((bits, p) => bits | asyncHint(p), 0);

/** Whether two plugins' hooks ran at the same time, from the order of their marks. */
function overlapped(marks: readonly Mark[], a: string, b: string): boolean {
  const index = (plugin: string, edge: 'start' | 'end') => marks.findIndex((m) => m.plugin === plugin && m.edge === edge);
  return index(a, 'start') < index(b, 'end') && index(b, 'start') < index(a, 'end');
}

test('sync hooks run one after another in dependsOn order, reversed for postStop and preDestruction', async () => {
  const marks: Mark[] = [];
  const { run } = setUp(
    [recorder('a', ALL_SYNC, marks), recorder('b', ALL_SYNC, marks), recorder('c', ALL_SYNC, marks)],
    { c: { dependsOn: ['b'] }, a: { dependsOn: ['C'] }, b: {} },
  );
  for (const point of HOOK_POINTS) {
    marks.length = 0;
    const result = await run(point);
    assert.equal(result.failure, null);
    const starts = marks.filter((m) => m.edge === 'start').map((m) => m.plugin);
    assert.deepEqual(starts, point === 'postStop' || point === 'preDestruction' ? ['a', 'c', 'b'] : ['b', 'c', 'a'], point);
    assert.ok(!overlapped(marks, 'a', 'b') && !overlapped(marks, 'b', 'c') && !overlapped(marks, 'a', 'c'), `${point}: sync hooks overlapped`);
    assert.deepEqual(result.runs.map((r) => [r.plugin, r.hook, r.mode, r.ok]), starts.map((p) => [p, point, 'sync', true]));
  }
});

test('async hooks of two plugins overlap; a sync hook runs alone in order, and what follows it starts after it', async () => {
  const marks: Mark[] = [];
  const { run, runs } = setUp(
    [
      recorder('slow', ALL_ASYNC, marks, () => sleep(120)),
      recorder('quick', ALL_ASYNC, marks),
      recorder('serial', ALL_SYNC, marks),
      recorder('late', ALL_ASYNC, marks),
    ],
    { slow: {}, quick: {}, serial: {}, late: {} },
  );
  const result = await run('preStart');
  assert.equal(result.failure, null);
  const at = (plugin: string, edge: 'start' | 'end') => marks.findIndex((m) => m.plugin === plugin && m.edge === edge);
  assert.ok(overlapped(marks, 'slow', 'quick'), `async hooks did not overlap: ${JSON.stringify(marks)}`);
  assert.ok(at('serial', 'start') > at('quick', 'start'), 'the sync hook started before the hooks listed earlier');
  assert.ok(at('late', 'start') > at('serial', 'end'), 'a hook listed after a sync hook started before it ended');
  assert.ok(overlapped(marks, 'slow', 'late'), 'the first async hook should still run when the last one starts');
  assert.deepEqual(runs.map((r) => r.mode).sort(), ['async', 'async', 'async', 'sync']);
});

test('a hook that throws, throws synchronously, returns false, or never resolves is a failed run with the reason', async () => {
  const behaviours: Record<string, () => unknown> = {
    throws: async () => {
      throw new Error('boom');
    },
    syncThrows: () => {
      throw new TypeError('sync boom');
    },
    falsy: async () => false,
    hangs: () => new Promise(() => {}),
    fine: () => undefined,
  };
  const aborted: boolean[] = [];
  const plugins = Object.entries(behaviours).map(([name, work]) => ({
    name,
    hookHints: HookHint.PostStopSync,
    postStop(ctx: { signal: AbortSignal }) {
      if (name === 'hangs') ctx.signal.addEventListener('abort', () => aborted.push(true));
      return work();
    },
  })) as unknown as DobbyPlugin[];
  const { run } = setUp(plugins, Object.fromEntries(Object.keys(behaviours).map((n) => [n, {}])));
  const result = await run('postStop', {}, 150);
  assert.equal(result.failure, null, 'postStop failures never abort');
  const byName = Object.fromEntries(result.runs.map((r) => [r.plugin, r]));
  assert.equal(byName['throws']!.error, 'threw: boom');
  assert.equal(byName['syncThrows']!.error, 'threw: sync boom');
  assert.equal(byName['falsy']!.error, 'returned false');
  assert.equal(byName['hangs']!.error, 'timed out after 150 ms');
  assert.ok(byName['hangs']!.durationMs >= 140);
  assert.deepEqual(aborted, [true], 'the timed-out hook was not told through its AbortSignal');
  assert.equal(byName['fine']!.ok, true);
  assert.equal(result.runs.length, 5, 'every plugin ran despite the failures before it');
});

test('at postConstruction and preStart a failing required plugin aborts: later plugins do not run', async () => {
  const marks: Mark[] = [];
  const { run } = setUp(
    [recorder('first', ALL_SYNC, marks, () => false), recorder('second', ALL_SYNC, marks)],
    { first: { required: true }, second: {} },
  );
  for (const point of ['postConstruction', 'preStart'] as const) {
    marks.length = 0;
    const result = await run(point);
    assert.ok(result.failure !== null);
    assert.equal(result.failure.code, 'ABORTED');
    assert.match(result.failure.message, new RegExp(`^${point} hook of plugin 'first' failed: returned false$`));
    assert.deepEqual([...new Set(marks.map((m) => m.plugin))], ['first']);
  }
});

test('a failing plugin that is not required only warns, as Dobby does for rdk plugins', async () => {
  const marks: Mark[] = [];
  const { run } = setUp([recorder('optional', ALL_SYNC, marks, () => false), recorder('next', ALL_SYNC, marks)], { optional: {}, next: {} });
  const result = await run('postConstruction');
  assert.equal(result.failure, null);
  assert.deepEqual(result.runs.map((r) => [r.plugin, r.ok]), [['optional', false], ['next', true]]);
});

test('postConstruction hooks add env, fds, mounts and rlimits; fds are numbered after the caller\'s; nothing is taken after the hook ended', async () => {
  let late: (() => void) | null = null;
  const plugin: DobbyPlugin = {
    name: 'adder',
    hookHints: HookHint.PostConstructionSync,
    postConstruction(ctx, state) {
      assert.equal(ctx.id, 'c1');
      assert.equal(ctx.rootfs, '/bundle/rootfs');
      assert.deepEqual(ctx.data, { k: 'v' });
      state.addEnvironmentVariable('A=1');
      state.addEnvironmentVariable('A=1');
      assert.equal(state.addFileDescriptor('adder', 40), 5);
      assert.equal(state.addFileDescriptor('adder', 41), 6);
      state.addMount({ source: '/tmp', destination: '/mnt/tmp', type: 'bind', options: ['bind'] });
      state.setRlimit({ type: 'RLIMIT_RTPRIO', soft: 1, hard: 2 });
      state.setRlimit({ type: 'RLIMIT_NICE', soft: 0, hard: 0 });
      state.setRlimit({ type: 'RLIMIT_RTPRIO', soft: 6, hard: 6 });
      assert.throws(() => state.setRlimit({ type: 'RLIMIT_RTPRIO', soft: 7, hard: 6 }), /0 <= soft <= hard/);
      assert.throws(() => state.setRlimit({ type: 'rtprio', soft: 1, hard: 1 }), /RLIMIT_/);
      state.addNamespace('network');
      state.addNamespace('network');
      assert.throws(() => state.addNamespace('netwerk'), /namespace type "netwerk" is not one of/);
      state.renumberDevice({ path: '/dev/a', major: 1, minor: 2 });
      state.renumberDevice({ path: '/dev/b', major: 3, minor: 4 });
      state.renumberDevice({ path: '/dev/a', major: 5, minor: 6 });
      assert.throws(() => state.renumberDevice({ path: 'dev/c', major: 1, minor: 1 }), /path: "\/\.\.\."/);
      assert.throws(() => state.renumberDevice({ path: '/dev/c', major: -1, minor: 1 }), /whole numbers >= 0/);
      state.addDeviceRule({ allow: true, type: 'c', major: 13, minor: 64, access: 'rw' });
      assert.throws(() => state.addDeviceRule({ allow: true, type: 'c', major: 13, minor: 64, access: 'rwx' }), /must be \{allow/);
      state.addGroup(105);
      state.addGroup(105);
      assert.throws(() => state.addGroup(-1), /not a gid/);
      assert.throws(() => state.addEnvironmentVariable('no-equals'), /must look like NAME=value/);
      assert.throws(() => state.addFileDescriptor('adder', -1), /not a file descriptor/);
      late = () => state.addEnvironmentVariable('LATE=1');
    },
  };
  const { run } = setUp([plugin], { adder: { data: { k: 'v' } } });
  const startState = createStartState(2);
  const result = await run('postConstruction', { startState });
  assert.equal(result.failure, null);
  assert.deepEqual(startState.additions, {
    env: ['A=1'], fds: [40, 41], mounts: [{ source: '/tmp', destination: '/mnt/tmp', type: 'bind', options: ['bind'] }],
    rlimits: [{ type: 'RLIMIT_NICE', soft: 0, hard: 0 }, { type: 'RLIMIT_RTPRIO', soft: 6, hard: 6 }], namespaces: ['network'],
    devices: [{ path: '/dev/b', major: 3, minor: 4 }, { path: '/dev/a', major: 5, minor: 6 }],
    deviceRules: [{ allow: true, type: 'c', major: 13, minor: 64, access: 'rw' }],
    groups: [105],
  });
  assert.throws(() => late!(), /after its postConstruction hook ended/);
});

test('a StartAbort fails the start although its plugin is not required; another failure of it does not', async () => {
  const plugin = (name: string, err: Error): DobbyPlugin => ({ name, hookHints: HookHint.PreStartSync, preStart: () => { throw err; } });
  const { run } = setUp([plugin('isolating', new StartAbort('cannot isolate', 'c1')), plugin('other', new Error('meh'))], { isolating: { required: false }, other: { required: false } });
  const result = await run('preStart', { pid: 7 });
  assert.match(result.failure?.message ?? '', /preStart hook of plugin 'isolating' failed: threw: cannot isolate/);
  const { run: runOther } = setUp([plugin('other', new Error('meh'))], { other: { required: false } });
  assert.equal((await runOther('preStart', { pid: 7 })).failure, null);
});

test('hooks get the pid (preStart, postStart) and the exit (postStop, preDestruction); a hook without a hint bit is not called', async () => {
  const seen: unknown[] = [];
  const plugin = {
    name: 'args',
    hookHints: HookHint.PreStartSync | HookHint.PostStartAsync | HookHint.PostStopSync | HookHint.PreDestructionAsync,
    postConstruction: () => seen.push('postConstruction must not run'),
    preStart: (ctx: { pid: number }) => void seen.push(['preStart', ctx.pid]),
    postStart: (ctx: { pid: number }) => void seen.push(['postStart', ctx.pid]),
    postStop: (ctx: { exit: unknown }) => void seen.push(['postStop', ctx.exit]),
    preDestruction: (ctx: { exit: unknown }) => void seen.push(['preDestruction', ctx.exit]),
  } as unknown as DobbyPlugin;
  const { run } = setUp([plugin], { args: {} });
  const exit = { exitCode: 3, signal: null, oomKilled: false, status: 3 << 8 };
  await run('postConstruction');
  await run('preStart', { pid: 42 });
  await run('postStart', { pid: 42 });
  await run('postStop', { exit });
  await run('preDestruction', { exit: null });
  assert.deepEqual(seen, [['preStart', 42], ['postStart', 42], ['postStop', exit], ['preDestruction', null]]);
});

test('an empty selection runs nothing', async () => {
  const selection: PluginSelection = { plugins: [], skipped: [], rootfs: '/r' };
  const result = await runHookPoint({ id: 'x', point: 'preStart', selection }, { registry: new PluginRegistry(), timeoutMs: 10, logger: silentLogger() });
  assert.deepEqual(result, { runs: [], failure: null });
});

test('a plugin with awaitedTeardown: its postStop and preDestruction run to their end past the time limit, its other hooks do not', async () => {
  const marks: Mark[] = [];
  const slow = { ...recorder('slow', ALL_SYNC, marks, () => sleep(120)), awaitedTeardown: true } as DobbyPlugin;
  const { run } = setUp([slow, recorder('other', ALL_SYNC, marks, () => sleep(120))], { slow: {}, other: {} });
  for (const point of ['postStop', 'preDestruction'] as const) {
    const result = await run(point, {}, 30);
    const byName = Object.fromEntries(result.runs.map((r) => [r.plugin, r]));
    assert.equal(byName['slow']!.ok, true, `${point}: ${byName['slow']!.error ?? ''}`);
    assert.ok(marks.some((m) => m.plugin === 'slow' && m.hook === point && m.edge === 'end'), `${point} answered before the awaited hook ended`);
    assert.equal(byName['other']!.error, 'timed out after 30 ms', `${point}: a plugin without awaitedTeardown is still cut off`);
  }
  const started = await run('preStart', { pid: 1 }, 30);
  assert.equal(started.runs.find((r) => r.plugin === 'slow')?.error, 'timed out after 30 ms', 'set-up hooks keep their time limit');
});

test('pointsWithHooks: the points at which a selected plugin has a hook, sync or async; an unselected plugin counts for nothing', () => {
  const marks: Mark[] = [];
  const { registry, selection } = setUp(
    [
      recorder('a', syncHint('postConstruction') | asyncHint('preStart'), marks),
      recorder('b', syncHint('postStop'), marks),
      recorder('unselected', ALL_SYNC, marks),
    ],
    { a: {}, b: {} },
  );
  assert.deepEqual(pointsWithHooks(selection, registry), ['postConstruction', 'preStart', 'postStop']);
  assert.deepEqual(pointsWithHooks({ ...selection, plugins: [] }, registry), []);
});
