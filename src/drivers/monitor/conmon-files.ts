// Where conmon keeps each container's files under the monitor's state dir, and how to read and clear them.

import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { removeFile } from '../remove-file.ts';
import { readSmallText } from '../small-file.ts';

export interface ConmonPaths {
  readonly exitDir: string;
  /** conmon names it after `-c`; its content is the exit code (128+N for signal N). */
  readonly exitFile: string;
  readonly pidFile: string;
  readonly conmonPidFile: string;
  readonly socketDir: string;
  /** conmon's symlink to the bundle dir of ours (where it put the attach socket). */
  readonly socketLink: string;
  /** conmon's `--persist-dir`; also its cwd, so its CRI-O style `./oom` lands here too; holds bundle/. */
  readonly persistDir: string;
  readonly oomFile: string;
  /** Ours: the container's /proc/<pid>/cgroup as read at create, to count OOM kills after it died. */
  readonly cgroupFile: string;
}

/**
 * The paths for container `id` (a valid id: one path component) under `stateDir`. Joined as
 * strings once the dir is normalised: path.join for each of them cost ~0.3 ms per call, interpreted,
 * and a start asks several times.
 */
export function conmonPaths(stateDir: string, id: string): ConmonPaths {
  const dir = join(stateDir);
  const persistDir = `${dir}/persist/${id}`;
  return {
    exitDir: `${dir}/exits`,
    exitFile: `${dir}/exits/${id}`,
    pidFile: `${dir}/pids/${id}.pid`,
    conmonPidFile: `${dir}/pids/${id}.conmon.pid`,
    socketDir: `${dir}/sockets`,
    socketLink: `${dir}/sockets/${id}`,
    persistDir,
    oomFile: `${persistDir}/oom`,
    cgroupFile: `${persistDir}/cgroup`,
  };
}

export async function readPid(path: string): Promise<number | null> {
  const text = readSmallText(path);
  const pid = Number(text?.trim());
  return text !== null && Number.isInteger(pid) && pid > 0 ? pid : null;
}

/**
 * True when `pid` runs (not a zombie) and, if given, its command name is `comm`: pids are reused,
 * and this host's PID 1 reaps orphans lazily, so a dead conmon can linger as a zombie.
 */
export async function isAlive(pid: number, comm?: string): Promise<boolean> {
  const stat = readSmallText(`/proc/${pid}/stat`);
  if (stat === null) return false;
  const close = stat.lastIndexOf(')');
  const state = stat.slice(close + 2, close + 3);
  if (state === 'Z' || state === 'X' || state === '') return false;
  return comm === undefined || stat.slice(stat.indexOf('(') + 1, close) === comm;
}

/** Waits up to `ms` for a process to be gone; true when it is. Bounded, so a short poll is fine. */
export async function waitGone(pid: number, ms: number, comm?: string): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
    if (!(await isAlive(pid, comm))) return true;
    if (Date.now() >= deadline) return false;
    await sleep(delay);
  }
}

/** Removes everything conmon and we keep for one container (its bundle dir of ours included). */
export async function removeConmonFiles(paths: ConmonPaths): Promise<void> {
  await Promise.all([
    ...[paths.socketLink, paths.exitFile, paths.pidFile, paths.conmonPidFile].map((p) => removeFile(p)),
    rm(paths.persistDir, { recursive: true, force: true }),
  ]);
}
