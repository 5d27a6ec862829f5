// Hooks that have nothing to do cost nothing: with no plugin selected, the machine never starts the
// preStart, postStart, postStop or preDestruction actors, on a start, an exit, a failed start or a
// cancelled one, and the container's events and replies are what they are with plugins. With
// plugins, only the points at which one of them has a hook run.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createActor, fromCallback, fromPromise } from 'xstate';
import type { ExitStatus } from '../../src/exit-status.ts';
import { containerMachine } from '../../src/machines/container.ts';
import type {
  ConstructInput, ConstructOutput, ContainerEvent, CreateInput, CreateOutput, DeleteInput, HookInput, HookOutput, IdInput, InspectInput,
  ProbeOutput, SignalInput, TeardownInput,
} from '../../src/machines/container-types.ts';
import type { PluginEntry } from '../../src/plugins/selection.ts';
import type { HookPoint } from '../../src/plugins/types.ts';

const TRACER: PluginEntry = { name: 'tracer', kind: 'rdk', required: false, dependsOn: [], data: null };

interface Options {
  readonly failCreate?: boolean;
  readonly stopDuringStart?: boolean;
  /** The monitor starts the container when asked to (CreateInput.start), as conmon with /bin/sh does. */
  readonly monitorStarts?: boolean;
}

function machine(plugins: readonly PluginEntry[], hooksRun: string[], options: Options = {}, hookPoints?: readonly HookPoint[]) {
  const hooks = fromPromise<HookOutput, HookInput>(async ({ input }) => {
    hooksRun.push(input.point);
    return { runs: [], failure: null };
  });
  return containerMachine.provide({
    actors: {
      postConstructionHooks: fromPromise<ConstructOutput, ConstructInput>(async () => ({
        selection: { plugins, skipped: [], rootfs: '/b/rootfs', teardownBesideRuntime: true, ...(hookPoints === undefined ? {} : { hookPoints }) },
        additions: { env: [], fds: [], mounts: [] },
        runs: [],
        failure: null,
      })),
      preStartHooks: hooks,
      postStartHooks: hooks,
      postStopHooks: hooks,
      preDestructionHooks: hooks,
      createContainer: fromPromise<CreateOutput, CreateInput>(async ({ input }) => {
        if (options.failCreate === true) throw new Error('create refused');
        hooksRun.push(input.start === true ? 'create+start' : 'create');
        return { pid: 10, monitorPid: 9, cgroup: null, ...(input.start === true && options.monitorStarts === true ? { started: true } : {}) };
      }),
      startContainer: fromPromise<void, IdInput>(async () => {
        hooksRun.push('runtime:start');
      }),
      signalContainer: fromPromise<void, SignalInput>(async () => undefined),
      probeContainer: fromPromise<ProbeOutput, IdInput>(async () => ({ gone: false })),
      inspectExit: fromPromise<ExitStatus, InspectInput>(async () => ({ exitCode: 0, signal: null, oomKilled: false, status: 0 })),
      deleteFromRuntime: fromPromise<void, DeleteInput>(async () => undefined),
      teardown: fromPromise<void, TeardownInput>(async () => undefined),
      watchExit: fromCallback(() => () => {}),
    },
  });
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

async function lifecycle(plugins: readonly PluginEntry[], options: Options = {}, hookPoints?: readonly HookPoint[]) {
  const hooksRun: string[] = [];
  const events: string[] = [];
  const actor = createActor(machine(plugins, hooksRun, options, hookPoints), { input: { id: 'c', descriptor: 7, stopGraceMs: 60_000 } });
  actor.on('lifecycle', (e) => events.push((e as unknown as { event: string }).event));
  actor.on('reply', (e) => events.push(`reply:${e.requestId}:${e.ok ? 'ok' : 'error'}`));
  actor.start();
  actor.send({ type: 'START', requestId: 's', request: { id: 'c', bundle: '/b' } });
  if (options.stopDuringStart === true) actor.send({ type: 'STOP', requestId: 'x', force: false });
  for (let i = 0; i < 20; i++) await flush();
  if (actor.getSnapshot().status === 'active') {
    actor.send({ type: 'EXITED', exit: { code: 0, oomKilled: false } } satisfies ContainerEvent);
    for (let i = 0; i < 20; i++) await flush();
  }
  assert.equal(actor.getSnapshot().status, 'done', JSON.stringify(actor.getSnapshot().value));
  return { hooksRun, events };
}

const HOOK_POINTS = new Set(['preStart', 'postStart', 'postStop', 'preDestruction']);
const hooksOf = (run: readonly string[]) => run.filter((r) => HOOK_POINTS.has(r));

test('with no plugin selected no later hook actor starts; with one, each hook point runs once', async () => {
  const none = await lifecycle([]);
  assert.deepEqual(none.hooksRun, ['create+start', 'runtime:start'], 'a monitor that declines to start: the runtime starts it');
  const one = await lifecycle([TRACER]);
  assert.deepEqual(one.hooksRun, ['create', 'preStart', 'runtime:start', 'postStart', 'postStop', 'preDestruction']);
  assert.deepEqual(none.events, one.events);
  assert.deepEqual(none.events, ['created', 'started', 'reply:s:ok', 'exited', 'deleted']);
});

test('a failed start and a start cancelled by a stop run no hook without plugins, and answer as with them', async () => {
  for (const options of [{ failCreate: true }, { stopDuringStart: true }, { stopDuringStart: true, monitorStarts: true }]) {
    const none = await lifecycle([], options);
    assert.deepEqual(hooksOf(none.hooksRun), [], JSON.stringify(options));
    const one = await lifecycle([TRACER], options);
    assert.ok(one.hooksRun.includes('preDestruction'), `${JSON.stringify(options)}: ${one.hooksRun.join(' ')}`);
    assert.deepEqual(none.events, one.events, JSON.stringify(options));
  }
});

test('a container the monitor started as it created it makes no runtime start, and reports what one started in two steps does', async () => {
  const together = await lifecycle([], { monitorStarts: true });
  assert.deepEqual(together.hooksRun, ['create+start']);
  assert.deepEqual(together.events, ['created', 'started', 'reply:s:ok', 'exited', 'deleted']);
  // With a plugin the monitor is never asked: its preStart hook runs between create and start.
  const hooked = await lifecycle([TRACER], { monitorStarts: true });
  assert.deepEqual(hooked.hooksRun.slice(0, 3), ['create', 'preStart', 'runtime:start']);
});

test('an exit while a started-as-created container is still being created is its own exit after Started, not a failed start', async () => {
  const hooksRun: string[] = [];
  const events: string[] = [];
  let open = (): void => undefined;
  const gate = new Promise<void>((resolve) => { open = resolve; });
  const base = machine([], hooksRun, { monitorStarts: true });
  const logic = base.provide({
    actors: {
      createContainer: fromPromise<CreateOutput, CreateInput>(async () => {
        await gate;
        return { pid: 10, monitorPid: 9, cgroup: null, started: true };
      }),
    },
  });
  const actor = createActor(logic, { input: { id: 'c', descriptor: 7, stopGraceMs: 60_000 } });
  actor.on('lifecycle', (e) => events.push((e as unknown as { event: string }).event));
  actor.on('reply', (e) => events.push(`reply:${e.requestId}:${e.ok ? 'ok' : 'error'}`));
  actor.start();
  actor.send({ type: 'START', requestId: 's', request: { id: 'c', bundle: '/b' } });
  for (let i = 0; i < 5; i++) await flush();
  actor.send({ type: 'EXITED', exit: { code: 3, oomKilled: false } });
  open();
  for (let i = 0; i < 20; i++) await flush();
  assert.equal(actor.getSnapshot().status, 'done');
  assert.deepEqual(events, ['created', 'started', 'reply:s:ok', 'exited', 'deleted']);
});

test('with plugins, only the hook points at which one of them has a hook run', async () => {
  for (const points of [['preStart', 'postStop'], ['postStart'], ['preDestruction'], []] satisfies HookPoint[][]) {
    const { hooksRun, events } = await lifecycle([TRACER], {}, ['postConstruction', ...points]);
    assert.deepEqual(hooksOf(hooksRun), points, points.join(' '));
    assert.deepEqual(events, ['created', 'started', 'reply:s:ok', 'exited', 'deleted'], points.join(' '));
  }
});

test('nothing at preStart: the monitor is asked to start the container; a postStart hook then runs after the start', async () => {
  const { hooksRun, events } = await lifecycle([TRACER], { monitorStarts: true }, ['postStart']);
  assert.deepEqual(hooksRun, ['create+start', 'postStart']);
  assert.deepEqual(events, ['created', 'started', 'reply:s:ok', 'exited', 'deleted']);
  const declined = await lifecycle([TRACER], {}, ['postStart']);
  assert.deepEqual(declined.hooksRun, ['create+start', 'runtime:start', 'postStart']);
});
