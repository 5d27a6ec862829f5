// Model-based test of the container machine (through the supervisor and manager) over the fake
// runtime and monitor: random commands, exits, OOM kills and runtime failures, checked against a model.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import type { LifecycleEvent } from '../../src/bus.ts';
import { createFakes, type Fakes } from '../../src/drivers/monitor/fake-monitor.ts';
import type { FakeVerb } from '../../src/drivers/runtime/fake-host.ts';
import { DobbyError } from '../../src/errors.ts';
import { MemoryContainerRecords } from '../../src/drivers/records/container-records.ts';
import { silentLogger } from '../../src/log.ts';
import { createContainerManager, type Manager } from '../../src/manager.ts';
import type { ContainerPhase } from '../../src/manager-types.ts';
import type { CgroupProbe } from '../../src/actors/container-actors.ts';

const ID = 'model';
// The manager checks that a bundle has a config.json before it starts anything; the fakes ignore it.
const BUNDLE = mkdtempSync(join(tmpdir(), 'dobby-model-'));
writeFileSync(join(BUNDLE, 'config.json'), '{}');
after(() => rmSync(BUNDLE, { recursive: true, force: true }));

type ModelPhase = 'none' | 'running' | 'paused';

interface Model {
  phase: ModelPhase;
  descriptor: number | null;
}

interface Real {
  readonly fakes: Fakes;
  readonly manager: Manager;
  readonly events: LifecycleEvent[];
}

const injected = (verb: string) => new DobbyError('RUNTIME_FAILED', `injected ${verb} failure`, { verb });

/** The fakes keep OOM counts themselves; the cgroup probe is not what this test is about. */
const noCgroups: CgroupProbe = { pathsOf: async () => null, oomKillCount: async () => 0 };

function phaseOf(real: Real): ContainerPhase | 'none' {
  return real.manager.findById(ID)?.phase ?? 'none';
}

/** Waits until the container is in a resting phase (running, paused, or gone). */
async function settle(real: Real): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    const phase = phaseOf(real);
    if (phase === 'none' || phase === 'running' || phase === 'paused') {
      await sleep(1);
      if (phaseOf(real) === phase) return;
    }
    await sleep(2);
  }
  throw new Error(`container did not settle; it is ${phaseOf(real)}`);
}

async function expectRefusal(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => err instanceof DobbyError && err.code === code);
}

function checkInvariants(model: Model, real: Real): void {
  assert.equal(phaseOf(real), model.phase, 'model and machine disagree on the phase');
  if (model.phase === 'none') real.fakes.host.assertClean();
}

class StartCmd implements fc.AsyncCommand<Model, Real> {
  readonly ignoresTerm: boolean;
  readonly fail: FakeVerb | null;
  constructor(ignoresTerm: boolean, fail: FakeVerb | null) {
    this.ignoresTerm = ignoresTerm;
    this.fail = fail;
  }
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    if (model.phase !== 'none') {
      await expectRefusal(real.manager.start({ id: ID, bundle: BUNDLE }), 'DUPLICATE_ID');
      return;
    }
    real.fakes.host.setBehaviour(ID, { ignoresSigterm: this.ignoresTerm });
    if (this.fail !== null) {
      real.fakes.host.failNext(this.fail, injected(this.fail), { id: ID });
      await expectRefusal(real.manager.start({ id: ID, bundle: BUNDLE }), 'RUNTIME_FAILED');
      real.fakes.host.clearFailures();
    } else {
      model.descriptor = await real.manager.start({ id: ID, bundle: BUNDLE });
      model.phase = 'running';
    }
    await settle(real);
    checkInvariants(model, real);
  }
  toString = () => `start(ignoresTerm=${this.ignoresTerm}, fail=${this.fail})`;
}

/** Pause (running → paused) or resume (paused → running), optionally with the runtime call failing. */
class FreezerCmd implements fc.AsyncCommand<Model, Real> {
  readonly verb: 'pause' | 'resume';
  readonly fail: boolean;
  constructor(verb: 'pause' | 'resume', fail: boolean) {
    this.verb = verb;
    this.fail = fail;
  }
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const d = model.descriptor ?? 1;
    const [from, to]: [ModelPhase, ModelPhase] = this.verb === 'pause' ? ['running', 'paused'] : ['paused', 'running'];
    const call = () => (this.verb === 'pause' ? real.manager.pause(d) : real.manager.resume(d));
    if (model.phase === 'none') return expectRefusal(call(), 'UNKNOWN_CONTAINER');
    if (model.phase !== from) return expectRefusal(call(), 'ILLEGAL_STATE');
    if (this.fail) {
      real.fakes.host.failNext(this.verb, injected(this.verb), { id: ID });
      await expectRefusal(call(), 'RUNTIME_FAILED');
    } else {
      await call();
      model.phase = to;
    }
    await settle(real);
    checkInvariants(model, real);
  }
  toString = () => `${this.verb}(fail=${this.fail})`;
}

class StopCmd implements fc.AsyncCommand<Model, Real> {
  readonly force: boolean;
  readonly failFirstKill: boolean;
  constructor(force: boolean, failFirstKill: boolean) {
    this.force = force;
    this.failFirstKill = failFirstKill;
  }
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const d = model.descriptor ?? 1;
    if (model.phase === 'none') return expectRefusal(real.manager.stop(d, this.force), 'UNKNOWN_CONTAINER');
    if (this.failFirstKill) real.fakes.host.failNext('kill', injected('kill'), { id: ID });
    await real.manager.stop(d, this.force);
    real.fakes.host.clearFailures();
    model.phase = 'none';
    model.descriptor = null;
    await settle(real);
    checkInvariants(model, real);
  }
  toString = () => `stop(force=${this.force}, failFirstKill=${this.failFirstKill})`;
}

class ExecCmd implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const d = model.descriptor ?? 1;
    if (model.phase === 'none') return expectRefusal(real.manager.exec(d, { args: ['/bin/true'] }), 'UNKNOWN_CONTAINER');
    if (model.phase === 'paused') return expectRefusal(real.manager.exec(d, { args: ['/bin/true'] }), 'ILLEGAL_STATE');
    const pid = await real.manager.exec(d, { args: ['/bin/true'] });
    assert.ok(pid > 0);
    checkInvariants(model, real);
  }
  toString = () => 'exec';
}

/** The container's process ends by itself: a normal exit or the kernel's OOM killer. */
class ExitCmd implements fc.AsyncCommand<Model, Real> {
  readonly code: number | 'oom';
  constructor(code: number | 'oom') {
    this.code = code;
  }
  check = (model: Readonly<Model>) => model.phase === 'running';
  async run(model: Model, real: Real): Promise<void> {
    if (this.code === 'oom') real.fakes.host.oomKill(ID);
    else real.fakes.host.exit(ID, this.code);
    model.phase = 'none';
    model.descriptor = null;
    await settle(real);
    checkInvariants(model, real);
  }
  toString = () => `exit(${this.code})`;
}

const commands = [
  fc.tuple(fc.boolean(), fc.constantFrom<FakeVerb | null>(null, null, null, 'create', 'start')).map(([t, f]) => new StartCmd(t, f)),
  fc.boolean().map((f) => new FreezerCmd('pause', f)),
  fc.boolean().map((f) => new FreezerCmd('resume', f)),
  fc.tuple(fc.boolean(), fc.boolean()).map(([force, fail]) => new StopCmd(force, fail)),
  fc.constant(new ExecCmd()),
  fc.oneof(fc.integer({ min: 0, max: 127 }), fc.constant<'oom'>('oom')).map((c) => new ExitCmd(c)),
];

/** Each start's events must read created, started, (paused, resumed)*, exited, deleted — or fail cleanly. */
function checkEventOrder(events: readonly LifecycleEvent[]): void {
  const byDescriptor = new Map<number, string[]>();
  for (const e of events) byDescriptor.set(e.descriptor, [...(byDescriptor.get(e.descriptor) ?? []), e.type]);
  for (const [descriptor, types] of byDescriptor) {
    const line = types.join(' ');
    const ok = /^created started( paused resumed)*( paused)? exited deleted$/.test(line) || /^(created )?start-failed deleted$/.test(line);
    assert.ok(ok, `descriptor ${descriptor}: unexpected event order: ${line}`);
  }
}

test('the container machine agrees with its model under random commands and failures', async () => {
  await fc.assert(
    fc.asyncProperty(fc.commands(commands, { maxCommands: 25 }), async (cmds) => {
      const fakes = createFakes();
      const manager = createContainerManager({
        runtime: fakes.runtime,
        monitor: fakes.monitor,
        cgroups: noCgroups,
        records: new MemoryContainerRecords(),
        logger: silentLogger(),
        stateDir: BUNDLE,
        stopGraceMs: 15,
        killWaitMs: 50,
      });
      const events: LifecycleEvent[] = [];
      const sub = manager.events$.subscribe((e) => events.push(e));
      const real: Real = { fakes, manager, events };
      try {
        await fc.asyncModelRun(() => ({ model: { phase: 'none' as ModelPhase, descriptor: null }, real }), cmds);
        // Whatever is left is stopped: every start ends in exactly one exited then one deleted.
        await manager.shutdown({ timeoutMs: 5_000 });
        assert.equal(manager.list().length, 0);
        fakes.host.assertClean();
        checkEventOrder(events);
      } finally {
        sub.unsubscribe();
        manager.close();
      }
    }),
    { numRuns: 100 },
  );
});
