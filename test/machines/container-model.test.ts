// Model-based test of the container machine (through the supervisor and manager) over the fake
// runtime and monitor: random commands, exits, OOM kills, runtime failures and plugin hook failures
// (throw, false, never resolving), checked against a model.

import assert from 'node:assert/strict';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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
import { PluginRegistry } from '../../src/plugins/registry.ts';
import { HOOK_POINTS, asyncHint, syncHint, type DobbyPlugin, type HookPoint } from '../../src/plugins/types.ts';

const ID = 'model';
// The manager checks that a bundle has a config.json before it starts anything; the fakes ignore it.
const BUNDLE = mkdtempSync(join(tmpdir(), 'dobby-model-'));
// `faulty` fails where told; `keeper` (async hooks, after faulty) holds an fd from postConstruction to preDestruction.
mkdirSync(join(BUNDLE, 'rootfs'));
writeFileSync(join(BUNDLE, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', root: { path: 'rootfs' }, process: { args: ['/bin/true'], cwd: '/' }, rdkPlugins: { faulty: { required: true }, keeper: { required: true, dependsOn: ['faulty'] } } }));
after(() => rmSync(BUNDLE, { recursive: true, force: true }));

type HookFaultKind = 'throw' | 'false' | 'hang';
interface HookFault {
  readonly point: HookPoint;
  readonly kind: HookFaultKind;
}

/** What the test plugins saw: hook points per start, and the fd the keeper holds. */
interface PluginLog {
  fault: HookFault | null;
  points: HookPoint[][];
  heldFd: number | null;
  keeperCalls: number;
}

const ALL_SYNC = HOOK_POINTS.reduce((bits, p) => bits | syncHint(p), 0);
const ALL_ASYNC = HOOK_POINTS.reduce((bits, p) => bits | asyncHint(p), 0);

function testPlugins(log: PluginLog): DobbyPlugin[] {
  const faulty: Record<string, unknown> = { name: 'faulty', hookHints: ALL_SYNC };
  for (const point of HOOK_POINTS) {
    faulty[point] = () => {
      if (point === 'postConstruction') log.points.push([]);
      log.points.at(-1)?.push(point);
      if (log.fault?.point !== point) return true;
      if (log.fault.kind === 'throw') throw new Error(`injected ${point} failure`);
      if (log.fault.kind === 'false') return false;
      return new Promise(() => {});
    };
  }
  const keeper: DobbyPlugin = {
    name: 'keeper',
    hookHints: ALL_ASYNC,
    postConstruction: (_ctx, state) => {
      log.keeperCalls++;
      assert.equal(log.heldFd, null, 'a new start began while the last one still held its fd');
      log.heldFd = openSync('/dev/null', 'r');
      state.addFileDescriptor('keeper', log.heldFd);
    },
    preStart: () => void log.keeperCalls++,
    postStart: () => void log.keeperCalls++,
    postStop: () => void log.keeperCalls++,
    preDestruction: () => {
      log.keeperCalls++;
      if (log.heldFd !== null) closeSync(log.heldFd);
      log.heldFd = null;
    },
  };
  return [faulty as unknown as DobbyPlugin, keeper];
}

/** One start's hook points, given where (if anywhere) a hook failed. */
function checkHookPoints(points: readonly HookPoint[]): void {
  const line = points.join(' ');
  const ok = [
    /^postConstruction preStart postStart postStop preDestruction$/, // ran and ended
    /^postConstruction preDestruction$/, // failed before create, or create failed
    /^postConstruction preStart postStop preDestruction$/, // failed after create
    /^postConstruction preStart postStart postStop preDestruction$/,
  ].some((r) => r.test(line));
  assert.ok(ok, `unexpected hook order: ${line}`);
}

type ModelPhase = 'none' | 'running' | 'paused';

interface Model {
  phase: ModelPhase;
  descriptor: number | null;
}

interface Real {
  readonly fakes: Fakes;
  readonly manager: Manager;
  readonly events: LifecycleEvent[];
  readonly plugins: PluginLog;
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
  readonly hookFault: HookFault | null;
  constructor(ignoresTerm: boolean, fail: FakeVerb | null, hookFault: HookFault | null = null) {
    this.ignoresTerm = ignoresTerm;
    this.fail = fail;
    this.hookFault = hookFault;
  }
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    if (model.phase !== 'none') {
      await expectRefusal(real.manager.start({ id: ID, bundle: BUNDLE }), 'DUPLICATE_ID');
      return;
    }
    real.fakes.host.setBehaviour(ID, { ignoresSigterm: this.ignoresTerm });
    // A fault stays armed for this container's whole run: postStop and preDestruction faults fire at its end.
    real.plugins.fault = this.hookFault;
    const abortingHook = this.hookFault?.point === 'postConstruction' || this.hookFault?.point === 'preStart';
    if (abortingHook) {
      await expectRefusal(real.manager.start({ id: ID, bundle: BUNDLE }), 'ABORTED');
    } else if (this.fail !== null) {
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
  toString = () =>
    `start(ignoresTerm=${this.ignoresTerm}, fail=${this.fail}${this.hookFault === null ? '' : `, hook=${this.hookFault.point}:${this.hookFault.kind}`})`;
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

const hookFault: fc.Arbitrary<HookFault | null> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(null) },
  { weight: 2, arbitrary: fc.record({ point: fc.constantFrom(...HOOK_POINTS), kind: fc.constantFrom<HookFaultKind>('throw', 'false', 'hang') }) },
);

const commands = [
  fc.tuple(fc.boolean(), fc.constantFrom<FakeVerb | null>(null, null, null, 'create', 'start'), hookFault).map(([t, f, h]) => new StartCmd(t, f, h)),
  fc.boolean().map((f) => new FreezerCmd('pause', f)),
  fc.boolean().map((f) => new FreezerCmd('resume', f)),
  fc.tuple(fc.boolean(), fc.boolean()).map(([force, fail]) => new StopCmd(force, fail)),
  fc.constant(new ExecCmd()),
  fc.oneof(fc.integer({ min: 0, max: 127 }), fc.constant<'oom'>('oom')).map((c) => new ExitCmd(c)),
];

/** Each start's events must read created, started, (paused, resumed)*, exited, deleted — or fail cleanly. */
function checkEventOrder(events: readonly LifecycleEvent[]): void {
  const byDescriptor = new Map<number, string[]>();
  for (const e of events.filter((x) => x.type !== 'hook')) byDescriptor.set(e.descriptor, [...(byDescriptor.get(e.descriptor) ?? []), e.type]);
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
      const log: PluginLog = { fault: null, points: [], heldFd: null, keeperCalls: 0 };
      const registry = new PluginRegistry();
      for (const plugin of testPlugins(log)) registry.register(plugin);
      const fdsBefore = readdirSync('/proc/self/fd').length;
      const manager = createContainerManager({
        runtime: fakes.runtime,
        monitor: fakes.monitor,
        cgroups: noCgroups,
        records: new MemoryContainerRecords(),
        logger: silentLogger(),
        stateDir: BUNDLE,
        stopGraceMs: 15,
        killWaitMs: 50,
        plugins: registry,
        hookTimeoutMs: 30,
      });
      const events: LifecycleEvent[] = [];
      const sub = manager.events$.subscribe((e) => events.push(e));
      const real: Real = { fakes, manager, events, plugins: log };
      try {
        await fc.asyncModelRun(() => ({ model: { phase: 'none' as ModelPhase, descriptor: null }, real }), cmds);
        // Whatever is left is stopped: every start ends in exactly one exited then one deleted.
        await manager.shutdown({ timeoutMs: 5_000 });
        assert.equal(manager.list().length, 0);
        fakes.host.assertClean();
        checkEventOrder(events);
        log.points.forEach(checkHookPoints);
        assert.equal(log.heldFd, null, 'preDestruction did not run after a postConstruction');
        assert.equal(readdirSync('/proc/self/fd').length, fdsBefore, 'an fd was left open');
        const hookEvents = (plugin: string) => events.filter((e) => e.type === 'hook' && e.plugin === plugin).length;
        assert.equal(hookEvents('faulty'), log.points.flat().length, 'every hook run is on the bus');
        assert.equal(hookEvents('keeper'), log.keeperCalls, 'every hook run is on the bus');
      } finally {
        sub.unsubscribe();
        manager.close();
      }
    }),
    { numRuns: 100 },
  );
});
