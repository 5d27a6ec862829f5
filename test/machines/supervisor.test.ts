// The supervisor: one actor per container, Dobby's descriptors, refusals, and the replacement of a
// crashed container actor by one that re-adopts the container from the host.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createActor, type AnyActorRef } from 'xstate';
import { createContainerActors, type CgroupProbe } from '../../src/actors/container-actors.ts';
import { createHookActors } from '../../src/actors/hook-actors.ts';
import { PluginRegistry } from '../../src/plugins/registry.ts';
import { createFakes } from '../../src/drivers/monitor/fake-monitor.ts';
import { MemoryContainerRecords } from '../../src/drivers/records/container-records.ts';
import { silentLogger } from '../../src/log.ts';
import { containerMachine, phaseOf } from '../../src/machines/container.ts';
import type { ContainerEmitted } from '../../src/machines/container-types.ts';
import { childIdOf, supervisorMachine, type SupervisorEmitted } from '../../src/machines/supervisor.ts';
import { Semaphore } from '../../src/semaphore.ts';

/** Polls a condition; fixed sleeps make tests flaky on a loaded machine. */
async function until(condition: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(2);
  }
}

// The fakes run nothing, but the create step reads the bundle's config.json and rootfs.
const BUNDLE = mkdtempSync(join(tmpdir(), 'dobby-supervisor-'));
mkdirSync(join(BUNDLE, 'rootfs'));
writeFileSync(join(BUNDLE, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', root: { path: 'rootfs' }, process: { args: ['/bin/true'], cwd: '/' } }));
// The actors write their state (exec pid files, launch configs) here, never outside the test's own dirs.
const STATE_DIR = mkdtempSync(join(tmpdir(), 'dobby-supervisor-state-'));
after(() => {
  rmSync(BUNDLE, { recursive: true, force: true });
  rmSync(STATE_DIR, { recursive: true, force: true });
});

const noCgroups: CgroupProbe = { pathsOf: async () => null, oomKillCount: async () => 0 };

function setUp(crashOnPause: { armed: boolean }) {
  const fakes = createFakes();
  const actors = createContainerActors({
    runtime: fakes.runtime,
    monitor: fakes.monitor,
    cgroups: noCgroups,
    records: new MemoryContainerRecords(),
    limiter: new Semaphore(4),
    logger: silentLogger(),
    stateDir: STATE_DIR,
  });
  const container = containerMachine.provide({
    actors: { ...actors, ...createHookActors({ registry: new PluginRegistry(), logger: silentLogger() }) },
    actions: {
      // Simulates a bug in an action: XState then leaves the container actor dead.
      replyOpOk: () => {
        if (crashOnPause.armed) {
          crashOnPause.armed = false;
          throw new Error('simulated crash inside the container actor');
        }
      },
    },
  });
  const supervisor = createActor(supervisorMachine.provide({ actors: { container } }), { input: { stopGraceMs: 20, killWaitMs: 50 } });
  const emitted: SupervisorEmitted[] = [];
  const childEvents: Array<{ descriptor: number; e: ContainerEmitted }> = [];
  const attached = new WeakSet<AnyActorRef>();
  supervisor.on('*', (e) => emitted.push(e));
  supervisor.subscribe({
    next: (snapshot) => {
      for (const [key, child] of Object.entries(snapshot.children as Record<string, AnyActorRef | undefined>)) {
        if (child === undefined || attached.has(child)) continue;
        attached.add(child);
        child.on('*', (e: ContainerEmitted) => childEvents.push({ descriptor: Number(key.slice(4)), e }));
      }
    },
    error: () => {},
  });
  supervisor.start();
  const child = (descriptor: number) => (supervisor.getSnapshot().children as Record<string, AnyActorRef | undefined>)[childIdOf(descriptor)];
  return { fakes, supervisor, emitted, childEvents, child };
}

test('descriptors follow Dobby sequence and a duplicate or invalid id is refused', async () => {
  const { supervisor, emitted, childEvents, fakes } = setUp({ armed: false });
  supervisor.send({ type: 'START', requestId: 'a', request: { id: 'one', bundle: BUNDLE } });
  supervisor.send({ type: 'START', requestId: 'b', request: { id: 'two', bundle: BUNDLE } });
  supervisor.send({ type: 'START', requestId: 'c', request: { id: 'one', bundle: BUNDLE } });
  supervisor.send({ type: 'START', requestId: 'd', request: { id: '../etc', bundle: BUNDLE } });
  supervisor.send({ type: 'COMMAND', descriptor: 5, command: { type: 'PAUSE', requestId: 'e' } });
  await until(() => childEvents.filter(({ e }) => e.type === 'reply').length === 2);
  assert.deepEqual(Object.keys(supervisor.getSnapshot().context.entries).map(Number).sort(), [734, 879]);
  const refusals = emitted.filter((e) => e.type === 'reply').map((e) => (e.type === 'reply' ? [e.requestId, e.error.code] : []));
  assert.deepEqual(refusals, [['c', 'DUPLICATE_ID'], ['d', 'INVALID_ID'], ['e', 'UNKNOWN_CONTAINER']]);
  const started = childEvents.filter(({ e }) => e.type === 'reply' && e.ok).map(({ descriptor }) => descriptor);
  assert.deepEqual(started.sort(), [734, 879]);
  supervisor.send({ type: 'SHUTDOWN', force: true });
  await until(() => Object.keys(supervisor.getSnapshot().context.entries).length === 0);
  assert.deepEqual(supervisor.getSnapshot().context.entries, {});
  fakes.host.assertClean();
  supervisor.stop();
});

test('a crashed container actor is replaced by one that re-adopts the container, same id and descriptor', async () => {
  const crash = { armed: true };
  const { supervisor, emitted, child, fakes } = setUp(crash);
  supervisor.send({ type: 'START', requestId: 's', request: { id: 'crashy', bundle: BUNDLE } });
  await until(() => child(734) !== undefined && phaseOf(child(734)?.getSnapshot().value) === 'running');
  const first = child(734);
  assert.ok(first);
  supervisor.send({ type: 'COMMAND', descriptor: 734, command: { type: 'PAUSE', requestId: 'p' } });
  await until(() => emitted.some((e) => e.type === 'restarted') && phaseOf(child(734)?.getSnapshot().value) === 'paused');
  assert.equal(crash.armed, false, 'the crash was not triggered');
  const restarted = emitted.find((e) => e.type === 'restarted');
  assert.ok(restarted && restarted.type === 'restarted' && restarted.descriptor === 734 && restarted.id === 'crashy');
  const second = child(734);
  assert.ok(second && second !== first, 'the container actor was not replaced');
  // The new actor rebuilt its state from the host: the runtime says paused.
  assert.equal(phaseOf(second.getSnapshot().value), 'paused');
  assert.equal(supervisor.getSnapshot().context.entries[734]?.id, 'crashy');
  supervisor.send({ type: 'COMMAND', descriptor: 734, command: { type: 'STOP', requestId: 'x', force: false } });
  await until(() => Object.keys(supervisor.getSnapshot().context.entries).length === 0);
  assert.deepEqual(supervisor.getSnapshot().context.entries, {});
  fakes.host.assertClean();
  supervisor.stop();
});

test('the chart shows it: a re-adopting actor puts the adoption region in adopting until it reports, the shutdown ends in shutDown', async () => {
  const crash = { armed: true };
  const { supervisor, emitted, child, fakes } = setUp(crash);
  const seen = new Set<string>();
  supervisor.subscribe((snapshot) => {
    const value = snapshot.value as { adoption: string; lifecycle: string; restarts: string };
    seen.add(`adoption.${value.adoption}`);
    seen.add(`lifecycle.${value.lifecycle}`);
  });
  supervisor.send({ type: 'START', requestId: 's', request: { id: 'readopted', bundle: BUNDLE } });
  await until(() => phaseOf(child(734)?.getSnapshot().value) === 'running');
  assert.ok(!seen.has('adoption.adopting'), 'a plain start is no adoption');
  supervisor.send({ type: 'COMMAND', descriptor: 734, command: { type: 'PAUSE', requestId: 'p' } });
  await until(() => emitted.some((e) => e.type === 'restarted') && phaseOf(child(734)?.getSnapshot().value) === 'paused');
  assert.ok(seen.has('adoption.adopting'), 'the replacement actor re-adopting was not shown');
  await until(() => supervisor.getSnapshot().matches({ adoption: 'idle' }));
  assert.equal(supervisor.getSnapshot().context.entries[734]?.adopting, false);
  supervisor.send({ type: 'SHUTDOWN', force: false });
  await until(() => supervisor.getSnapshot().matches({ lifecycle: 'shutDown' }));
  assert.ok(seen.has('lifecycle.shuttingDown'));
  assert.deepEqual(supervisor.getSnapshot().context.entries, {});
  fakes.host.assertClean();
  supervisor.stop();
});

test('the chart shows it: a crash with restartOnCrash backs off in the restarts region until the restart is due', async () => {
  const { supervisor, emitted, child, fakes } = setUp({ armed: false });
  supervisor.send({ type: 'START', requestId: 's', request: { id: 'bouncy', bundle: BUNDLE, restartOnCrash: true } });
  await until(() => phaseOf(child(734)?.getSnapshot().value) === 'running');
  assert.ok(supervisor.getSnapshot().matches({ restarts: 'idle' }));
  fakes.host.exit('bouncy', 2);
  await until(() => emitted.some((e) => e.type === 'restart-scheduled'));
  assert.ok(supervisor.getSnapshot().matches({ restarts: 'backingOff' }));
  await until(() => emitted.some((e) => e.type === 'restarting'));
  assert.ok(supervisor.getSnapshot().matches({ restarts: 'idle' }));
  await until(() => phaseOf(child(734)?.getSnapshot().value) === 'running');
  supervisor.send({ type: 'SHUTDOWN', force: false });
  await until(() => supervisor.getSnapshot().matches({ lifecycle: 'shutDown' }));
  fakes.host.assertClean();
  supervisor.stop();
});
