// Where conmon keeps each container's files under the monitor's state dir, and how to read and clear them.

import { lstat, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ConmonPaths {
  readonly exitDir: string;
  /** conmon names it after `-c`; its content is the exit code (128+N for signal N). */
  readonly exitFile: string;
  readonly pidFile: string;
  readonly conmonPidFile: string;
  readonly socketDir: string;
  /** conmon's symlink to the bundle dir (where it put the attach socket). */
  readonly socketLink: string;
  /** conmon's `--persist-dir`; also its cwd, so its CRI-O style `./oom` lands here too. */
  readonly persistDir: string;
  readonly oomFile: string;
  /** Ours: the container's /proc/<pid>/cgroup as read at create, to count OOM kills after it died. */
  readonly cgroupFile: string;
}

export function conmonPaths(stateDir: string, id: string): ConmonPaths {
  const persistDir = join(stateDir, 'persist', id);
  return {
    exitDir: join(stateDir, 'exits'),
    exitFile: join(stateDir, 'exits', id),
    pidFile: join(stateDir, 'pids', `${id}.pid`),
    conmonPidFile: join(stateDir, 'pids', `${id}.conmon.pid`),
    socketDir: join(stateDir, 'sockets'),
    socketLink: join(stateDir, 'sockets', id),
    persistDir,
    oomFile: join(persistDir, 'oom'),
    cgroupFile: join(persistDir, 'cgroup'),
  };
}

/** FIFOs and the socket conmon leaves in the bundle dir (named after its `-b`). */
export const BUNDLE_ARTIFACTS = ['ctl', 'winsz', 'attach'] as const;

export async function readTextOrNull(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return null;
  }
}

export async function readPid(path: string): Promise<number | null> {
  const text = await readTextOrNull(path);
  const pid = Number(text?.trim());
  return text !== null && Number.isInteger(pid) && pid > 0 ? pid : null;
}

/**
 * True when `pid` runs (not a zombie) and, if given, its command name is `comm`: pids are reused,
 * and this host's PID 1 reaps orphans lazily, so a dead conmon can linger as a zombie.
 */
export async function isAlive(pid: number, comm?: string): Promise<boolean> {
  const stat = await readTextOrNull(`/proc/${pid}/stat`);
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

/** The bundle dir conmon worked in, from its socket symlink; null when there is none. */
export async function bundleOf(paths: ConmonPaths): Promise<string | null> {
  try {
    return await readlink(paths.socketLink);
  } catch {
    return null;
  }
}

/** True when a container other than `paths`' own was created from `bundle` and not yet released. */
async function bundleSharedWithOthers(paths: ConmonPaths, bundle: string): Promise<boolean> {
  const names = await readdir(paths.socketDir).catch(() => [] as string[]);
  const links = await Promise.all(
    names.map((n) => join(paths.socketDir, n)).filter((p) => p !== paths.socketLink).map((p) => readlink(p).catch(() => null)),
  );
  return links.includes(bundle);
}

/**
 * Removes everything conmon and we keep for one container; the bundle only loses conmon's
 * FIFOs/socket, and keeps them while another container made from it still uses them.
 */
export async function removeConmonFiles(paths: ConmonPaths, bundle: string | null): Promise<void> {
  // Own link first, then look at the others: of two containers released at once, the later check
  // sees neither link, so the FIFOs go (checking first, both would see the other and keep them).
  await rm(paths.socketLink, { force: true });
  const shared = bundle !== null && (await bundleSharedWithOthers(paths, bundle));
  const removals = [paths.exitFile, paths.pidFile, paths.conmonPidFile].map((p) => rm(p, { force: true }));
  removals.push(rm(paths.persistDir, { recursive: true, force: true }));
  if (bundle !== null && !shared) {
    for (const name of BUNDLE_ARTIFACTS) removals.push(removeIfSpecial(join(bundle, name)));
  }
  await Promise.all(removals);
}

/** Only conmon's kinds of file: a user's regular file called `ctl` is left alone. */
async function removeIfSpecial(path: string): Promise<void> {
  try {
    const st = await lstat(path);
    if (st.isFIFO() || st.isSocket()) await rm(path, { force: true });
  } catch {
    // not there
  }
}
