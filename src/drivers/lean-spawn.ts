// Starts host tools through posix_spawn (native/spawn) instead of child_process, which forks the
// whole daemon and blocks the event loop until the child has exec'd (2.5-9 ms, growing with the
// daemon's size and the machine's load). posix_spawn shares the daemon's memory until the exec,
// and runs on a thread of libuv's pool, so the event loop only prepares the call. Same events and
// streams as a ChildProcess, for what the drivers use of it.

import { EventEmitter } from 'node:events';
import { closeSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { Socket } from 'node:net';
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
  pipe(): [number, number];
  watch(pidfd: number, onExit: (code: number | null, signal: number | null) => void): void;
}

let addon: SpawnAddon | null = null;

/** Loads native/spawn once; throws HOST_UNSUITABLE (saying how to build it) when it does not load. */
export function loadSpawnAddon(): SpawnAddon {
  addon ??= loadNativeAddon<SpawnAddon>('spawn');
  return addon;
}

/** What a stdio slot gets: a pipe to us, /dev/null, the daemon's own fd of that number, or an fd. */
export type StdioSlot = 'pipe' | 'ignore' | 'inherit' | number | null | undefined;
export type StdioOptions = StdioSlot | readonly StdioSlot[];

export interface LeanSpawnOptions {
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
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
  const native = loadSpawnAddon();
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
  const path = file.includes('/') ? file : resolveExecutable(file, options.env['PATH'] ?? process.env['PATH'] ?? DEFAULT_PATH);
  let child: LeanChild | null = null;
  let failure: unknown = null;
  try {
    if (path === null) throw Object.assign(new Error(`spawn ${file} ENOENT`), { code: 'ENOENT', errno: -2 });
    native.spawn(path, [file, ...args], env, options.cwd ?? null, fds, (err, pid, pidfd) => {
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

function closePair(slot: { readonly ours: number; readonly theirs: number }): void {
  closeSync(slot.ours);
  closeSync(slot.theirs);
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
