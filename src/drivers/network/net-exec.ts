// Runs network tools (ip, iptables, sysctl) in "the host" or in a container's network namespace.
//
// "The host" is the daemon's own network namespace unless `hostNetns` names another one; tests use
// that to treat a namespace of their own as the host, so the real host network is never touched.

import { DobbyError } from '../../errors.ts';
import { canEnterNetns, run, summariseStderr, type DriverLogger } from '../process.ts';

/** Where a command runs: the host (or the namespace standing in for it), or the netns of a process. */
export type NetTarget = { readonly kind: 'host' } | { readonly kind: 'pid'; readonly pid: number };

export const HOST: NetTarget = { kind: 'host' };

export function pidTarget(pid: number): NetTarget {
  return { kind: 'pid', pid };
}

/** The network namespace file a target names, for comparisons and for H7's port manager. */
export function netnsPath(target: NetTarget, hostNetns: string | null): string {
  if (target.kind === 'pid') return `/proc/${target.pid}/ns/net`;
  return hostNetns === null ? '/proc/self/ns/net' : `/run/netns/${hostNetns}`;
}

export interface NetExecOptions {
  /** A named namespace (`ip netns add NAME`) that stands in for the host. */
  readonly hostNetns?: string | null;
  readonly timeoutMs?: number;
  readonly logger?: DriverLogger;
}

export interface NetRunResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs one tool in a target; rejects with a DobbyError naming the command when it fails. */
export interface NetExec {
  readonly hostNetns: string | null;
  run(target: NetTarget, argv: readonly string[], options?: { readonly input?: string; readonly containerId?: string }): Promise<NetRunResult>;
}

export class SpawnNetExec implements NetExec {
  readonly hostNetns: string | null;
  readonly #timeoutMs: number;
  readonly #logger: DriverLogger | undefined;

  constructor(options: NetExecOptions = {}) {
    this.hostNetns = options.hostNetns ?? null;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#logger = options.logger;
  }

  /**
   * The full argv: `ip` knows `-n NAME` itself; anything else goes through `ip netns exec`, and a
   * process's namespace through nsenter where the spawn addon cannot enter it itself (see run).
   */
  argvFor(target: NetTarget, argv: readonly string[]): string[] {
    if (target.kind === 'pid') return canEnterNetns() ? [...argv] : ['nsenter', `--net=/proc/${target.pid}/ns/net`, '--', ...argv];
    if (this.hostNetns === null) return [...argv];
    if (argv[0] === 'ip') return ['ip', '-n', this.hostNetns, ...argv.slice(1)];
    return ['ip', 'netns', 'exec', this.hostNetns, ...argv];
  }

  async run(target: NetTarget, argv: readonly string[], options: { readonly input?: string; readonly containerId?: string } = {}): Promise<NetRunResult> {
    const full = this.argvFor(target, argv);
    const [file, ...args] = full;
    if (file === undefined) throw new DobbyError('INTERNAL', 'empty network command');
    const where = target.kind === 'pid' ? `the network namespace of pid ${target.pid}` : this.hostNetns === null ? 'the host' : `namespace ${this.hostNetns}`;
    const started = Date.now();
    // A process's namespace entered by the thread that starts the tool: one exec fewer than nsenter's.
    const netns = target.kind === 'pid' && canEnterNetns() ? { netns: `/proc/${target.pid}/ns/net` } : {};
    const result = await run(file, args, { timeoutMs: this.#timeoutMs, ...netns, ...(options.input === undefined ? {} : { input: options.input }) }).catch((err: unknown) => {
      const code = (err as NodeJS.ErrnoException).code;
      if ((err as NodeJS.ErrnoException).syscall === 'setns') {
        throw new DobbyError('INTERNAL', `'${argv.join(' ')}' failed in ${where}: ${(err as Error).message}`, { containerId: options.containerId, verb: argv.join(' '), cause: err });
      }
      throw new DobbyError(code === 'ENOENT' ? 'HOST_UNSUITABLE' : 'INTERNAL',
        code === 'ENOENT' ? `'${file}' is not installed; the networking plugin needs iproute2, iptables and util-linux (nsenter)` : `could not run ${file}: ${String(err)}`,
        { containerId: options.containerId, verb: argv.join(' '), cause: err });
    });
    this.#logger?.debug({ argv: full, ...netns, ms: Date.now() - started, code: result.code }, 'network command');
    if (result.code !== 0) {
      const command = argv.join(' ');
      throw new DobbyError('INTERNAL', `'${command}' failed in ${where} (exit ${result.code ?? result.signal}): ${summariseStderr(result.stderr)}`, {
        containerId: options.containerId, verb: command, exitStatus: result.code, stderr: result.stderr,
      });
    }
    return { stdout: result.stdout, stderr: result.stderr };
  }
}
