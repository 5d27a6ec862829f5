// Reads a container's cgroup placement and OOM-kill counters from /proc and the cgroup mounts.

import { rmdir } from 'node:fs/promises';
import { readSmallText } from '../small-file.ts';
import {
  cgroupDir, layoutKind, parseCgroupMounts, parseControllerList, parseOomKill, parseProcCgroup, v1MountFor,
  type CgroupLayoutKind, type CgroupMounts, type CgroupPaths,
} from './parse.ts';

export interface CgroupLayout {
  readonly layout: CgroupLayoutKind;
  /** Where cgroup2 is mounted, if it is. */
  readonly v2MountPoint: string | null;
  /**
   * Controllers the cgroup2 hierarchy holds. On a hybrid host this must be empty for crun 1.8.1
   * ("cgroups in hybrid mode not supported, drop all controllers from cgroupv2").
   */
  readonly v2Controllers: readonly string[];
  /** v1 controller → mount point (named hierarchies as `name=X`). */
  readonly v1Controllers: Readonly<Record<string, string>>;
}

/**
 * The host's cgroup mounts, read at most once per RECENT_MS: they are mounted at boot, and every
 * exit and teardown needs them (an OOM count, the leftover cgroups), three reads of the mount
 * table per container otherwise.
 */
const RECENT_MS = 5_000;
let recent: { readonly at: number; readonly mounts: Promise<CgroupMounts> } | null = null;

function recentCgroupMounts(): Promise<CgroupMounts> {
  const now = Date.now();
  if (recent === null || now - recent.at > RECENT_MS) recent = { at: now, mounts: readCgroupMounts() };
  return recent.mounts;
}

export async function readCgroupMounts(mountinfoPath = '/proc/self/mountinfo'): Promise<CgroupMounts> {
  return parseCgroupMounts(readSmallText(mountinfoPath) ?? '');
}

/** Cgroup paths of a live process; null once it is gone. Read them while the container runs. */
export async function cgroupPathsOfPid(pid: number): Promise<CgroupPaths | null> {
  const text = readSmallText(`/proc/${pid}/cgroup`);
  return text === null ? null : parseProcCgroup(text);
}

/**
 * OOM kills the kernel counted in those cgroups (v1 memory.oom_control and v2 memory.events),
 * or null when no counter can be read (cgroup removed, memory controller absent, kernel < 4.13).
 */
export async function readOomKillCount(paths: CgroupPaths, mounts?: CgroupMounts): Promise<number | null> {
  const m = mounts ?? (await recentCgroupMounts());
  const files: string[] = [];
  const v1Path = paths.v1['memory'];
  const memoryMount = v1MountFor(m, 'memory');
  if (v1Path !== undefined && memoryMount !== null) {
    const dir = cgroupDir(memoryMount, v1Path);
    if (dir !== null) files.push(`${dir}/memory.oom_control`);
  }
  if (paths.v2 !== null && m.v2 !== null) {
    const dir = cgroupDir(m.v2, paths.v2);
    if (dir !== null) files.push(`${dir}/memory.events`);
  }
  const counts = await Promise.all(files.map(async (f) => {
    const text = readSmallText(f);
    return text === null ? null : parseOomKill(text);
  }));
  const known = counts.filter((c): c is number => c !== null);
  return known.length === 0 ? null : known.reduce((a, b) => a + b, 0);
}

/** Same as readOomKillCount, with "cannot tell" read as 0. */
export async function oomKillCount(paths: CgroupPaths, mounts?: CgroupMounts): Promise<number> {
  return (await readOomKillCount(paths, mounts)) ?? 0;
}

/** Which cgroup layout the host has, for the host check and for choosing what to read. */
export async function detectCgroupLayout(mountinfoPath = '/proc/self/mountinfo'): Promise<CgroupLayout> {
  const mounts = await readCgroupMounts(mountinfoPath);
  const v2Controllers = mounts.v2 === null ? [] : parseControllerList(readSmallText(`${mounts.v2.mountPoint}/cgroup.controllers`) ?? '');
  const v1Controllers: Record<string, string> = {};
  for (const mount of mounts.v1) for (const c of mount.controllers) v1Controllers[c] ??= mount.mountPoint;
  return { layout: layoutKind(mounts), v2MountPoint: mounts.v2?.mountPoint ?? null, v2Controllers, v1Controllers };
}

/**
 * Removes the cgroup directories at `path` in every hierarchy, where they are empty. crun leaves them
 * behind when a create fails after it made them; rmdir refuses a cgroup that still has processes or
 * children, so a live cgroup is never touched. Returns the directories removed.
 */
export async function removeEmptyCgroups(path: string, mounts?: CgroupMounts): Promise<string[]> {
  const all = mounts ?? (await recentCgroupMounts());
  const dirs = [...all.v1, ...(all.v2 === null ? [] : [all.v2])].map((m) => cgroupDir(m, path)).filter((d): d is string => d !== null);
  // One per hierarchy (a dozen on a v1 host), independent of each other: all at once.
  const unique = [...new Set(dirs)];
  const gone = await Promise.all(unique.map((dir) => rmdir(dir).then(() => true, () => false)));
  return unique.filter((_, i) => gone[i]);
}
