// A real dobbyd process (bin/dobbyd, on a private bus of its own or a given one) for black-box tests and the soak: start, measure, stop, by pid.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BusClient } from '../../src/api/cli/bus-client.ts';

const ROOT = join(import.meta.dirname, '..', '..');

export interface DobbydProcess {
  readonly child: ChildProcess;
  /** The daemon's pid (bin/dobbyd execs node, so the child's pid is the daemon's). */
  readonly pid: number;
  /** Its private bus (printed as DBUS_ADDRESS=...). */
  readonly address: string;
  readonly stateDir: string;
  stdout(): string;
  stderr(): string;
  alive(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code (null when killed by a signal). */
  stop(graceMs?: number): Promise<number | null>;
}

export interface DobbydRun {
  readonly child: ChildProcess;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env['NODE_EXTRA_CA_CERTS'];
  return env;
}

/** Starts dobbyd and waits for its DBUS_ADDRESS line; throws with its output when it exits first. */
export async function startDobbyd(
  stateDir: string,
  args: readonly string[] = [],
  options: {
    readonly timeoutMs?: number;
    readonly env?: NodeJS.ProcessEnv;
    readonly cwd?: string;
    /** Serve on this bus instead of a private one of its own (ready once it answers Ping there). */
    readonly dbusAddress?: string;
    /** Runs the bundle bin/dobbyd runs with exactly these node flags instead (also those NODE_OPTIONS refuses, e.g. --trace-gc); the launcher's own flags and GLIBC_TUNABLES are then not applied. */
    readonly nodeFlags?: readonly string[];
    /** A named network namespace (`ip netns add`) the daemon runs in, as its host (nsenter --net, which keeps the mounts crun needs). */
    readonly netns?: string;
  } = {},
): Promise<DobbydProcess> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const bus = options.dbusAddress === undefined ? ['--private-bus'] : ['--dbus-address', options.dbusAddress];
  const daemonArgs = [...bus, '--state-dir', stateDir, '--stop-grace', '2', '--log-level', 'warn', ...args];
  const [command, commandArgs] = options.nodeFlags === undefined
    ? [join(ROOT, 'bin', 'dobbyd'), daemonArgs]
    : [join(ROOT, 'node_modules', '.bin', 'node'), [...options.nodeFlags, bundlePath(), ...daemonArgs]];
  const [file, argv] = options.netns === undefined ? [command, commandArgs] : ['nsenter', [`--net=/run/netns/${options.netns}`, '--', command, ...commandArgs]];
  // nsenter execs the command, so the child's pid stays the daemon's.
  const child = spawn(file, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: childEnv(options.env),
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + timeoutMs;
  const running = (): boolean => child.exitCode === null && child.signalCode === null && Date.now() < deadline;
  let line: readonly string[] | null = null;
  if (options.dbusAddress === undefined) {
    while (!/^DBUS_ADDRESS=/m.test(out) && running()) await sleep(20);
    line = /^DBUS_ADDRESS=(.+)$/m.exec(out);
  } else {
    while (running() && !(await answersPing(options.dbusAddress))) await sleep(100);
    if (running()) line = ['', options.dbusAddress];
  }
  if (line === null) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.race([exited, sleep(5_000)]);
    throw new Error(`dobbyd printed no DBUS_ADDRESS line (exit ${String(child.exitCode ?? child.signalCode)}; stdout: ${out}; stderr: ${err.slice(-3000)})`);
  }
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  return {
    child,
    pid: child.pid!,
    address: line[1]!,
    stateDir,
    stdout: () => out,
    stderr: () => err,
    alive,
    stop: async (graceMs = 30_000) => {
      if (alive()) {
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(graceMs)]);
        if (alive()) {
          child.kill('SIGKILL');
          await exited;
        }
      }
      return child.exitCode;
    },
  };
}

/** The daemon bundle bin/dobbyd runs (rebuilt when a source is newer). */
function bundlePath(): string {
  return execFileSync(join(ROOT, 'scripts', 'bundle.sh'), ['dobbyd', 'src/daemon-main.ts'], { encoding: 'utf8' }).trim();
}

async function answersPing(address: string): Promise<boolean> {
  let client: BusClient | undefined;
  try {
    client = await BusClient.connect(address, 2_000);
    await client.call({ destination: 'org.rdk.dobby', path: '/org/rdk/dobby', interface: 'org.rdk.dobby.admin1', member: 'Ping', timeoutMs: 2_000 });
    return true;
  } catch {
    return false;
  } finally {
    client?.close();
  }
}

/** Runs dobbyd expecting it to exit by itself (e.g. it refuses to start); kills it after `timeoutMs`. */
export async function runDobbyd(args: readonly string[], timeoutMs = 30_000): Promise<DobbydRun> {
  const child = spawn(join(ROOT, 'bin', 'dobbyd'), [...args], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
  return { child, ...result, stdout: out, stderr: err };
}

/** Resident set size in bytes and open fd count of a process, from /proc. */
export function processFootprint(pid: number): { rssBytes: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? NaN);
  return { rssBytes: rssKb * 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
}

/** What each open fd of a process points at (for a leak report). */
export function openFds(pid: number): string[] {
  const out: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      out.push(`${fd} -> ${readlinkSync(`/proc/${pid}/fd/${fd}`)}`);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}
