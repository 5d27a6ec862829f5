// Races between commands, exits and shutdown, interleaved by fast-check's scheduler: every runtime
// call of the fake host waits for the scheduler, so each run tries another order of the same calls.
// Whatever the order: every caller gets an answer, each container's events keep the contract's
// order, and once everything settles nothing is left on the host.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import type { CgroupProbe } from '../../src/actors/container-actors.ts';
import type { LifecycleEvent } from '../../src/bus.ts';
import { createFakes, type Fakes } from '../../src/drivers/monitor/fake-monitor.ts';
import { MemoryContainerRecords } from '../../src/drivers/records/container-records.ts';
import { DobbyError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { createContainerManager, type Manager } from '../../src/manager.ts';

const BUNDLE = mkdtempSync(join(tmpdir(), 'dobby-races-'));
mkdirSync(join(BUNDLE, 'rootfs'));
writeFileSync(join(BUNDLE, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', root: { path: 'rootfs' }, process: { args: ['/bin/true'], cwd: '/' } }));
after(() => rmSync(BUNDLE, { recursive: true, force: true }));

const noCgroups: CgroupProbe = { pathsOf: async () => null, oomKillCount: async () => 0 };

interface Rig {
  readonly fakes: Fakes;
  readonly manager: Manager;
  readonly events: LifecycleEvent[];
  close(): void;
}

function rig(s: fc.Scheduler): Rig {
  // Every runtime and monitor call waits for the scheduler to let it through.
  const fakes = createFakes({ gate: (call) => s.schedule(Promise.resolve(), `${call.verb} ${call.id ?? ''}`).then(() => undefined) });
  const manager = createContainerManager({
    runtime: fakes.runtime,
    monitor: fakes.monitor,
    cgroups: noCgroups,
    records: new MemoryContainerRecords(),
    logger: silentLogger(),
    stateDir: BUNDLE,
    stopGraceMs: 5,
    killWaitMs: 50,
  });
  const events: LifecycleEvent[] = [];
  const sub = manager.events$.subscribe((e) => events.push(e));
  return { fakes, manager, events, close: () => { sub.unsubscribe(); manager.close(); } };
}

/** A call's outcome: its value, or the code of the DobbyError it was refused with. */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    const value = await p;
    return `ok${value === undefined ? '' : `:${typeof value}`}`;
  } catch (err) {
    assert.ok(err instanceof DobbyError, `a caller got something that is not a DobbyError: ${String(err)}`);
    return err.code;
  }
}

/** Runs `action` once the scheduler reaches it, so it lands anywhere among the runtime calls. */
function later<T>(s: fc.Scheduler, label: string, action: () => Promise<T>): Promise<T> {
  return s.schedule(Promise.resolve(), label).then(action);
}

const descriptorOf = (r: Rig, id: string): number => r.manager.findById(id)?.descriptor ?? 1;

/** Each life of a container: created, started, (paused, resumed)*, exited, deleted — or a clean failure. */
function checkEventOrder(events: readonly LifecycleEvent[]): void {
  const lives = new Map<string, string[][]>();
  for (const e of events) {
    if (e.type === 'hook') continue;
    const key = `${e.id}#${e.descriptor}`;
    const list = lives.get(key) ?? [[]];
    list.at(-1)!.push(e.type);
    if (e.type === 'deleted') list.push([]);
    lives.set(key, list);
  }
  for (const [key, list] of lives) {
    for (const types of list.filter((l) => l.length > 0)) {
      const line = types.join(' ');
      const ok = /^created started( paused resumed)*( paused)? exited deleted$/.test(line) || /^(created )?start-failed deleted$/.test(line);
      assert.ok(ok, `${key}: unexpected event order: ${line}`);
    }
  }
}

/** Drives every scheduled call until `all` settles; then shuts down and checks the host is clean. */
async function finish(s: fc.Scheduler, r: Rig, all: Promise<unknown>): Promise<void> {
  await s.waitFor(all);
  const shutdown = r.manager.shutdown({ force: true, timeoutMs: 5_000 });
  await s.waitFor(shutdown);
  assert.deepEqual(r.manager.list(), [], 'a container outlived the shutdown');
  r.fakes.host.assertClean();
  checkEventOrder(r.events);
}

const RUNS = { numRuns: 60 };

describe('races, tried in many orders', () => {
  test('stop during start: the start is answered (descriptor or refusal) and the stop wins', async () => {
    await fc.assert(fc.asyncProperty(fc.scheduler(), fc.boolean(), async (s, force) => {
      const r = rig(s);
      try {
        const start = outcome(r.manager.start({ id: 'a', bundle: BUNDLE }));
        const stop = outcome(later(s, 'stop', () => r.manager.stop(descriptorOf(r, 'a'), force)));
        const [started, stopped] = await s.waitFor(Promise.all([start, stop]));
        assert.ok(['ok:number', 'ABORTED', 'RUNTIME_FAILED'].includes(started), `start: ${started}`);
        assert.ok(['ok', 'UNKNOWN_CONTAINER', 'ILLEGAL_STATE'].includes(stopped), `stop: ${stopped}`);
        // An accepted stop ends the container by itself, without the shutdown's help.
        if (stopped === 'ok') {
          await s.waitFor(r.manager.whenIdle(5_000));
          assert.deepEqual(r.manager.list(), [], 'an accepted stop did not end the container');
        }
        await finish(s, r, Promise.resolve());
      } finally {
        r.close();
      }
    }), RUNS);
  });

  test('pause during stop, and two stops: every call answered, the container ends', async () => {
    await fc.assert(fc.asyncProperty(fc.scheduler(), fc.boolean(), fc.boolean(), async (s, force1, force2) => {
      const r = rig(s);
      try {
        const d = await s.waitFor(r.manager.start({ id: 'b', bundle: BUNDLE }));
        const calls = Promise.all([
          outcome(r.manager.stop(d, force1)),
          outcome(later(s, 'pause', () => r.manager.pause(d))),
          outcome(later(s, 'stop2', () => r.manager.stop(d, force2))),
        ]);
        const [first, pause, second] = await s.waitFor(calls);
        assert.equal(first, 'ok');
        assert.ok(['ok', 'ILLEGAL_STATE', 'UNKNOWN_CONTAINER', 'RUNTIME_FAILED'].includes(pause), `pause: ${pause}`);
        assert.ok(['ok', 'UNKNOWN_CONTAINER'].includes(second), `second stop: ${second}`);
        await finish(s, r, Promise.resolve());
        assert.equal(r.events.filter((e) => e.type === 'exited').length, 1, 'one exit for one life');
      } finally {
        r.close();
      }
    }), RUNS);
  });

  test('stop during exit: the stop is answered and the exit status is the one the container gave', async () => {
    await fc.assert(fc.asyncProperty(fc.scheduler(), fc.integer({ min: 0, max: 100 }), async (s, code) => {
      const r = rig(s);
      try {
        const d = await s.waitFor(r.manager.start({ id: 'c', bundle: BUNDLE }));
        let exitedByItself = false;
        const exit = later(s, 'exit', async () => {
          // The stop may have ended it already: only a live process can exit.
          if (r.fakes.host.peek('c')?.status !== 'running') return;
          r.fakes.host.exit('c', code);
          exitedByItself = true;
        });
        const stop = outcome(r.manager.stop(d, false));
        const [, stopped] = await s.waitFor(Promise.all([exit, stop]));
        assert.ok(['ok', 'UNKNOWN_CONTAINER'].includes(stopped), `stop: ${stopped}`);
        await finish(s, r, Promise.resolve());
        const exited = r.events.filter((e) => e.type === 'exited');
        assert.equal(exited.length, 1);
        const status = exited[0] as Extract<LifecycleEvent, { type: 'exited' }>;
        if (exitedByItself) assert.equal(status.exitCode, code, 'the exit status the container gave');
        else assert.equal(status.signal, 15, 'ended by the stop\'s SIGTERM');
      } finally {
        r.close();
      }
    }), RUNS);
  });

  test('a start with an id that is being deleted: refused while the old one is there, never two at once', async () => {
    await fc.assert(fc.asyncProperty(fc.scheduler(), async (s) => {
      const r = rig(s);
      try {
        const d = await s.waitFor(r.manager.start({ id: 'd', bundle: BUNDLE }));
        let most = 0;
        const sub = r.manager.events$.subscribe(() => (most = Math.max(most, r.manager.list().filter((c) => c.id === 'd').length)));
        const stop = outcome(r.manager.stop(d, true));
        const again = outcome(later(s, 'start again', () => r.manager.start({ id: 'd', bundle: BUNDLE })));
        const [stopped, restarted] = await s.waitFor(Promise.all([stop, again]));
        sub.unsubscribe();
        assert.equal(stopped, 'ok');
        assert.ok(['ok:number', 'DUPLICATE_ID'].includes(restarted), `second start: ${restarted}`);
        assert.ok(most <= 1, 'two containers with one id');
        await finish(s, r, Promise.resolve());
      } finally {
        r.close();
      }
    }), RUNS);
  });

  test('Shutdown during starts: every start is answered and nothing survives', async () => {
    await fc.assert(fc.asyncProperty(fc.scheduler(), fc.integer({ min: 1, max: 4 }), async (s, n) => {
      const r = rig(s);
      try {
        const starts = Array.from({ length: n }, (_, i) => outcome(r.manager.start({ id: `e${i}`, bundle: BUNDLE })));
        const shutdown = later(s, 'shutdown', () => r.manager.shutdown({ timeoutMs: 5_000 }));
        const [outcomes] = await s.waitFor(Promise.all([Promise.all(starts), shutdown]));
        for (const o of outcomes) assert.ok(['ok:number', 'ABORTED', 'RUNTIME_FAILED', 'ILLEGAL_STATE'].includes(o), `start: ${o}`);
        await finish(s, r, Promise.resolve());
      } finally {
        r.close();
      }
    }), RUNS);
  });
});
