// The conmon monitor driver: creates containers through conmon and reports their exits from its exit dir.

import { fstat, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Observable, Subject } from 'rxjs';
import { assertValidId } from '../../container-id.ts';
import { DobbyError } from '../../errors.ts';
import { cgroupPathsOfPid, readOomKillCount, type CgroupPaths } from '../cgroup/index.ts';
import { isMissingExecutable, resolveExecutable, summariseStderr, type DriverLogger } from '../process.ts';
import type { OciRuntime } from '../runtime/types.ts';
import { runtimeExec } from '../runtime/sealed-runtime.ts';
import {
  conmonPaths, isAlive, readPid, removeConmonFiles, waitGone, type ConmonPaths,
} from './conmon-files.ts';
import { readSmallText, statOrNull } from '../small-file.ts';
import { launchConmon, type ConmonVerdict } from './conmon-spawn.ts';
import { runDetachedScript } from './run-detached.ts';
import { writeShadowBundle } from './shadow-bundle.ts';
import { ExitWatcher } from './exit-watcher.ts';
import type { CreateOptions, CreatedContainer, Monitor, MonitorExit } from './types.ts';

export interface ConmonMonitorOptions {
  /** `conmon` on PATH when absent. */
  readonly conmonPath?: string;
  /** Gives conmon the runtime's binary and state root; cleans up after a failed create. */
  readonly runtime: OciRuntime;
  /** exits/, pids/, sockets/ and persist/<id>/ live under it. */
  readonly stateDir: string;
  readonly logger?: DriverLogger;
  /** How long a create may take before it is abandoned (default 30 s). */
  readonly createTimeoutMs?: number;
  /** How long release waits for conmon to go before killing it (default 2 s). */
  readonly releaseWaitMs?: number;
}

const COMM = 'conmon';

export class ConmonMonitor implements Monitor {
  readonly exits$: Observable<MonitorExit>;
  readonly stateDir: string;
  readonly #options: ConmonMonitorOptions;
  readonly #subject = new Subject<MonitorExit>();
  readonly #cgroups = new Map<string, CgroupPaths>();
  #conmon: string | null;
  #watcher: ExitWatcher | null = null;
  #closed = false;

  constructor(options: ConmonMonitorOptions) {
    this.#options = options;
    this.stateDir = options.stateDir;
    this.#conmon = resolveExecutable(options.conmonPath ?? COMM);
    // Once, at construction: the watcher needs exits/ to exist, and create should not mkdir each time.
    for (const dir of ['exits', 'pids', 'sockets', 'persist']) mkdirSync(join(options.stateDir, dir), { recursive: true });
    // Written with the dirs, not by the first start that asks for it (which checks it is still there).
    runDetachedScript(options.stateDir);
    // Watching starts with the first subscriber and lasts until close().
    this.exits$ = new Observable<MonitorExit>((subscriber) => {
      this.#startWatching();
      return this.#subject.subscribe(subscriber);
    });
  }

  async create(options: CreateOptions): Promise<CreatedContainer> {
    const { id } = options;
    assertValidId(id, { verb: 'create' });
    const conmon = this.#conmonOrThrow(id);
    const runtimeBinary = resolveExecutable(this.#options.runtime.binary);
    if (runtimeBinary === null) {
      throw new DobbyError('RUNTIME_MISSING', `OCI runtime '${this.#options.runtime.binary}' not found or not executable; install it (apt-get install ${this.#options.runtime.flavour})`, { containerId: id, verb: 'create' });
    }
    const paths = conmonPaths(this.stateDir, id);
    await this.#refuseIfInUse(id);
    this.#watcher?.forget(id);
    this.#cgroups.delete(id);
    // Synchronous (small-file.ts says why): a stale exit file, a persist dir left behind.
    rmSync(paths.exitFile, { force: true });
    rmSync(paths.persistDir, { recursive: true, force: true });

    // conmon and the runtime work in a bundle dir of ours (config, FIFOs, attach socket): the
    // caller's bundle is only read, and containers made from one bundle dir share nothing.
    const bundle = join(paths.persistDir, 'bundle');
    await assertOpen(id, options.fds ?? []);
    try {
      await writeShadowBundle(bundle, options.bundle, {
        ...(options.config === undefined ? {} : { config: options.config }),
        ...(options.configPath === undefined ? {} : { configPath: options.configPath }),
      });
    } catch (err) {
      await rm(paths.persistDir, { recursive: true, force: true });
      throw new DobbyError('BUNDLE_INVALID', `the config of container '${id}' could not be read or copied to ${bundle}: ${String(err)}`, { containerId: id, verb: 'create', cause: err });
    }
    if (options.ready !== undefined) {
      try {
        await options.ready;
      } catch (err) {
        await rm(paths.persistDir, { recursive: true, force: true });
        throw err;
      }
    }
    let verdict: ConmonVerdict;
    // conmon runs the runtime's create before its verdict: the exec path is needed until then only.
    const runtime = runtimeExec(runtimeBinary, { logger: this.#options.logger, linkDir: this.#options.runtime.execDir });
    const runDetached = options.start === true ? runDetachedScript(this.stateDir) : null;
    try {
      const verdictOf = launchConmon({
        conmon, id, runtimeBinary: runtime.path, runtimeRoot: this.#options.runtime.root, bundle, logPath: options.logPath,
        ...(options.logDriver === undefined ? {} : { logDriver: options.logDriver }),
        ...(options.logSizeMax === undefined ? {} : { logSizeMax: options.logSizeMax }),
        ...(options.logTotalMax === undefined ? {} : { logTotalMax: options.logTotalMax }),
        ...(options.terminal === undefined ? {} : { terminal: options.terminal }),
        fds: options.fds ?? [], paths, timeoutMs: this.#options.createTimeoutMs ?? 30_000,
        ...(runDetached === null ? {} : { runDetached }),
      });
      // conmon is running (or failed to start): the next create may go on meanwhile.
      options.launched?.();
      verdict = await verdictOf;
    } catch (err) {
      runtime.release();
      await this.#cleanUpFailedCreate(id, paths);
      if (isMissingExecutable(err)) {
        this.#conmon = null;
        throw this.#missing(id, err);
      }
      if ((err as NodeJS.ErrnoException).code === 'EBADF') {
        throw new DobbyError('INVALID_ARGUMENT', `a descriptor to pass into container '${id}' is not open (fds ${JSON.stringify(options.fds ?? [])})`, { containerId: id, verb: 'create', cause: err });
      }
      throw new DobbyError('MONITOR_FAILED', `conmon for container '${id}' could not be started: ${String(err)}`, { containerId: id, verb: 'create', cause: err });
    }
    runtime.release();
    if (verdict.kind !== 'created') {
      await this.#cleanUpFailedCreate(id, paths);
      throw failureOf(id, basename(runtimeBinary), verdict);
    }
    const [monitorPid, cgroup] = await Promise.all([readPid(paths.conmonPidFile), cgroupPathsOfPid(verdict.pid)]);
    if (cgroup !== null) {
      this.#cgroups.set(id, cgroup);
      // Kept on disk too, so an exit read after a daemon restart can still find the OOM counter;
      // losing it only loses that, so it must not fail a container that was created.
      try {
        writeFileSync(paths.cgroupFile, JSON.stringify(cgroup));
      } catch (err) {
        this.#options.logger?.warn({ err, containerId: id }, 'could not record the container cgroup');
      }
    }
    return { pid: verdict.pid, monitorPid: monitorPid ?? 0, cgroup, ...(runDetached === null ? {} : { started: true }) };
  }

  async readExit(id: string): Promise<MonitorExit | null> {
    const code = parseExitCode(readSmallText(conmonPaths(this.stateDir, id).exitFile));
    if (code === null) return null;
    return { id, code, oomKilled: await this.#oomKilled(id) };
  }

  async monitorPid(id: string): Promise<number | null> {
    const pid = await readPid(conmonPaths(this.stateDir, id).conmonPidFile);
    return pid !== null && (await isAlive(pid, COMM)) ? pid : null;
  }

  /** The container's cgroups as seen at create (from memory, else from the persist dir). */
  async cgroupPaths(id: string): Promise<CgroupPaths | null> {
    const cached = this.#cgroups.get(id);
    if (cached !== undefined) return cached;
    const text = readSmallText(conmonPaths(this.stateDir, id).cgroupFile);
    if (text === null) return null;
    try {
      return JSON.parse(text) as CgroupPaths;
    } catch {
      return null;
    }
  }

  /**
   * OOM kills the kernel counted in the container's cgroups; null when unknown. Read it before
   * the runtime deletes the container: its cgroups go with it.
   */
  async oomKillCount(id: string): Promise<number | null> {
    const paths = await this.cgroupPaths(id);
    return paths === null ? null : readOomKillCount(paths);
  }

  async release(id: string): Promise<void> {
    const paths = conmonPaths(this.stateDir, id);
    const pid = await readPid(paths.conmonPidFile);
    if (pid !== null && !(await waitGone(pid, this.#options.releaseWaitMs ?? 2000, COMM))) {
      this.#options.logger?.warn({ containerId: id, monitorPid: pid }, 'conmon still running at release; killing it');
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
      await waitGone(pid, 500, COMM);
    }
    await removeConmonFiles(paths);
    this.#cgroups.delete(id);
    this.#watcher?.forget(id);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher?.close();
    this.#subject.complete();
  }

  #startWatching(): void {
    if (this.#watcher !== null || this.#closed) return;
    this.#watcher = new ExitWatcher({
      dir: join(this.stateDir, 'exits'),
      inspect: (name) => this.#inspectExit(name),
      onError: (err) => this.#options.logger?.warn({ err }, 'exit watch failed'),
    });
  }

  async #inspectExit(name: string): Promise<boolean> {
    const paths = conmonPaths(this.stateDir, name);
    const code = parseExitCode(readSmallText(paths.exitFile));
    if (code === null) return false;
    // A name with no persist dir is not one of our containers (a temp file, a stray).
    if (!(await isDirectory(paths.persistDir))) return false;
    const oomKilled = await this.#oomKilled(name);
    if (!this.#closed) this.#subject.next({ id: name, code, oomKilled });
    return true;
  }

  async #oomKilled(id: string): Promise<boolean> {
    const [flagged, kills] = await Promise.all([
      stat(conmonPaths(this.stateDir, id).oomFile).then(() => true, () => false),
      this.oomKillCount(id).catch(() => null),
    ]);
    // conmon misses OOM kills on some hybrid hosts; the kernel's counter does not.
    return flagged || (kills ?? 0) > 0;
  }

  async #refuseIfInUse(id: string): Promise<void> {
    const [monitor, known] = await Promise.all([this.monitorPid(id), isDirectory(join(this.#options.runtime.root, id))]);
    if (monitor !== null) {
      throw new DobbyError('MONITOR_FAILED', `container '${id}' already has a monitor (conmon pid ${monitor}); stop and release it first`, { containerId: id, verb: 'create' });
    }
    if (known) {
      throw new DobbyError('RUNTIME_FAILED', `container '${id}' already exists in the runtime's state (${join(this.#options.runtime.root, id)}); delete it first`, { containerId: id, verb: 'create' });
    }
  }

  async #cleanUpFailedCreate(id: string, paths: ConmonPaths): Promise<void> {
    const pid = await readPid(paths.conmonPidFile);
    if (pid !== null && !(await waitGone(pid, this.#options.releaseWaitMs ?? 2000, COMM))) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
      await waitGone(pid, 500, COMM);
    }
    // A runtime that failed half-way may leave its state entry (the id did not exist before: checked).
    const stateEntry = join(this.#options.runtime.root, id);
    if (await isDirectory(stateEntry)) {
      this.#options.logger?.warn({ containerId: id, stateEntry }, 'failed create left runtime state; deleting it');
      await this.#options.runtime.delete(id, { force: true }).catch(() => rm(stateEntry, { recursive: true, force: true }));
    }
    await removeConmonFiles(paths);
    this.#cgroups.delete(id);
  }

  #conmonOrThrow(id: string): string {
    this.#conmon ??= resolveExecutable(this.#options.conmonPath ?? COMM);
    if (this.#conmon === null) throw this.#missing(id);
    return this.#conmon;
  }

  #missing(id: string, cause?: unknown): DobbyError {
    return new DobbyError(
      'MONITOR_MISSING',
      `conmon ('${this.#options.conmonPath ?? COMM}') not found or not executable; install it (apt-get install conmon) or give its absolute path`,
      { containerId: id, verb: 'create', ...(cause === undefined ? {} : { cause }) },
    );
  }
}

function failureOf(id: string, runtimeName: string, verdict: Exclude<ConmonVerdict, { kind: 'created' }>): DobbyError {
  if (verdict.kind === 'runtime-failed') {
    return new DobbyError('RUNTIME_FAILED', `${runtimeName} create ${id} failed: ${summariseStderr(verdict.message)}`, {
      containerId: id, verb: 'create', stderr: verdict.message,
    });
  }
  // Its daemonised half has no stderr: when it fails, nothing is printed, so point at the usual causes.
  const said = verdict.stderr.trim() === ''
    ? ' and printed nothing (check that the monitor state dir and the bundle are writable and conmon can run the runtime)'
    : `: ${summariseStderr(verdict.stderr)}`;
  const why = verdict.timedOut
    ? 'gave no answer in time'
    : `exited (status ${verdict.exitStatus ?? 'unknown'}) without reporting the container${said}`;
  return new DobbyError('MONITOR_FAILED', `conmon for container '${id}' ${why}`, {
    containerId: id, verb: 'create', exitStatus: verdict.exitStatus, stderr: verdict.stderr,
  });
}

/** conmon writes the code as decimal text; empty or partial content means "not yet". */
export function parseExitCode(text: string | null): number | null {
  const trimmed = text?.trim() ?? '';
  if (!/^-?\d+$/.test(trimmed)) return null;
  return Number(trimmed);
}

/** Checked before anything is made: a closed fd would otherwise only surface as conmon's spawn failing. */
async function assertOpen(id: string, fds: readonly number[]): Promise<void> {
  const closed: number[] = [];
  await Promise.all(fds.map((fd) => new Promise<void>((done) => fstat(fd, (err) => {
    if (err !== null) closed.push(fd);
    done();
  }))));
  if (closed.length > 0) {
    throw new DobbyError('INVALID_ARGUMENT', `a descriptor to pass into container '${id}' is not open (fds ${JSON.stringify(fds)}; closed: ${closed.join(', ')})`, { containerId: id, verb: 'create' });
  }
}

async function isDirectory(path: string): Promise<boolean> {
  return statOrNull(path)?.isDirectory() === true;
}
