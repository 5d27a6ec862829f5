// Runs short-lived host tools with argument arrays (never a shell) and collects what they print.

import { DEFAULT_PATH } from './executables.ts';
import { DobbyError } from '../errors.ts';
import { collectOutput, leanSpawn, type StdioOptions, type StdioSlot } from './lean-spawn.ts';

export { canEnterNetns } from './lean-spawn.ts';

export { DEFAULT_PATH, resolveExecutable } from './executables.ts';

/** The subset of pino the drivers log through, so tests can pass a plain object. */
export interface DriverLogger {
  debug(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/** PATH only: tools must not see the daemon's environment (proxies, NODE_* and the like). */
export function minimalEnv(extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  return { PATH: process.env['PATH'] ?? DEFAULT_PATH, ...extra };
}

export interface RunOptions {
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** The tool's argv[0]; default `file` as given. */
  readonly argv0?: string;
  /** Default: stdin /dev/null, stdout and stderr piped. */
  readonly stdio?: StdioOptions;
  /**
   * 'close' waits for the pipes to drain as well as the exit. Use 'exit' when the tool leaves a
   * process behind that inherits its stdio (a detached exec), or 'close' would wait for that one.
   */
  readonly waitFor?: 'close' | 'exit';
  /** Kills the tool with SIGKILL after this long; 0 or absent: no limit. */
  readonly timeoutMs?: number;
  /** Written to the tool's stdin (then closed); stdin is a pipe then, whatever `stdio` says of slot 0. */
  readonly input?: string;
  /**
   * The network namespace to start the tool in (a /proc/<pid>/ns/net file), where canEnterNetns()
   * says it can be entered without nsenter; only with the default stdio, to the end ('close').
   */
  readonly netns?: string;
}

export interface RunResult {
  /** Exit code, or null when killed by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Rejects only when the tool cannot be started at all (the spawn error, e.g. ENOENT). */
export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  // The common case (stdin from the input or /dev/null, the output gathered, to the end) in one call of the addon.
  if (options.stdio === undefined && (options.waitFor ?? 'close') === 'close') {
    const collected = collectOutput(file, args, {
      env: options.env ?? minimalEnv(), cwd: options.cwd, argv0: options.argv0, input: options.input, timeoutMs: options.timeoutMs, netns: options.netns,
    });
    if (collected !== null) return collected;
  }
  if (options.netns !== undefined) {
    return Promise.reject(new DobbyError('INTERNAL', `cannot start ${file} in the network namespace ${options.netns}: the spawn addon is not in use (use nsenter)`));
  }
  return new Promise((resolve, reject) => {
    const child = leanSpawn(file, args, {
      env: options.env ?? minimalEnv(),
      stdio: stdioFor(options),
      argv0: options.argv0,
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    });
    // Our own timer rather than spawn's `timeout` option: Node clears that one only on exit, so a
    // spawn that fails (ENOENT) kept the process alive for the whole time limit.
    // 0 (or none) is no limit, as it was for spawn's option.
    const limit = options.timeoutMs ?? 0;
    const timer = limit > 0 ? setTimeout(() => child.kill('SIGKILL'), limit) : null;
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
    if (options.input !== undefined) {
      // A tool that exits before reading all of its input must not crash us with EPIPE.
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(options.input);
    }
    let settled = false;
    child.once('error', (error) => {
      if (timer !== null) clearTimeout(timer);
      if (settled) return;
      settled = true;
      reject(error);
    });
    child.once(options.waitFor ?? 'close', (code: number | null, signal: NodeJS.Signals | null) => {
      if (timer !== null) clearTimeout(timer);
      if (settled) return;
      settled = true;
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

function stdioFor(options: RunOptions): StdioOptions {
  const stdio = options.stdio ?? ['ignore', 'pipe', 'pipe'];
  if (options.input === undefined) return stdio;
  const slots = Array.isArray(stdio) ? [...(stdio as readonly StdioSlot[])] : [stdio, stdio, stdio] as StdioSlot[];
  slots[0] = 'pipe';
  return slots;
}

/** True for the error spawn gives when the executable is not there (or not executable). */
export function isMissingExecutable(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'EACCES';
}

/**
 * The one line worth showing from a tool's stderr. runc logs through logrus
 * (`time="…" level=error msg="…"`), so its message is unquoted; others give the first non-empty line.
 */
export function summariseStderr(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const logrus = lines.map(logrusMessage).find((m) => m !== null);
  if (logrus !== undefined && logrus !== null) return logrus;
  return lines[0] ?? '(no output on stderr)';
}

function logrusMessage(line: string): string | null {
  if (!/\blevel=(error|fatal|panic)\b/.test(line)) return null;
  const match = /\bmsg="((?:[^"\\]|\\.)*)"/.exec(line);
  if (match?.[1] === undefined) return null;
  try {
    return JSON.parse(`"${match[1]}"`) as string;
  } catch {
    return match[1];
  }
}
