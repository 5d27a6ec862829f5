// Starts and shares the netns helpers (netns-helper.mjs under nsenter), one per network namespace, and asks them for sockets.

import type { ChildProcess } from 'node:child_process';
import { childProcess } from '../../builtins.ts';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DriverLogger } from '../process.ts';

/** What a helper replies; the handle (server, socket or dgram socket) rides along on success. */
export interface HelperReply {
  readonly id: number;
  readonly ok: boolean;
  readonly code?: string;
  readonly message?: string;
}

export type HelperRequest =
  | { readonly op: 'listen'; readonly transport: 'tcp' | 'udp'; readonly host: string; readonly port: number; readonly ipv6Only: boolean }
  | { readonly op: 'connect'; readonly host: string; readonly port: number }
  | { readonly op: 'udp'; readonly type: 'udp4' | 'udp6' };

/** An error a helper reported for a request, keeping the errno code (EADDRINUSE, ECONNREFUSED, ...). */
export class HelperError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'HelperError';
    this.code = code;
  }
}

/** netns-helper.mjs beside this file, or (when running from the dist/ bundle) in the source tree. */
export function helperScript(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, 'netns-helper.mjs'), join(here, '..', 'src', 'drivers', 'ports', 'netns-helper.mjs')]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`netns-helper.mjs not found beside ${here}`);
}

const REQUEST_TIMEOUT_MS = 10_000;

export class NetnsHelper {
  readonly netnsPath: string;
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve(v: [HelperReply, unknown]): void; reject(e: Error): void; timer: NodeJS.Timeout }>();
  #next = 1;
  #gone: Error | null = null;
  readonly ready: Promise<void>;

  constructor(netnsPath: string, logger?: DriverLogger) {
    this.netnsPath = netnsPath;
    this.#child = childProcess().spawn('nsenter', [`--net=${netnsPath}`, '--', process.execPath, helperScript()], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
      serialization: 'json',
    });
    let stderr = '';
    this.#child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    this.ready = new Promise<void>((resolve, reject) => {
      const onMessage = (m: unknown): void => {
        if ((m as { ready?: boolean } | null)?.ready === true) {
          this.#child.off('message', onMessage);
          resolve();
        }
      };
      this.#child.on('message', onMessage);
      this.#child.once('exit', () => reject(this.#gone ?? new Error('the helper exited')));
      this.#child.once('error', reject);
    });
    this.ready.catch(() => undefined);
    this.#child.on('message', (m: unknown, handle: unknown) => {
      const reply = m as HelperReply;
      if (typeof reply?.id !== 'number') return;
      const waiter = this.#pending.get(reply.id);
      if (waiter === undefined) {
        // A late answer to a request that timed out: do not keep its socket.
        (handle as { destroy?(): void; close?(): void } | undefined)?.destroy?.();
        return;
      }
      this.#pending.delete(reply.id);
      clearTimeout(waiter.timer);
      waiter.resolve([reply, handle]);
    });
    const fail = (err: Error): void => {
      this.#gone ??= err;
      for (const [id, waiter] of this.#pending) {
        this.#pending.delete(id);
        clearTimeout(waiter.timer);
        waiter.reject(err);
      }
    };
    this.#child.once('error', (err) => fail(err));
    this.#child.once('exit', (code, signal) => {
      const err = new Error(`the netns helper for ${netnsPath} exited (${code ?? signal})${stderr.trim() === '' ? '' : `: ${stderr.trim()}`}`);
      fail(err);
      logger?.debug({ netnsPath, code, signal }, 'netns helper exited');
    });
  }

  get alive(): boolean {
    return this.#gone === null;
  }

  /** Sends a request; resolves with the handle, rejects with a HelperError (or the helper's death). */
  async request<T>(request: HelperRequest): Promise<T> {
    await this.ready;
    if (this.#gone !== null) throw this.#gone;
    const id = this.#next++;
    const [reply, handle] = await new Promise<[HelperReply, unknown]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`the netns helper for ${this.netnsPath} did not answer ${request.op} within ${REQUEST_TIMEOUT_MS} ms`));
      }, REQUEST_TIMEOUT_MS);
      this.#pending.set(id, { resolve, reject, timer });
      this.#child.send({ ...request, id }, (err: Error | null) => {
        if (err === null) return;
        this.#pending.delete(id);
        clearTimeout(timer);
        reject(err);
      });
    });
    if (!reply.ok || handle === undefined) throw new HelperError(reply.code ?? 'EUNKNOWN', reply.message ?? 'the helper gave no handle');
    return handle as T;
  }

  async close(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    // Disconnecting makes the helper exit by itself; the kill is for one that hangs.
    if (this.#child.connected) this.#child.disconnect();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 2_000);
    await exited;
    clearTimeout(timer);
  }
}

/** One helper per namespace, shared by the ports that need it and ended with the last of them. */
export class HelperPool {
  readonly #helpers = new Map<string, { helper: NetnsHelper; users: number }>();
  readonly #logger: DriverLogger | undefined;

  constructor(logger?: DriverLogger) {
    this.#logger = logger;
  }

  async acquire(netnsPath: string): Promise<NetnsHelper> {
    let entry = this.#helpers.get(netnsPath);
    if (entry !== undefined && !entry.helper.alive) {
      this.#helpers.delete(netnsPath);
      entry = undefined;
    }
    if (entry === undefined) {
      entry = { helper: new NetnsHelper(netnsPath, this.#logger), users: 0 };
      this.#helpers.set(netnsPath, entry);
    }
    entry.users++;
    try {
      await entry.helper.ready;
    } catch (err) {
      await this.release(entry.helper);
      throw new Error(`could not start a helper in the network namespace ${netnsPath}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    return entry.helper;
  }

  async release(helper: NetnsHelper): Promise<void> {
    const entry = this.#helpers.get(helper.netnsPath);
    if (entry === undefined || entry.helper !== helper) {
      await helper.close();
      return;
    }
    entry.users--;
    if (entry.users > 0) return;
    this.#helpers.delete(helper.netnsPath);
    await helper.close();
  }

  get size(): number {
    return this.#helpers.size;
  }

  async closeAll(): Promise<void> {
    const all = [...this.#helpers.values()];
    this.#helpers.clear();
    await Promise.all(all.map((e) => e.helper.close()));
  }
}
