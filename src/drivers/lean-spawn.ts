// Starts host tools through posix_spawn (native/spawn) instead of child_process, which forks the
// whole daemon and blocks the event loop until the child has exec'd (2.5-9 ms, growing with the
// daemon's size and the machine's load). posix_spawn shares the daemon's memory until the exec,
// and runs on a thread of libuv's pool, so the event loop only prepares the call. Same events and
// streams as a ChildProcess, for what the drivers use of it.
// Where the addon does not load (glibc < 2.34) or the kernel has no pidfd (< 5.4), and when
// DOBBY_SPAWN=fork asks for it, the same LeanChild runs over Node's spawn instead, as the daemon
// did before the addon: every daemon fd is marked close-on-exec first (native/cloexec).

import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { closeSync, fstatSync } from 'node:fs';
import { constants as osConstants, release as osRelease } from 'node:os';
import { Socket } from 'node:net';
import { childProcess } from '../builtins.ts';
import { sealInheritedFds } from './cloexec.ts';
import { loadNativeAddon } from './native-addon.ts';
import { DEFAULT_PATH, resolveExecutable } from './executables.ts';

interface SpawnAddon {
  /**
   * Calls back with (null, pid, pidfd), or an Error with `code` (ENOENT, EACCES, …) when the program
   * cannot run; throws (EBADF) when a slot fd is not open. The slot fds may be closed once it returns.
   */
  spawn(
    file: string, argv: readonly string[], env: readonly string[], cwd: string | null, fds: readonly number[],
    done: (err: NodeJS.ErrnoException | null, pid: number | null, pidfd: number | null) => void,
  ): void;
  /**
   * Runs the tool to its end on a thread of its own: stdin from `input` (or /dev/null), stdout and
   * stderr gathered; SIGKILL after timeoutMs (0: never). Calls back once it exited and both outputs
   * ended, or with an Error (code ENOENT, EACCES, …) when it cannot run. Absent in an older build.
   */
  collect?(
    file: string, argv: readonly string[], env: readonly string[], cwd: string | null, input: string | null, timeoutMs: number,
    done: (err: NodeJS.ErrnoException | null, code: number | null, signal: number | null, stdout: string | null, stderr: string | null) => void,
  ): void;
  /**
   * collect, with the tool started in the network namespace of `netns` (a /proc/<pid>/ns/net
   * file): the thread that starts it enters the namespace first. An Error whose message starts
   * with "open netns" or "setns" when it cannot. Absent in an older build.
   */
  collectIn?(
    netns: string, file: string, argv: readonly string[], env: readonly string[], cwd: string | null, input: string | null, timeoutMs: number,
    done: (err: NodeJS.ErrnoException | null, code: number | null, signal: number | null, stdout: string | null, stderr: string | null) => void,
  ): void;
  /** A sealed memfd (close-on-exec) with the file's bytes; throws with the errno's code. Absent in an older build. */
  sealedCopy?(path: string): number;
  pipe(): [number, number];
  watch(pidfd: number, onExit: (code: number | null, signal: number | null) => void): void;
  /** False on a kernel without pidfd_open (5.3) or waitid(P_PIDFD) (5.4); absent in a build older than spawn.c. */
  pidfdSupported?(): boolean;
}

/** How tools are started: posix_spawn through the addon, or Node's spawn (a fork of the daemon) and why. */
export type SpawnPath =
  | { readonly kind: 'posix_spawn' }
  | { readonly kind: 'fork'; readonly cause: 'asked' | 'addon' | 'kernel'; readonly reason: string };

let chosen: { readonly path: SpawnPath; readonly addon: SpawnAddon | null } | null = null;

function choose(): { readonly path: SpawnPath; readonly addon: SpawnAddon | null } {
  if (process.env['DOBBY_SPAWN'] === 'fork') return { path: { kind: 'fork', cause: 'asked', reason: 'DOBBY_SPAWN=fork asks for it' }, addon: null };
  let addon: SpawnAddon;
  try {
    addon = loadNativeAddon<SpawnAddon>('spawn');
  } catch (err) {
    return { path: { kind: 'fork', cause: 'addon', reason: err instanceof Error ? err.message : String(err) }, addon: null };
  }
  if (addon.pidfdSupported === undefined) {
    return { path: { kind: 'fork', cause: 'addon', reason: 'the spawn addon was built from older sources (no pidfdSupported): run node scripts/build-native.ts --force' }, addon: null };
  }
  if (!addon.pidfdSupported()) {
    return { path: { kind: 'fork', cause: 'kernel', reason: `this kernel (${osRelease()}) lacks pidfd_open or waitid(P_PIDFD), which need Linux 5.4` }, addon: null };
  }
  return { path: { kind: 'posix_spawn' }, addon };
}

/** The addon when tools start through it (decided at the first call); null on the fork path. */
function activeAddon(): SpawnAddon | null {
  chosen ??= choose();
  return chosen.addon;
}

/** Decided once per process, at the first spawn or host check. */
export function spawnPath(): SpawnPath {
  chosen ??= choose();
  return chosen.path;
}

/** What a stdio slot gets: a pipe to us, /dev/null, the daemon's own fd of that number, or an fd. */
export type StdioSlot = 'pipe' | 'ignore' | 'inherit' | number | null | undefined;
export type StdioOptions = StdioSlot | readonly StdioSlot[];

export interface LeanSpawnOptions {
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** The tool's argv[0]; default `file` as given. */
  readonly argv0?: string | undefined;
  /** 'pipe', 'ignore', 'inherit' or an fd, per slot; absent slots 0-2 are 'pipe', as with spawn. */
  readonly stdio?: StdioOptions;
}

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(osConstants.signals).map(([name, number]) => [number, name as NodeJS.Signals]),
);

/**
 * A started tool: `stdio` (a Socket per 'pipe' slot, there at once), `pid` once it runs, and the
 * events of a ChildProcess: 'spawn', 'error' (it could not be started; asynchronous, as with
 * spawn), 'exit' (code, signal), and 'close' (code, signal) once it exited and every pipe of ours
 * (stdin aside) reached its end.
 */
export class LeanChild extends EventEmitter {
  pid: number | undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly stdio: Array<Socket | null>;
  #exited = false;
  #failed = false;
  #pendingSignal: NodeJS.Signals | number | null = null;
  #openStreams = 0;

  constructor(stdio: Array<Socket | null>) {
    super();
    this.stdio = stdio;
  }

  get stdin(): Socket | null {
    return this.stdio[0] ?? null;
  }

  get stdout(): Socket | null {
    return this.stdio[1] ?? null;
  }

  get stderr(): Socket | null {
    return this.stdio[2] ?? null;
  }

  /**
   * Signals the tool unless it has been collected already (so never a recycled pid). Asked before
   * the spawn has completed, the signal is sent as soon as it has.
   */
  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    if (this.#exited || this.#failed) return false;
    if (this.pid === undefined) {
      this.#pendingSignal = signal;
      return true;
    }
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  /** @internal the pipes to wait for before 'close'. */
  trackStream(stream: Socket): void {
    this.#openStreams++;
    stream.once('close', () => {
      this.#openStreams--;
      this.#maybeClose();
    });
  }

  /** @internal the tool runs. */
  spawned(pid: number): void {
    this.pid = pid;
    this.emit('spawn');
    if (this.#pendingSignal !== null) this.kill(this.#pendingSignal);
  }

  /** @internal it could not be started: our ends of its pipes go, and 'error' says why. */
  failed(error: NodeJS.ErrnoException): void {
    this.#failed = true;
    for (const stream of this.stdio) stream?.destroy();
    this.emit('error', error);
  }

  /** @internal called once with the collected status. */
  exited(code: number | null, signal: number | null): void {
    this.#exited = true;
    this.exitCode = code;
    this.signalCode = signal === null ? null : (SIGNAL_NAMES.get(signal) ?? null);
    // Nobody reads it any more (Node's child_process does the same).
    this.stdin?.destroy();
    this.emit('exit', this.exitCode, this.signalCode);
    this.#maybeClose();
  }

  #maybeClose(): void {
    if (this.#exited && this.#openStreams === 0) this.emit('close', this.exitCode, this.signalCode);
  }
}

type Slot = { readonly kind: 'fd'; readonly fd: number } | { readonly kind: 'pipe'; readonly ours: number; readonly theirs: number } | { readonly kind: 'ignore' };

function slotsOf(stdio: StdioOptions): StdioSlot[] {
  if (!Array.isArray(stdio)) return [stdio, stdio, stdio] as StdioSlot[];
  const slots = [...stdio];
  while (slots.length < 3) slots.push('pipe');
  return slots;
}

/**
 * Starts `file` (a name is looked up on the PATH of `options.env`, as spawn does) with `args`.
 * Every fd of the daemon that is not a stdio slot stays out of the child.
 */
export function leanSpawn(file: string, args: readonly string[], options: LeanSpawnOptions): LeanChild {
  const native = activeAddon();
  if (native === null) return forkedSpawn(file, args, options);
  const slots: Slot[] = [];
  try {
    for (const [i, option] of slotsOf(options.stdio).entries()) {
      if (option === 'pipe' || option === null || option === undefined) {
        if (i > 2 && (option === null || option === undefined)) {
          slots.push({ kind: 'ignore' });
          continue;
        }
        const [readEnd, writeEnd] = native.pipe();
        // The child reads its stdin; it writes to every other pipe.
        slots.push(i === 0 ? { kind: 'pipe', ours: writeEnd, theirs: readEnd } : { kind: 'pipe', ours: readEnd, theirs: writeEnd });
      } else if (option === 'ignore') {
        slots.push({ kind: 'ignore' });
      } else if (option === 'inherit') {
        slots.push({ kind: 'fd', fd: i });
      } else {
        slots.push({ kind: 'fd', fd: option });
      }
    }
  } catch (err) {
    for (const slot of slots) if (slot.kind === 'pipe') closePair(slot);
    throw err;
  }
  const fds = slots.map((s) => (s.kind === 'fd' ? s.fd : s.kind === 'pipe' ? s.theirs : -1));
  const env = Object.entries(options.env).map(([k, v]) => `${k}=${v}`);
  let child: LeanChild | null = null;
  let failure: unknown = null;
  try {
    native.spawn(executablePath(file, options.env), [options.argv0 ?? file, ...args], env, options.cwd ?? null, fds, (err, pid, pidfd) => {
      const started = child as LeanChild;
      if (err !== null || pid === null || pidfd === null) {
        started.failed(spawnError(err, file, args));
        return;
      }
      started.spawned(pid);
      native.watch(pidfd, (code, signal) => started.exited(code, signal));
    });
  } catch (err) {
    failure = err;
  }
  const stdio = slots.map((slot, i) => {
    if (slot.kind !== 'pipe') return null;
    closeSync(slot.theirs);
    if (failure === null) return new Socket({ fd: slot.ours, readable: i !== 0, writable: i === 0 });
    closeSync(slot.ours);
    return null;
  });
  child = new LeanChild(stdio);
  if (failure !== null) {
    const error = spawnError(failure, file, args);
    const failed = child;
    process.nextTick(() => failed.failed(error));
    return child;
  }
  // As with a ChildProcess, 'close' waits for what the tool writes, not for its stdin.
  for (const stream of stdio.slice(1)) if (stream !== null) child.trackStream(stream);
  return child;
}

/**
 * A sealed in-memory copy of the file at `path` (see native/spawn: sealedCopy): its fd, close-on-exec.
 * null where the addon is not in use or is an older build; throws when the copy cannot be made.
 */
export function sealedCopy(path: string): number | null {
  const native = activeAddon();
  return native?.sealedCopy === undefined ? null : native.sealedCopy(path);
}

export interface Collected {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CollectOptions {
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string | undefined;
  /** The tool's argv[0]; default `file` as given. */
  readonly argv0?: string | undefined;
  readonly input?: string | undefined;
  /** SIGKILL after this long; 0 or absent: no limit. */
  readonly timeoutMs?: number | undefined;
  /** Start the tool in this network namespace (a /proc/<pid>/ns/net file); see canEnterNetns. */
  readonly netns?: string | undefined;
}

/** Whether collectOutput can start a tool in another network namespace itself (no nsenter). */
export function canEnterNetns(): boolean {
  return activeAddon()?.collectIn !== undefined;
}

/**
 * Runs `file` to its end with stdin from `options.input` (or /dev/null) and its output gathered, in
 * one call of the addon: no pipe streams, no exit watch on the event loop (0.3-0.5 ms of it per tool,
 * interpreted). Rejects as run() does when the tool cannot be started. null where the addon is not
 * in use or has no collect (an older build): the caller then goes through leanSpawn.
 */
export function collectOutput(file: string, args: readonly string[], options: CollectOptions): Promise<Collected> | null {
  const native = activeAddon();
  if (native?.collect === undefined) return null;
  const { netns } = options;
  const collectIn = native.collectIn?.bind(native);
  if (netns !== undefined && collectIn === undefined) return null;
  const collect: NonNullable<SpawnAddon['collect']> = netns === undefined || collectIn === undefined
    ? native.collect.bind(native)
    : (...args) => collectIn(netns, ...args);
  return new Promise((resolve, reject) => {
    let path: string;
    try {
      path = executablePath(file, options.env);
    } catch (err) {
      reject(spawnError(err, file, args));
      return;
    }
    const env = Object.entries(options.env).map(([k, v]) => `${k}=${v}`);
    collect(path, [options.argv0 ?? file, ...args], env, options.cwd ?? null, options.input ?? null, options.timeoutMs ?? 0, (err, code, signal, stdout, stderr) => {
      if (err !== null) {
        reject(netns !== undefined && /^(open netns|setns):/.test(err.message) ? netnsError(err, netns) : spawnError(err, file, args));
        return;
      }
      resolve({ code, signal: signal === null ? null : (SIGNAL_NAMES.get(signal) ?? null), stdout: stdout ?? '', stderr: stderr ?? '' });
    });
  });
}

/**
 * The fallback over Node's spawn: it forks the daemon, and libuv in the child closes only fds
 * marked close-on-exec, so every fd of ours gets the mark first (slots are dup'ed into place without it).
 */
function forkedSpawn(file: string, args: readonly string[], options: LeanSpawnOptions): LeanChild {
  let proc: ChildProcess | null = null;
  let failure: unknown = null;
  try {
    const path = executablePath(file, options.env);
    const stdio = slotsOf(options.stdio);
    // libuv's own fds (its exec-error pipe) may take the number of a closed slot fd, which the tool would then get.
    for (const slot of stdio) if (typeof slot === 'number') fstatSync(slot);
    sealInheritedFds();
    proc = childProcess().spawn(path, args, {
      argv0: options.argv0 ?? file,
      env: options.env,
      stdio,
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    });
  } catch (err) {
    // Node throws what is not a run-time error of the tool (EBADF: a slot fd that is not open).
    failure = err;
  }
  if (proc === null) {
    const failed = new LeanChild([]);
    const error = spawnError(failure, file, args);
    process.nextTick(() => failed.failed(error));
    return failed;
  }
  // child_process's 'pipe' slots are net.Sockets (socketpairs), typed only as streams.
  const child = new LeanChild(proc.stdio as unknown as Array<Socket | null>);
  const started = proc;
  started.once('spawn', () => child.spawned(started.pid as number));
  started.once('error', (err) => child.failed(spawnError(err, file, args)));
  started.once('exit', (code, signal) => child.exited(code, signal === null ? null : osConstants.signals[signal]));
  for (const stream of child.stdio.slice(1)) if (stream !== null) child.trackStream(stream);
  return child;
}

/** `file` itself when it has a slash, else its match on the PATH of `env` (as spawn looks it up); throws ENOENT. */
function executablePath(file: string, env: Readonly<Record<string, string>>): string {
  const path = file.includes('/') ? file : resolveExecutable(file, env['PATH'] ?? process.env['PATH'] ?? DEFAULT_PATH);
  if (path === null) throw Object.assign(new Error(`spawn ${file} ENOENT`), { code: 'ENOENT', errno: -2 });
  return path;
}

function closePair(slot: { readonly ours: number; readonly theirs: number }): void {
  closeSync(slot.ours);
  closeSync(slot.theirs);
}

/** The namespace could not be entered (the process it belongs to is gone, most often): syscall 'setns'. */
function netnsError(cause: NodeJS.ErrnoException, netns: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`cannot enter the network namespace ${netns}: ${cause.message}`);
  if (cause.code !== undefined) error.code = cause.code;
  if (cause.errno !== undefined) error.errno = cause.errno;
  error.syscall = 'setns';
  error.path = netns;
  return error;
}

/** Node's spawn error, as child_process gives it: `spawn FILE CODE`, with code, errno, syscall, path, spawnargs. */
function spawnError(cause: unknown, file: string, args: readonly string[]): NodeJS.ErrnoException {
  const code = (cause as NodeJS.ErrnoException | null)?.code ?? 'EUNKNOWN';
  const error: NodeJS.ErrnoException & { spawnargs?: readonly string[] } = new Error(`spawn ${file} ${code}`);
  error.code = code;
  const errno = (cause as NodeJS.ErrnoException | null)?.errno;
  if (errno !== undefined) error.errno = errno;
  error.syscall = `spawn ${file}`;
  error.path = file;
  error.spawnargs = args;
  return error;
}
