// The OCI runtime driver: crun or runc through their command line, one process per call.

import { closeSync, openSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { crypto } from '../../builtins.ts';
import { DobbyError } from '../../errors.ts';
import { isMissingExecutable, minimalEnv, resolveExecutable, run, summariseStderr, type DriverLogger, type RunOptions, type RunResult } from '../process.ts';
import { removeFile } from '../remove-file.ts';
import { runtimeExec } from './sealed-runtime.ts';
import { signalInit } from './init-signal.ts';
import { normaliseSignal, signalNumber } from './signals.ts';
import type { DeleteOptions, ExecOptions, ExecResult, KillOptions, OciRuntime, OciState, OciStatus } from './types.ts';

export type RuntimeFlavour = 'crun' | 'runc';

export interface OciCliRuntimeOptions {
  /** `crun`, `runc` (looked up on PATH) or an absolute path. */
  readonly binary: string;
  /** The runtime's state root (`--root`); one per daemon so containers never mix. */
  readonly root: string;
  /** Dialect; guessed from the binary's name when absent. */
  readonly flavour?: RuntimeFlavour;
  /**
   * A dir of the daemon's own for the link to the binary's sealed copy, named as the binary, so
   * the runtime's processes are named so too (ps, pgrep); without it they are named by the copy's fd.
   */
  readonly execDir?: string;
  readonly logger?: DriverLogger;
  /**
   * A runtime call that takes longer is killed and fails with TIMEOUT (default 30 s), so one stuck
   * crun cannot wedge a container's machine. Not applied to a foreground exec: that is the user's command.
   */
  readonly timeoutMs?: number;
}

/**
 * Where the two dialects differ. Flags and verbs are spelt the same; the differences are in
 * what they accept: runc refuses to pause a paused container or resume a running one (crun does
 * nothing), prints `null` for an empty list (crun `[]`), and logs errors through logrus. Both take
 * `--log=FILE --log-format=json`.
 */
interface Dialect {
  /** pause/resume already in the wanted state succeed. When false we check the state after a failure. */
  readonly idempotentPauseResume: boolean;
}

const DIALECTS: Readonly<Record<RuntimeFlavour, Dialect>> = {
  crun: { idempotentPauseResume: true },
  runc: { idempotentPauseResume: false },
};

const STATUSES: ReadonlySet<string> = new Set<OciStatus>(['creating', 'created', 'running', 'paused', 'stopped']);

export class OciCliRuntime implements OciRuntime {
  readonly root: string;
  readonly flavour: RuntimeFlavour;
  readonly execDir: string | undefined;
  readonly #name: string;
  readonly #logger: DriverLogger | undefined;
  readonly #dialect: Dialect;
  readonly #timeoutMs: number;
  #resolved: string | null;

  constructor(options: OciCliRuntimeOptions) {
    this.#name = options.binary;
    this.root = options.root;
    this.execDir = options.execDir;
    this.flavour = options.flavour ?? (basename(options.binary).startsWith('runc') ? 'runc' : 'crun');
    this.#dialect = DIALECTS[this.flavour];
    this.#logger = options.logger;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    // Resolved once: a PATH walk per call would cost more than the call's own bookkeeping.
    this.#resolved = resolveExecutable(options.binary);
  }

  /** Absolute path when found; the name as given otherwise (every call then fails RUNTIME_MISSING). */
  get binary(): string {
    return this.#resolved ?? this.#name;
  }

  async start(id: string): Promise<void> {
    await this.#call('start', id, [id]);
  }

  async kill(id: string, signal: string | number, options: KillOptions = {}): Promise<void> {
    if (options.resendWithinMs !== undefined && options.all !== true) {
      const signo = signalNumber(signal);
      if (options.init !== undefined && signalInit(options.init.pid, signo, options.resendWithinMs, this.#logger, options.init.monitorPid)) return;
      // The runtime checked the pid is still its container's init (by start time) when it answered.
      const state = await this.state(id).catch(() => null);
      if (state?.status === 'running' && state.pid > 0 && signalInit(state.pid, signo, options.resendWithinMs, this.#logger)) return;
    }
    await this.#call('kill', id, [...(options.all === true ? ['--all'] : []), id, normaliseSignal(signal)]);
  }

  async pause(id: string): Promise<void> {
    await this.#settle('pause', id, 'paused');
  }

  async resume(id: string): Promise<void> {
    await this.#settle('resume', id, 'running');
  }

  async delete(id: string, options: DeleteOptions = {}): Promise<void> {
    await this.#call('delete', id, [...(options.force === true ? ['--force'] : []), id]);
  }

  async state(id: string): Promise<OciState | null> {
    const binary = this.#binaryOrThrow('state', id);
    const result = await this.#spawn(binary, 'state', id, ['--root', this.root, 'state', id]);
    if (result.code !== 0) {
      // The state dir is the runtime's own record of the id: cheaper and surer than matching messages.
      if (!(await exists(join(this.root, id)))) return null;
      throw this.#failure('state', id, result);
    }
    return parseState(result.stdout, id);
  }

  async list(): Promise<OciState[]> {
    const result = await this.#call('list', undefined, ['--format', 'json']);
    let entries: unknown;
    try {
      entries = result.stdout.trim() === '' ? null : JSON.parse(result.stdout);
    } catch (err) {
      throw new DobbyError('RUNTIME_FAILED', `${basename(this.#name)} list printed no JSON: ${result.stdout.slice(0, 200)}`, { verb: 'list', cause: err });
    }
    // runc prints `null` when there is nothing, crun `[]`.
    return Array.isArray(entries) ? entries.map((entry) => toState(entry)) : [];
  }

  async exec(id: string, options: ExecOptions): Promise<ExecResult> {
    const binary = this.#binaryOrThrow('exec', id);
    // The runtime's own errors go to --log, apart from the process's output: that tells a failed
    // exec from a command that ran and exited non-zero, and survives a detached process holding stderr.
    const errorLog = join(tmpdir(), `dobby-exec-${process.pid}-${crypto().randomBytes(6).toString('hex')}.log`);
    const detach = options.detach === true;
    const pidFile = detach ? (options.pidFile ?? `${errorLog}.pid`) : undefined;
    const args = [
      `--log=${errorLog}`, '--log-format=json', '--root', this.root, 'exec',
      ...(pidFile === undefined ? [] : ['--detach', '--pid-file', pidFile]),
      ...(options.env ?? []).flatMap((e) => ['--env', e]),
      ...(options.cwd === undefined ? [] : ['--cwd', options.cwd]),
      ...(options.user === undefined ? [] : ['--user', `${options.user.uid}:${options.user.gid}`]),
      ...(options.tty === true ? ['--tty'] : []),
      id, ...options.args,
    ];
    try {
      if (pidFile !== undefined) {
        // A detached process inherits the runtime's stdout/stderr: give it a file, never a pipe.
        const out = openSync(options.logPath ?? '/dev/null', 'a');
        let result: RunResult;
        try {
          result = await this.#spawn(binary, 'exec', id, args, { stdio: ['ignore', out, out], waitFor: 'exit' });
        } finally {
          closeSync(out);
        }
        if (result.code !== 0) throw this.#failure('exec', id, { ...result, stderr: await readRuntimeErrors(errorLog) });
        const pid = Number((await readFile(pidFile, 'utf8')).trim());
        return { pid: Number.isInteger(pid) && pid > 0 ? pid : null, exitCode: null, stdout: '', stderr: '' };
      }
      const result = await this.#spawn(binary, 'exec', id, args, { timeoutMs: 0 });
      const runtimeError = result.code === 0 ? '' : await readRuntimeErrors(errorLog);
      if (runtimeError !== '') throw this.#failure('exec', id, { ...result, stderr: runtimeError });
      const exitCode = result.code ?? 128 + (result.signal === null ? 0 : signalNumber(result.signal));
      return { pid: null, exitCode, stdout: result.stdout, stderr: result.stderr };
    } finally {
      await removeFile(errorLog);
      if (pidFile !== undefined && options.pidFile === undefined) await removeFile(pidFile);
    }
  }

  /** pause/resume with crun's semantics on both: already there is success (checked only on failure). */
  async #settle(verb: 'pause' | 'resume', id: string, target: OciStatus): Promise<void> {
    try {
      await this.#call(verb, id, [id]);
    } catch (err) {
      if (this.#dialect.idempotentPauseResume) throw err;
      const now = await this.state(id).catch(() => null);
      if (now?.status !== target) throw err;
    }
  }

  async #call(verb: string, id: string | undefined, verbArgs: readonly string[]): Promise<RunResult> {
    const binary = this.#binaryOrThrow(verb, id);
    const result = await this.#spawn(binary, verb, id, ['--root', this.root, verb, ...verbArgs]);
    if (result.code !== 0) throw this.#failure(verb, id, result);
    return result;
  }

  async #spawn(
    binary: string,
    verb: string,
    id: string | undefined,
    args: readonly string[],
    options: RunOptions = {},
  ): Promise<RunResult> {
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const started = Date.now();
    let result: RunResult;
    const exec = runtimeExec(binary, { logger: this.#logger, linkDir: this.execDir });
    try {
      result = await run(exec.path, args, { env: minimalEnv(), argv0: basename(binary), ...options, ...(timeoutMs > 0 ? { timeoutMs } : {}) });
    } catch (err) {
      if (isMissingExecutable(err)) {
        this.#resolved = null;
        throw this.#missing(verb, id, err);
      }
      throw new DobbyError('RUNTIME_FAILED', `${this.#name} ${verb}${id === undefined ? '' : ` ${id}`} could not be run: ${String(err)}`, {
        verb, containerId: id, cause: err,
      });
    } finally {
      exec.release();
    }
    if (timeoutMs > 0 && result.signal === 'SIGKILL' && Date.now() - started >= timeoutMs) {
      throw new DobbyError('TIMEOUT', `${basename(this.#name)} ${verb}${id === undefined ? '' : ` ${id}`} took longer than ${timeoutMs} ms and was killed`, {
        verb, containerId: id, exitStatus: null, stderr: result.stderr,
      });
    }
    return result;
  }

  #binaryOrThrow(verb: string, id: string | undefined): string {
    // Looked up again only after a miss, so installing the runtime fixes a running daemon.
    this.#resolved ??= resolveExecutable(this.#name);
    if (this.#resolved === null) throw this.#missing(verb, id);
    return this.#resolved;
  }

  #missing(verb: string, id: string | undefined, cause?: unknown): DobbyError {
    const where = this.#name.includes('/') ? 'not found or not executable' : 'not found on PATH';
    return new DobbyError(
      'RUNTIME_MISSING',
      `OCI runtime '${this.#name}' ${where}; install it (apt-get install ${this.flavour}) or give its absolute path`,
      { verb, containerId: id, ...(cause === undefined ? {} : { cause }) },
    );
  }

  #failure(verb: string, id: string | undefined, result: RunResult): DobbyError {
    const how = result.code === null ? `signal ${result.signal ?? '?'}` : `exit ${result.code}`;
    const subject = id === undefined ? '' : ` ${id}`;
    this.#logger?.debug({ verb, containerId: id, exitStatus: result.code, stderr: result.stderr }, 'runtime call failed');
    return new DobbyError('RUNTIME_FAILED', `${basename(this.#name)} ${verb}${subject} failed (${how}): ${summariseStderr(result.stderr)}`, {
      verb, containerId: id, exitStatus: result.code, stderr: result.stderr,
    });
  }
}

/** Parses `<runtime> state` output. */
export function parseState(stdout: string, id: string): OciState {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch (err) {
    throw new DobbyError('RUNTIME_FAILED', `runtime state of '${id}' is not JSON: ${stdout.slice(0, 200)}`, { verb: 'state', containerId: id, cause: err });
  }
  return toState(parsed);
}

function toState(entry: unknown): OciState {
  const e = (entry ?? {}) as Record<string, unknown>;
  const status = String(e['status']);
  if (typeof e['id'] !== 'string' || !STATUSES.has(status)) {
    throw new DobbyError('RUNTIME_FAILED', `runtime reported an unreadable container state: ${JSON.stringify(entry).slice(0, 200)}`, { verb: 'state' });
  }
  return {
    id: e['id'],
    status: status as OciStatus,
    pid: typeof e['pid'] === 'number' ? e['pid'] : 0,
    bundle: typeof e['bundle'] === 'string' ? e['bundle'] : '',
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The error messages of a `--log-format=json` log (both runtimes write `{"level","msg",…}` lines);
 * warnings are left out so they do not turn a command's own non-zero exit into a runtime failure.
 */
export function runtimeErrorsFromLog(text: string): string {
  const messages: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const entry = JSON.parse(line) as { level?: unknown; msg?: unknown };
      if (['error', 'fatal', 'panic'].includes(String(entry.level))) messages.push(String(entry.msg));
    } catch {
      messages.push(line.trim());
    }
  }
  return messages.length === 0 ? '' : `${messages.join('\n')}\n`;
}

async function readRuntimeErrors(path: string): Promise<string> {
  try {
    return runtimeErrorsFromLog(await readFile(path, 'utf8'));
  } catch {
    return '';
  }
}
