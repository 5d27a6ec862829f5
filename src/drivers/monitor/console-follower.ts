// Follows the monitor's k8s-file console log and hands the container's raw output to a sink: a file
// (truncated when opened, never longer than its limit) or a process's stdin (systemd-cat, logger).

import type { ChildProcess } from 'node:child_process';
import { constants, statSync, watch, type FSWatcher } from 'node:fs';
import { open, readFile, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { childProcess } from '../../builtins.ts';
import { DobbyError } from '../../errors.ts';
import { minimalEnv, resolveExecutable, type DriverLogger } from '../process.ts';
import { inOwnDir } from '../own-dir.ts';
import { removeFile } from '../remove-file.ts';
import { decodeK8sLines } from './console-log.ts';
import type { FollowTarget, HostLogFacts } from './log-sinks.ts';

const CHUNK = 64 * 1024;

function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

/** Which of the journald and syslog sinks this host can take right now. */
export function hostLogFacts(): HostLogFacts {
  return {
    journald: isSocket('/run/systemd/journal/socket') && resolveExecutable('systemd-cat') !== null,
    syslog: isSocket('/dev/log') && resolveExecutable('logger') !== null,
  };
}

type Output =
  | { readonly kind: 'file'; readonly handle: FileHandle }
  | { readonly kind: 'process'; readonly child: ChildProcess };

export class ConsoleFollower {
  readonly #output: Output;
  readonly #logger: DriverLogger | undefined;
  #remaining: number | null;
  #source: FileHandle | null = null;
  #sourcePath: string | null = null;
  #offset = 0;
  #watcher: FSWatcher | null = null;
  #pumping: Promise<void> | null = null;
  #again = false;
  #closed = false;

  private constructor(output: Output, limit: number | null, logger: DriverLogger | undefined) {
    this.#output = output;
    this.#remaining = limit;
    this.#logger = logger;
  }

  /**
   * Opens the sink at once, so a sink that cannot be written fails the start before the container
   * exists. A file sink is truncated (Dobby opens it O_TRUNC) and must not be a symlink.
   */
  static async open(target: FollowTarget, logger?: DriverLogger): Promise<ConsoleFollower> {
    if (target.kind === 'file') {
      let handle: FileHandle;
      try {
        handle = await open(target.path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o644);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const why = code === 'ELOOP' ? 'it is a symlink' : code === 'EISDIR' ? 'it is a directory' : code === 'ENOENT' ? 'its directory does not exist' : String(err);
        throw new DobbyError('INVALID_ARGUMENT', `the console log file '${target.path}' cannot be written: ${why}`, { cause: err });
      }
      return new ConsoleFollower({ kind: 'file', handle }, target.limit, logger);
    }
    const child = childProcess().spawn(target.command, [...target.args], { stdio: ['pipe', 'ignore', 'ignore'], env: minimalEnv() });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) => reject(new DobbyError('HOST_UNSUITABLE', `could not start ${target.command} for the console log: ${String(err)}`, { cause: err })));
    });
    child.stdin?.on('error', () => undefined);
    return new ConsoleFollower({ kind: 'process', child }, null, logger);
  }

  /** Starts following `source` (conmon's k8s-file log) from byte `from` (a line start; default its beginning). */
  follow(source: string, from = 0): void {
    if (this.#closed || this.#sourcePath !== null) return;
    this.#sourcePath = source;
    this.#offset = from;
    try {
      // inotify on the file: conmon appends, never replaces it (no --log-size-max with a follower).
      this.#watcher = watch(source, { persistent: false }, () => this.#kick());
      this.#watcher.on('error', () => undefined);
    } catch (err) {
      this.#logger?.warn({ err, source }, 'cannot watch the console log; it is copied when the container ends');
    }
    this.#kick();
  }

  /** Copies what is left, then closes the sink. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#drain();
    this.#closed = true;
    this.#watcher?.close();
    this.#watcher = null;
    await this.#source?.close().catch(() => undefined);
    this.#source = null;
    if (this.#output.kind === 'file') await this.#output.handle.close().catch(() => undefined);
    else this.#output.child.stdin?.end();
  }

  #kick(): void {
    if (this.#closed) return;
    if (this.#pumping !== null) {
      this.#again = true;
      return;
    }
    this.#pumping = (async () => {
      do {
        this.#again = false;
        await this.#pump().catch((err: unknown) => this.#logger?.warn({ err, source: this.#sourcePath }, 'copying the console log failed'));
      } while (this.#again && !this.#closed);
    })().finally(() => {
      this.#pumping = null;
    });
  }

  async #drain(): Promise<void> {
    while (this.#pumping !== null) await this.#pumping;
    if (this.#sourcePath !== null) await this.#pump().catch(() => undefined);
  }

  /** Reads the complete lines added since the last read and writes their raw bytes out. */
  async #pump(): Promise<void> {
    if (this.#sourcePath === null || this.#remaining === 0) return;
    this.#source ??= await open(this.#sourcePath, constants.O_RDONLY);
    const buffer = Buffer.allocUnsafe(CHUNK);
    let pending = Buffer.alloc(0);
    for (;;) {
      const { bytesRead } = await this.#source.read(buffer, 0, CHUNK, this.#offset + pending.length);
      if (bytesRead === 0) break;
      const data = Buffer.concat([pending, buffer.subarray(0, bytesRead)]);
      const lastNewline = data.lastIndexOf(0x0a);
      if (lastNewline < 0) {
        pending = data;
        continue;
      }
      await this.#write(decodeK8sLines(data.subarray(0, lastNewline + 1)));
      this.#offset += lastNewline + 1;
      pending = Buffer.from(data.subarray(lastNewline + 1));
      if (this.#remaining === 0) {
        // The sink is full (Dobby stops writing past the limit): nothing more to follow.
        this.#watcher?.close();
        this.#watcher = null;
        return;
      }
    }
  }

  async #write(raw: Buffer): Promise<void> {
    if (raw.length === 0) return;
    const bytes = this.#remaining === null ? raw : raw.subarray(0, this.#remaining);
    if (this.#remaining !== null) this.#remaining -= bytes.length;
    if (this.#output.kind === 'file') {
      await this.#output.handle.write(bytes);
      return;
    }
    const stdin = this.#output.child.stdin;
    if (stdin === null || stdin.destroyed) return;
    if (!stdin.write(bytes)) await new Promise<void>((resolve) => stdin.once('drain', resolve));
  }
}

/** What a follower needs to be made again by a later daemon. */
interface SinkPlan {
  readonly target: FollowTarget;
  /** The monitor's k8s-file log it reads. */
  readonly source: string;
  /** Where this container's output starts in it: conmon appends to the log of an earlier container of the same id. */
  readonly from: number;
}

export interface ConsoleSinksOptions {
  /** Where each container's sink plan is kept (`<id>.console.json`), so a restarted daemon resumes it. */
  readonly dir?: string;
  readonly logger?: DriverLogger;
  /** What the host offers (default: looked at each time); tests pass their own. */
  readonly facts?: () => HostLogFacts;
}

/** The followers of every container that has one, by container id; plans on disk outlive the daemon. */
export class ConsoleSinks {
  readonly #followers = new Map<string, { readonly follower: ConsoleFollower; readonly source: string; readonly from: number }>();
  readonly #dir: string | undefined;
  readonly #logger: DriverLogger | undefined;
  readonly #facts: () => HostLogFacts;

  constructor(options: ConsoleSinksOptions = {}) {
    this.#dir = options.dir;
    this.#logger = options.logger;
    this.#facts = options.facts ?? hostLogFacts;
  }

  hostFacts(): HostLogFacts {
    return this.#facts();
  }

  #planPath(id: string): string | null {
    return this.#dir === undefined || id.includes('/') ? null : join(this.#dir, `${id}.console.json`);
  }

  /** Opens the sink for a container about to be created (a file sink is truncated); `follow` starts the copying. */
  async open(id: string, target: FollowTarget, source: string): Promise<void> {
    await this.#forget(id);
    // The source's size and the sink side by side, and the plan's dir made once: this is on the
    // start's path (it was five round trips of the thread pool in a row).
    const [from, follower] = await Promise.all([stat(source).then((s) => s.size, () => 0), ConsoleFollower.open(target, this.#logger)]);
    this.#followers.set(id, { follower, source, from });
    const plan = this.#planPath(id);
    if (plan !== null) await inOwnDir(dirname(plan), { mode: 0o700 }, () => writeFile(plan, JSON.stringify({ target, source, from } satisfies SinkPlan), { mode: 0o600 }));
  }

  follow(id: string): void {
    const entry = this.#followers.get(id);
    entry?.follower.follow(entry.source, entry.from);
  }

  /**
   * After a daemon restart: follows again from the plan an earlier daemon left. A file sink is
   * rewritten from where the container's output starts in the monitor's log (the same bytes, up
   * to its limit); a process sink only gets what comes from now on, so nothing is sent twice.
   */
  async resume(id: string): Promise<boolean> {
    if (this.#followers.has(id)) return true;
    const plan = await this.#readPlan(id);
    if (plan === null) return false;
    const follower = await ConsoleFollower.open(plan.target, this.#logger);
    const from = plan.target.kind === 'process' ? await stat(plan.source).then((s) => s.size, () => plan.from) : plan.from;
    this.#followers.set(id, { follower, source: plan.source, from });
    follower.follow(plan.source, from);
    return true;
  }

  /** Copies the rest of the container's output and closes its sink (made again from its plan if need be). */
  async close(id: string): Promise<void> {
    if (!this.#followers.has(id)) await this.resume(id).catch((err: unknown) => this.#logger?.warn({ err, containerId: id }, 'could not resume the console sink'));
    const entry = this.#followers.get(id);
    this.#followers.delete(id);
    await entry?.follower.close();
    const plan = this.#planPath(id);
    if (plan !== null) await removeFile(plan);
  }

  has(id: string): boolean {
    return this.#followers.has(id);
  }

  /**
   * Stops following, keeping the plans: for a daemon that leaves its containers running (the next
   * one resumes the sinks).
   */
  async detachAll(): Promise<void> {
    await Promise.all([...this.#followers.keys()].map((id) => this.#forget(id)));
  }

  async #forget(id: string): Promise<void> {
    const entry = this.#followers.get(id);
    this.#followers.delete(id);
    await entry?.follower.close();
  }

  async #readPlan(id: string): Promise<SinkPlan | null> {
    const path = this.#planPath(id);
    if (path === null) return null;
    try {
      const plan = JSON.parse(await readFile(path, 'utf8')) as SinkPlan;
      const valid = typeof plan.source === 'string' && typeof plan.target === 'object' && plan.target !== null && Number.isSafeInteger(plan.from);
      return valid ? plan : null;
    } catch {
      return null;
    }
  }
}
