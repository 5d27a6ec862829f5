// An in-memory crun+conmon for tests: one shared world behind a fake runtime and a fake monitor.

import { Subject } from 'rxjs';
import { DobbyError, type ErrorCode } from '../../errors.ts';
import type { CreateOptions, CreatedContainer, MonitorExit } from '../monitor/types.ts';
import { signalNumber } from './signals.ts';
import type { ExecOptions, ExecResult, OciState, OciStatus } from './types.ts';

export type FakeVerb =
  | 'create' | 'start' | 'kill' | 'pause' | 'resume' | 'exec' | 'state' | 'list' | 'delete'
  | 'readExit' | 'monitorPid' | 'release';

const MONITOR_VERBS: ReadonlySet<FakeVerb> = new Set(['create', 'readExit', 'monitorPid', 'release']);

export interface FakeCall {
  readonly verb: FakeVerb;
  readonly id: string | undefined;
  /** Signal for kill, args for exec. */
  readonly detail?: unknown;
}

/** How the fake container's main process reacts. */
export interface FakeBehaviour {
  /** Survives SIGTERM (and SIGINT, SIGHUP), so only SIGKILL stops it. */
  readonly ignoresSigterm?: boolean;
  /** Exits on its own with this code once started (after `afterMs`, else on a microtask). */
  readonly exitOnStart?: { readonly code: number; readonly afterMs?: number };
  /** Answers a non-detached exec; default: exit 0, no output. */
  readonly exec?: (options: ExecOptions) => { exitCode: number; stdout?: string; stderr?: string };
}

export interface FakeHostOptions {
  /** Delay of every call, or per verb; 0 or absent: the call settles on a microtask. */
  readonly latencyMs?: number | Partial<Record<FakeVerb, number>>;
  /** Time from a process's death to the exit record; absent: a microtask. */
  readonly exitDelayMs?: number;
  /** Behaviour of the process a create makes, unless `setBehaviour` named the id. */
  readonly behaviour?: (id: string, bundle: string) => FakeBehaviour;
  /** Awaited before every call takes effect: plug fast-check's scheduler in here to explore orders. */
  readonly gate?: (call: FakeCall) => Promise<void>;
  /** The fake's `--root`, for messages and `OciRuntime.root`. */
  readonly root?: string;
}

interface Failure {
  readonly verb: FakeVerb;
  readonly id: string | undefined;
  readonly error: Error | undefined;
  remaining: number;
}

interface Container {
  readonly id: string;
  readonly bundle: string;
  status: OciStatus;
  pid: number;
  readonly fds: number[];
  readonly execPids: number[];
  readonly behaviour: FakeBehaviour;
  /** Signals that arrived while frozen; delivered on resume, as the v1 freezer does. */
  readonly pending: number[];
  oomKills: number;
  /** The process died; its exit is recorded (maybe after a delay). */
  dead: boolean;
}

interface MonitorRecord {
  monitorPid: number | null;
  exit: MonitorExit | null;
  oomKills: number;
}

/** Signals a process ignores unless it asked for them. */
const IGNORED_BY_DEFAULT = new Set([17, 18, 23, 28]); // SIGCHLD, SIGCONT, SIGURG, SIGWINCH
const SIGKILL = 9;
const TERMINATING = new Set([1, 2, 15]);

export interface FakeAllocations {
  readonly containers: readonly string[];
  readonly bundles: readonly string[];
  readonly pids: readonly number[];
  readonly fds: readonly number[];
  /** Ids with a live monitor process. */
  readonly monitors: readonly string[];
  /** Ids whose monitor files (exit record) were not released. */
  readonly records: readonly string[];
}

/**
 * Behaves like crun 1.8.1 with conmon on this host: created → running ⇄ paused → stopped; a
 * signal kills unless ignored (exit 128+N); signals to a paused container wait for resume; delete
 * needs created/stopped unless forced; pause/resume are idempotent. Deterministic: no timers
 * unless latency or delays are configured.
 */
export class FakeHost {
  readonly root: string;
  readonly calls: FakeCall[] = [];
  readonly exitsSubject = new Subject<MonitorExit>();
  readonly #options: FakeHostOptions;
  readonly #containers = new Map<string, Container>();
  readonly #records = new Map<string, MonitorRecord>();
  readonly #behaviours = new Map<string, FakeBehaviour>();
  #failures: Failure[] = [];
  #nextPid = 1000;

  constructor(options: FakeHostOptions = {}) {
    this.#options = options;
    this.root = options.root ?? '/run/fake-runtime';
  }

  // ---- test controls --------------------------------------------------------------------------

  /** The next `times` (default 1) calls of `verb` (for `id`, if given) fail with `error`. */
  failNext(verb: FakeVerb, error?: Error, options: { id?: string; times?: number } = {}): void {
    this.#failures.push({ verb, id: options.id, error, remaining: options.times ?? 1 });
  }

  clearFailures(): void {
    this.#failures = [];
  }

  setBehaviour(id: string, behaviour: FakeBehaviour): void {
    this.#behaviours.set(id, behaviour);
  }

  /** The main process exits on its own with `code`. */
  exit(id: string, code: number): void {
    const c = this.#live(id);
    this.#die(c, code, false);
  }

  /** The kernel OOM-kills the container (exit 137, counted in its cgroup). */
  oomKill(id: string): void {
    const c = this.#live(id);
    c.oomKills += 1;
    this.#die(c, 128 + SIGKILL, true);
  }

  /** What is still held; all empty once every container was deleted and released. */
  allocations(): FakeAllocations {
    const live = [...this.#containers.values()].filter((c) => !c.dead);
    return {
      containers: [...this.#containers.keys()].sort(),
      bundles: [...this.#containers.values()].map((c) => c.bundle).sort(),
      pids: live.flatMap((c) => [c.pid, ...c.execPids]).sort((a, b) => a - b),
      fds: live.flatMap((c) => c.fds).sort((a, b) => a - b),
      monitors: [...this.#records.entries()].filter(([, r]) => r.monitorPid !== null).map(([id]) => id).sort(),
      records: [...this.#records.keys()].sort(),
    };
  }

  /** Throws, naming what leaked, unless nothing is allocated. */
  assertClean(): void {
    const a = this.allocations();
    const leaks = Object.entries(a).filter(([, v]) => (v as readonly unknown[]).length > 0);
    if (leaks.length > 0) throw new Error(`fake host still holds: ${leaks.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}`);
  }

  /** The runtime's view of a container (what `state` would say), without recording a call. */
  peek(id: string): OciState | null {
    const c = this.#containers.get(id);
    return c === undefined ? null : this.#stateOf(c);
  }

  // ---- runtime verbs (called by FakeRuntime) -----------------------------------------------

  start(id: string): Promise<void> {
    return this.#call('start', id, undefined, () => {
      const c = this.#existing(id, 'start');
      if (c.status !== 'created') throw runtimeError('start', id, `container \`${id}\` is not in created state`);
      c.status = 'running';
      const exitOnStart = c.behaviour.exitOnStart;
      if (exitOnStart !== undefined) this.#later(exitOnStart.afterMs, () => { if (!c.dead) this.#die(c, exitOnStart.code, false); });
    });
  }

  kill(id: string, signal: string | number, all: boolean): Promise<void> {
    return this.#call('kill', id, { signal, all }, () => {
      const n = signalNumber(signal);
      const c = this.#existing(id, 'kill');
      if (c.dead) throw runtimeError('kill', id, 'open pidfd: No such process');
      if (c.status === 'paused') {
        c.pending.push(n);
        return;
      }
      this.#deliver(c, n);
    });
  }

  pause(id: string): Promise<void> {
    return this.#call('pause', id, undefined, () => {
      const c = this.#existing(id, 'pause');
      if (c.dead || c.status === 'created') throw runtimeError('pause', id, `the container \`${id}\` is not running: No such process`);
      c.status = 'paused';
    });
  }

  resume(id: string): Promise<void> {
    return this.#call('resume', id, undefined, () => {
      const c = this.#existing(id, 'resume');
      if (c.dead || c.status === 'created') throw runtimeError('resume', id, `the container \`${id}\` is not running: No such process`);
      c.status = 'running';
      for (const n of c.pending.splice(0)) if (!c.dead) this.#deliver(c, n);
    });
  }

  exec(id: string, options: ExecOptions): Promise<ExecResult> {
    return this.#call('exec', id, options.args, () => {
      const c = this.#existing(id, 'exec');
      if (c.dead || c.status !== 'running') throw runtimeError('exec', id, `the container \`${id}\` is not running`);
      if (options.detach === true) {
        const pid = this.#nextPid++;
        c.execPids.push(pid);
        return { pid, exitCode: null, stdout: '', stderr: '' };
      }
      const r = c.behaviour.exec?.(options) ?? { exitCode: 0 };
      return { pid: null, exitCode: r.exitCode, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
    });
  }

  state(id: string): Promise<OciState | null> {
    return this.#call('state', id, undefined, () => this.peek(id));
  }

  list(): Promise<OciState[]> {
    return this.#call('list', undefined, undefined, () => [...this.#containers.values()].map((c) => this.#stateOf(c)));
  }

  delete(id: string, force: boolean): Promise<void> {
    return this.#call('delete', id, { force }, () => {
      const c = this.#containers.get(id);
      if (c === undefined) {
        if (force) return;
        throw runtimeError('delete', id, `cannot open directory '${this.root}/${id}': No such file or directory`);
      }
      if (!c.dead && c.status !== 'created' && !force) {
        throw runtimeError('delete', id, `the container \`${id}\` is not in \`created\` or \`stopped\` state`);
      }
      // A created container's init, or a forced delete's victims, die of SIGKILL; the monitor sees it.
      if (!c.dead) this.#die(c, 128 + SIGKILL, false);
      this.#containers.delete(id);
    });
  }

  // ---- monitor verbs (called by FakeMonitor) -----------------------------------------------

  create(options: CreateOptions): Promise<CreatedContainer> {
    const { id } = options;
    return this.#call('create', id, { bundle: options.bundle, fds: options.fds ?? [] }, () => {
      if (this.#containers.has(id)) throw runtimeError('create', id, `container \`${id}\` already exists`);
      const record = this.#records.get(id);
      if (record !== undefined && record.monitorPid !== null) {
        throw new DobbyError('MONITOR_FAILED', `container '${id}' already has a monitor (conmon pid ${record.monitorPid})`, { containerId: id, verb: 'create' });
      }
      const monitorPid = this.#nextPid++;
      const pid = this.#nextPid++;
      this.#containers.set(id, {
        id, bundle: options.bundle, status: 'created', pid, fds: [...(options.fds ?? [])], execPids: [],
        behaviour: this.#behaviours.get(id) ?? this.#options.behaviour?.(id, options.bundle) ?? {},
        pending: [], oomKills: 0, dead: false,
      });
      this.#records.set(id, { monitorPid, exit: null, oomKills: 0 });
      return { pid, monitorPid };
    });
  }

  readExit(id: string): Promise<MonitorExit | null> {
    return this.#call('readExit', id, undefined, () => this.#records.get(id)?.exit ?? null);
  }

  monitorPid(id: string): Promise<number | null> {
    return this.#call('monitorPid', id, undefined, () => this.#records.get(id)?.monitorPid ?? null);
  }

  oomKillCount(id: string): number | null {
    return this.#containers.get(id)?.oomKills ?? this.#records.get(id)?.oomKills ?? null;
  }

  release(id: string): Promise<void> {
    // The real one kills a conmon that outlives its bound; here it just goes.
    return this.#call('release', id, undefined, () => void this.#records.delete(id));
  }

  // ---- internals ------------------------------------------------------------------------------

  async #call<T>(verb: FakeVerb, id: string | undefined, detail: unknown, effect: () => T): Promise<T> {
    const call: FakeCall = detail === undefined ? { verb, id } : { verb, id, detail };
    this.calls.push(call);
    const latency = typeof this.#options.latencyMs === 'number' ? this.#options.latencyMs : this.#options.latencyMs?.[verb];
    if (latency !== undefined && latency > 0) await new Promise((r) => setTimeout(r, latency));
    else await Promise.resolve();
    if (this.#options.gate !== undefined) await this.#options.gate(call);
    const failure = this.#takeFailure(verb, id);
    if (failure !== undefined) throw failure;
    return effect();
  }

  #takeFailure(verb: FakeVerb, id: string | undefined): Error | undefined {
    const index = this.#failures.findIndex((f) => f.verb === verb && (f.id === undefined || f.id === id));
    const failure = this.#failures[index];
    if (failure === undefined) return undefined;
    if (--failure.remaining <= 0) this.#failures.splice(index, 1);
    if (failure.error !== undefined) return failure.error;
    const code: ErrorCode = MONITOR_VERBS.has(verb) ? 'MONITOR_FAILED' : 'RUNTIME_FAILED';
    return new DobbyError(code, `fake ${verb}${id === undefined ? '' : ` ${id}`} failed (injected)`, {
      containerId: id, verb, exitStatus: 1, stderr: 'injected failure\n',
    });
  }

  #existing(id: string, verb: FakeVerb): Container {
    const c = this.#containers.get(id);
    if (c === undefined) throw runtimeError(verb, id, `error opening file \`${this.root}/${id}/status\`: No such file or directory`);
    return c;
  }

  #live(id: string): Container {
    const c = this.#containers.get(id);
    if (c === undefined || c.dead) throw new Error(`fake host: container '${id}' has no live process`);
    return c;
  }

  #deliver(c: Container, n: number): void {
    if (n === 0 || IGNORED_BY_DEFAULT.has(n)) return;
    // A created container's init is the runtime's stub, pid 1 of its namespace: only SIGKILL gets through.
    if (c.status === 'created' && n !== SIGKILL) return;
    if (n !== SIGKILL && TERMINATING.has(n) && c.behaviour.ignoresSigterm === true) return;
    this.#die(c, 128 + n, false);
  }

  #die(c: Container, code: number, oomKilled: boolean): void {
    c.dead = true;
    c.status = 'stopped';
    c.fds.length = 0;
    c.execPids.length = 0;
    c.pending.length = 0;
    const record = this.#records.get(c.id);
    const oomKills = c.oomKills;
    this.#later(this.#options.exitDelayMs, () => {
      if (record === undefined || this.#records.get(c.id) !== record) return;
      record.exit = { id: c.id, code, oomKilled };
      record.oomKills = oomKills;
      record.monitorPid = null;
      this.exitsSubject.next(record.exit);
    });
  }

  #later(ms: number | undefined, task: () => void): void {
    if (ms !== undefined && ms > 0) setTimeout(task, ms);
    else queueMicrotask(task);
  }

  #stateOf(c: Container): OciState {
    return { id: c.id, status: c.status, pid: c.dead ? 0 : c.pid, bundle: c.bundle };
  }
}

function runtimeError(verb: FakeVerb, id: string, stderrLine: string): DobbyError {
  return new DobbyError('RUNTIME_FAILED', `crun ${verb} ${id} failed (exit 1): ${stderrLine}`, {
    containerId: id, verb, exitStatus: 1, stderr: `${stderrLine}\n`,
  });
}
