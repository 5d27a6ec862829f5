// Launches one conmon and reads its verdict on the container from the sync pipe.

import type { Readable } from 'node:stream';
import { leanSpawn, type StdioSlot } from '../lean-spawn.ts';
import { minimalEnv } from '../process.ts';
import type { ConmonPaths } from './conmon-files.ts';

export interface ConmonLaunch {
  readonly conmon: string;
  readonly id: string;
  readonly runtimeBinary: string;
  readonly runtimeRoot: string;
  readonly bundle: string;
  readonly logPath: string;
  readonly logDriver?: 'k8s-file' | 'none';
  readonly logSizeMax?: number;
  readonly logTotalMax?: number;
  readonly terminal?: boolean;
  readonly fds: readonly number[];
  readonly paths: ConmonPaths;
  readonly timeoutMs: number;
  /** The run-detached script (run-detached.ts): conmon starts the container as it creates it. */
  readonly runDetached?: string;
}

export type ConmonVerdict =
  /** The container is created; pid is its init. */
  | { readonly kind: 'created'; readonly pid: number }
  /** The runtime refused; conmon relays its stderr. */
  | { readonly kind: 'runtime-failed'; readonly message: string }
  /** conmon itself failed (bad arguments, crash) or said nothing in time. */
  | { readonly kind: 'monitor-failed'; readonly exitStatus: number | null; readonly stderr: string; readonly timedOut: boolean };

export function conmonArgs(launch: ConmonLaunch): string[] {
  const { id, paths } = launch;
  return [
    '--api-version', '1',
    '-c', id, '-u', id, '-n', id,
    ...(launch.runDetached === undefined ? ['-r', launch.runtimeBinary] : ['-r', launch.runDetached, '--runtime-arg', launch.runtimeBinary]),
    '-b', launch.bundle,
    '-p', paths.pidFile,
    '-P', paths.conmonPidFile,
    '-l', launch.logDriver === 'none' ? 'none' : `k8s-file:${launch.logPath}`,
    ...(launch.logSizeMax === undefined ? [] : ['--log-size-max', String(launch.logSizeMax)]),
    ...(launch.logTotalMax === undefined ? [] : ['--log-global-size-max', String(launch.logTotalMax)]),
    ...(launch.terminal === true ? ['-t'] : []),
    '--exit-dir', paths.exitDir,
    '--socket-dir-path', paths.socketDir,
    '--persist-dir', paths.persistDir,
    '--runtime-arg', `--root=${launch.runtimeRoot}`,
    // conmon appends runtime opts to its `create --bundle B --pid-file P` command line.
    ...(launch.fds.length === 0 ? [] : ['--runtime-opt', `--preserve-fds=${launch.fds.length}`]),
  ];
}

/**
 * Rejects only when conmon cannot be started (spawn error). conmon forks at once and its first
 * process exits; the daemonised one writes `{"data": <pid>}` (or a negative value and a message)
 * to the sync pipe once the runtime's `create` is done, then keeps the pipe open until the
 * container exits, so the verdict is the first line, never the end of the stream.
 */
export function launchConmon(launch: ConmonLaunch): Promise<ConmonVerdict> {
  // The caller's fds go to 3..N+2 and the sync pipe just after them.
  const syncFd = 3 + launch.fds.length;
  const stdio: StdioSlot[] = ['ignore', 'ignore', 'pipe', ...launch.fds, 'pipe'];
  const child = leanSpawn(launch.conmon, conmonArgs(launch), {
    cwd: launch.paths.persistDir,
    env: minimalEnv({ _OCI_SYNCPIPE: String(syncFd) }),
    stdio,
  });
  // None when conmon could not be started: the 'error' event says why.
  const sync: Readable | null = child.stdio[syncFd] ?? null;
  const stderr: Buffer[] = [];
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));

  return new Promise<ConmonVerdict>((resolve, reject) => {
    let buffered = '';
    let done = false;
    let exitStatus: number | null = null;
    let exited = false;
    const exitWaiters: Array<() => void> = [];
    const timer = setTimeout(() => void monitorFailed(true), launch.timeoutMs);

    const finish = (verdict: ConmonVerdict): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      // Nothing more comes on the pipe; holding it would keep one fd per container in the daemon.
      sync?.destroy();
      resolve(verdict);
    };
    const monitorFailed = async (timedOut: boolean): Promise<void> => {
      if (done) return;
      // Give the first process a moment to exit so its stderr (argument errors) is complete.
      if (!exited && !timedOut) await new Promise<void>((r) => { exitWaiters.push(r); setTimeout(r, 1000).unref(); });
      finish({ kind: 'monitor-failed', exitStatus, stderr: Buffer.concat(stderr).toString('utf8'), timedOut });
    };

    child.once('error', (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sync?.destroy();
      reject(err);
    });
    child.once('exit', (code) => {
      exited = true;
      exitStatus = code;
      for (const w of exitWaiters.splice(0)) w();
    });
    if (sync === null) return;
    sync.setEncoding('utf8');
    sync.on('data', (chunk: string) => {
      buffered += chunk;
      const newline = buffered.indexOf('\n');
      if (newline < 0) return;
      const verdict = parseSyncMessage(buffered.slice(0, newline));
      if (verdict !== null) finish(verdict);
      else void monitorFailed(false);
    });
    sync.on('error', () => void monitorFailed(false));
    sync.on('end', () => {
      const verdict = buffered.trim() === '' ? null : parseSyncMessage(buffered);
      if (verdict !== null) finish(verdict);
      else void monitorFailed(false);
    });
  });
}

/** `{"data": 1234}` → created; `{"data": -1, "message": "…"}` → the runtime's refusal. */
export function parseSyncMessage(line: string): ConmonVerdict | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return null;
  }
  const data = (parsed as { data?: unknown } | null)?.data;
  if (typeof data !== 'number') return null;
  if (data > 0) return { kind: 'created', pid: data };
  const message = (parsed as { message?: unknown }).message;
  return { kind: 'runtime-failed', message: typeof message === 'string' ? message : `runtime failed with status ${data}` };
}
