// Runs a host tool in the daemon's own network namespace or, for tests standing in a namespace for the host, inside a named one.

import { canEnterNetns, run, type RunResult } from '../process.ts';

/**
 * Where "the host" is: undefined for the daemon's own network namespace, a name from `ip netns list`,
 * or a namespace file (`/proc/<pid>/ns/net`: a container's own namespace, for rules made inside it).
 */
export type HostNetns = string | undefined;

export class ToolError extends Error {
  readonly result: RunResult;
  readonly argv: readonly string[];
  constructor(argv: readonly string[], result: RunResult) {
    super(`${argv.join(' ')} failed (${result.code ?? result.signal}): ${result.stderr.trim() || result.stdout.trim() || 'no output'}`);
    this.name = 'ToolError';
    this.result = result;
    this.argv = argv;
  }
}

export function argvIn(netns: HostNetns, file: string, args: readonly string[]): [string, string[]] {
  if (netns === undefined) return [file, [...args]];
  if (netns.startsWith('/')) return ['nsenter', [`--net=${netns}`, '--', file, ...args]];
  return ['ip', ['netns', 'exec', netns, file, ...args]];
}

/** Runs and resolves with the result whatever the exit code. */
export function runIn(netns: HostNetns, file: string, args: readonly string[], timeoutMs = 15_000): Promise<RunResult> {
  // A namespace file is entered by the thread that starts the tool where it can: no nsenter exec.
  if (netns?.startsWith('/') === true && canEnterNetns()) return run(file, args, { timeoutMs, netns });
  const [f, a] = argvIn(netns, file, args);
  return run(f, a, { timeoutMs });
}

/** Runs and rejects with a ToolError unless the tool exits 0. */
export async function mustRunIn(netns: HostNetns, file: string, args: readonly string[], timeoutMs = 15_000): Promise<string> {
  const result = await runIn(netns, file, args, timeoutMs);
  if (result.code !== 0) throw new ToolError([file, ...args], result);
  return result.stdout;
}

/** The network namespace file of a named namespace or a pid, for nsenter. */
export function netnsPathOf(netns: string | number): string {
  if (typeof netns === 'number') return `/proc/${netns}/ns/net`;
  return netns.startsWith('/') ? netns : `/run/netns/${netns}`;
}

/**
 * True when `address` is local inside the namespace at `netnsPath` (one of its own addresses, or
 * in its loopback range): a port may only forward to the container itself, never through it.
 */
export async function isLocalIn(netnsPath: string, address: string): Promise<boolean> {
  const r = await runIn(netnsPath, 'ip', [address.includes(':') ? '-6' : '-4', 'route', 'get', address]);
  return r.code === 0 && /^local\s/.test(r.stdout.trim());
}
