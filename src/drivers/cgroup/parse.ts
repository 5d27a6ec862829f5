// Pure parsers for the cgroup files the daemon and the host check read: /proc/<pid>/cgroup, mounts, controllers, OOM.

import { parseMountinfo } from './mountinfo.ts';

/** A process's cgroup, per v1 hierarchy (keyed by controller, or `name=X`) and in the v2 tree. */
export interface CgroupPaths {
  readonly v1: Readonly<Record<string, string>>;
  readonly v2: string | null;
}

/** One cgroup filesystem mount: where it is and which part of the hierarchy it shows. */
export interface CgroupMount {
  readonly mountPoint: string;
  /** Root of the mount inside the hierarchy; `/` unless bind-mounted or namespaced. */
  readonly root: string;
}

export interface CgroupV1Mount extends CgroupMount {
  /** Controllers of this hierarchy (`cpu`, `cpuacct`, …) and its `name=X`, if named. */
  readonly controllers: readonly string[];
}

export interface CgroupMounts {
  readonly v1: readonly CgroupV1Mount[];
  /** The cgroup2 mount, preferring one that shows the whole tree. */
  readonly v2: CgroupMount | null;
}

export type CgroupLayoutKind = 'v1' | 'v2' | 'hybrid' | 'none';

/** Mount options of a v1 cgroup mount that are not controllers (besides `key=value` ones other than `name=`). */
const V1_NON_CONTROLLER_OPTIONS = new Set([
  'rw', 'ro', 'none', 'all', 'xattr', 'noprefix', 'clone_children', 'cpuset_v2_mode', 'favordynmods',
]);

/** `/proc/<pid>/cgroup`: `N:ctrl1,ctrl2:/path` lines for v1, `0::/path` for v2; hybrid hosts have both. */
export function parseProcCgroup(text: string): CgroupPaths {
  const v1: Record<string, string> = {};
  let v2: string | null = null;
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const hierarchy = line.slice(0, first);
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1); // may itself contain ':'
    if (hierarchy === '0' && controllers === '') v2 = path;
    else for (const c of controllers.split(',')) if (c !== '') v1[c] = path;
  }
  return { v1, v2 };
}

/** The cgroup (v1) and cgroup2 mounts listed in /proc/self/mountinfo. */
export function parseCgroupMounts(mountinfo: string): CgroupMounts {
  const v1: CgroupV1Mount[] = [];
  const v2: CgroupMount[] = [];
  for (const { fsType, mountPoint, root, superOptions } of parseMountinfo(mountinfo)) {
    if (fsType === 'cgroup2') v2.push({ mountPoint, root });
    else if (fsType === 'cgroup') {
      const controllers = superOptions.filter((o) => !V1_NON_CONTROLLER_OPTIONS.has(o) && (!o.includes('=') || o.startsWith('name=')));
      v1.push({ mountPoint, root, controllers });
    }
  }
  return { v1, v2: v2.find((m) => m.root === '/') ?? v2[0] ?? null };
}

/** Whether a v1 hierarchy holds a controller; a named-only one (`name=systemd`) holds none. */
export function holdsControllers(mount: CgroupV1Mount): boolean {
  return mount.controllers.some((c) => !c.startsWith('name='));
}

/** `hybrid` needs cgroup2 and a v1 hierarchy holding controllers; named-only v1 hierarchies do not count. */
export function layoutKind(mounts: CgroupMounts): CgroupLayoutKind {
  const hasV1 = mounts.v1.some(holdsControllers);
  if (hasV1 && mounts.v2 !== null) return 'hybrid';
  if (hasV1) return 'v1';
  return mounts.v2 !== null ? 'v2' : 'none';
}

export interface ControllerListOptions {
  /** Sort the names (the host check lists them alphabetically); default: the file's order. */
  readonly sorted?: boolean | undefined;
}

/** `cgroup.controllers`: space-separated names; none when the file could not be read (null or undefined). */
export function parseControllerList(text: string | null | undefined, options: ControllerListOptions = {}): string[] {
  const names = (text ?? '').split(/\s+/).filter((c) => c !== '');
  return options.sorted === true ? names.sort() : names;
}

/** `/proc/cgroups` (not `/proc/<pid>/cgroup`): controller → enabled in this kernel. */
export function parseProcCgroups(text: string): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const [name, , , enabled] = line.trim().split(/\s+/);
    if (name !== undefined) out.set(name, enabled === '1');
  }
  return out;
}

/** Directory of a cgroup inside a mount, or null when the mount does not show that part of the tree. */
export function cgroupDir(mount: CgroupMount, path: string): string | null {
  const root = mount.root === '/' ? '' : mount.root.replace(/\/+$/, '');
  if (root !== '' && path !== root && !path.startsWith(`${root}/`)) return null;
  const rest = path.slice(root.length).replace(/^\/+/, '');
  return rest === '' ? mount.mountPoint : `${mount.mountPoint.replace(/\/+$/, '')}/${rest}`;
}

/** The v1 mount holding a controller (or a `name=X` hierarchy). */
export function v1MountFor(mounts: CgroupMounts, controller: string): CgroupV1Mount | null {
  return mounts.v1.find((m) => m.controllers.includes(controller)) ?? null;
}

/**
 * The `oom_kill` field of a flat-keyed file: v1 `memory.oom_control` (kernel ≥ 4.13) and v2
 * `memory.events` both use `key value` lines. Null when the field is absent (older kernels).
 */
export function parseOomKill(text: string): number | null {
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key === 'oom_kill' && value !== undefined && /^\d+$/.test(value)) return Number(value);
  }
  return null;
}
