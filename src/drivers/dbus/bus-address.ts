// Which bus dobbyd serves on: --dbus-address, $DBUS_SYSTEM_BUS_ADDRESS, the system bus, or a private dbus-daemon it owns.

import { childProcess } from '../../builtins.ts';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DobbyError } from '../../errors.ts';
import { busAddressFor } from '../../host/dbus-check.ts';
import { sealInheritedFds } from '../cloexec.ts';

export interface BusSelection {
  /** --dbus-address, if given. */
  readonly dbusAddress?: string | null;
  /** --private-bus: start and own a dbus-daemon under `stateDir`. */
  readonly privateBus?: boolean;
  readonly stateDir?: string;
}

export interface PrivateBus {
  readonly address: string;
  readonly pid: number;
  readonly configPath: string;
  readonly socketPath: string;
  /** Ends the dbus-daemon (by its pid) and removes its files. */
  stop(): Promise<void>;
}

export interface ResolvedBus {
  readonly address: string;
  /** Set when dobbyd started the bus itself. */
  readonly privateBus: PrivateBus | null;
}

/** The address to serve on; with `privateBus` a dbus-daemon is started first. */
export async function resolveBus(selection: BusSelection, env: NodeJS.ProcessEnv = process.env): Promise<ResolvedBus> {
  if (selection.privateBus === true) {
    if (selection.stateDir === undefined) throw new DobbyError('INVALID_ARGUMENT', '--private-bus needs a state dir to keep the bus in');
    const bus = await startPrivateBus(join(selection.stateDir, 'dbus'));
    return { address: bus.address, privateBus: bus };
  }
  return { address: busAddressFor(selection.dbusAddress ?? null, env), privateBus: null };
}

/** A bus policy for a bus only its owner can reach (the socket sits in a 0700 dir): everything allowed. */
function privateBusConfig(socketPath: string): string {
  return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path=${socketPath}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
  </policy>
</busconfig>
`;
}

async function isOurDbusDaemon(pid: number, configPath: string): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.split('\0').some((arg) => arg === `--config-file=${configPath}`);
}

/**
 * Starts `dbus-daemon` with its own config and socket in `dir` and waits for its address. A bus
 * left behind by a dobbyd that died is ended first (by the pid it recorded, if that process is
 * still the dbus-daemon with our config).
 */
export interface PrivateBusOptions {
  readonly binary?: string;
  readonly timeoutMs?: number;
  /** The bus config to write for a socket path (tests load the system policy this way); default: all allowed. */
  readonly configFor?: (socketPath: string) => string;
}

export async function startPrivateBus(dir: string, options: PrivateBusOptions = {}): Promise<PrivateBus> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const configPath = join(dir, 'bus.conf');
  const socketPath = join(dir, 'bus.sock');
  const pidPath = join(dir, 'bus.pid');
  if (Buffer.byteLength(socketPath) > 107) {
    throw new DobbyError('INVALID_ARGUMENT', `the private bus socket path '${socketPath}' is longer than the 107 bytes a unix socket allows: use a shorter --state-dir`);
  }
  const stale = Number((await readFile(pidPath, 'utf8').catch(() => '')).trim());
  if (Number.isInteger(stale) && stale > 0 && (await isOurDbusDaemon(stale, configPath))) {
    try {
      process.kill(stale, 'SIGTERM');
    } catch {
      // it went away by itself
    }
  }
  await rm(socketPath, { force: true });
  await writeFile(configPath, (options.configFor ?? privateBusConfig)(socketPath), { mode: 0o600 });

  const binary = options.binary ?? 'dbus-daemon';
  // Its stderr goes to a file, never a pipe: dbus-daemon logs later (e.g. when a monitor attaches)
  // and would die of SIGPIPE writing to a pipe nobody reads any more.
  const logPath = join(dir, 'bus.log');
  const logFd = openSync(logPath, 'a', 0o600);
  sealInheritedFds();
  const child = childProcess().spawn(binary, [`--config-file=${configPath}`, '--print-address', '--nofork', '--nopidfile'], {
    stdio: ['ignore', 'pipe', logFd],
    detached: true,
  });
  closeSync(logFd);
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => fail(`no address within ${options.timeoutMs ?? 5_000} ms`), options.timeoutMs ?? 5_000);
    const fail = (why: string): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      void readFile(logPath, 'utf8').catch(() => '').then((err) => {
        reject(new DobbyError('HOST_UNSUITABLE', `could not start a private dbus-daemon: ${why}${err.trim() === '' ? '' : ` (${err.trim()})`}`));
      });
    };
    child.once('error', (e) => fail(e.message));
    child.once('exit', (code, signal) => fail(`it exited (${String(code ?? signal)})`));
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.removeAllListeners('error');
      resolve(out.slice(0, nl).trim());
    });
  });
  // Nothing more comes on stdout after the address; reading on would only keep us alive.
  child.stdout!.destroy();
  child.unref();
  const pid = child.pid!;
  await writeFile(pidPath, `${pid}\n`);
  let stopped: Promise<void> | null = null;
  return {
    address, pid, configPath, socketPath,
    stop: () => (stopped ??= (async () => {
      const exited = new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once('exit', () => resolve());
      });
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await Promise.race([exited, sleep(2_000)]);
      await rm(dir, { recursive: true, force: true });
    })()),
  };
}
