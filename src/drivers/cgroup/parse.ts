// Pure parsers for the cgroup files the daemon reads: /proc/<pid>/cgroup, mountinfo, OOM counters.

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

/** Mount options of a v1 cgroup mount that are not controllers. */
const V1_NON_CONTROLLER_OPTIONS = new Set(['rw', 'ro', 'xattr', 'noprefix', 'clone_children', 'cpuset_v2_mode', 'favordynmods']);

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

/** `\040`-style escapes the kernel uses in mountinfo for spaces, tabs, newlines and backslashes. */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** The cgroup (v1) and cgroup2 mounts listed in /proc/self/mountinfo. */
export function parseCgroupMounts(mountinfo: string): CgroupMounts {
  const v1: CgroupV1Mount[] = [];
  const v2: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const fields = line.trim().split(' ');
    const dash = fields.indexOf('-');
    if (dash < 6) continue;
    const fsType = fields[dash + 1];
    const root = unescapeMountField(fields[3] ?? '/');
    const mountPoint = unescapeMountField(fields[4] ?? '');
    if (fsType === 'cgroup2') v2.push({ mountPoint, root });
    else if (fsType === 'cgroup') {
      const controllers = (fields[dash + 3] ?? '')
        .split(',')
        .filter((o) => o !== '' && !V1_NON_CONTROLLER_OPTIONS.has(o) && (!o.includes('=') || o.startsWith('name=')));
      v1.push({ mountPoint, root, controllers });
    }
  }
  return { v1, v2: v2.find((m) => m.root === '/') ?? v2[0] ?? null };
}

export function layoutKind(mounts: CgroupMounts): CgroupLayoutKind {
  const hasV1 = mounts.v1.some((m) => m.controllers.some((c) => !c.startsWith('name=')));
  if (hasV1 && mounts.v2 !== null) return 'hybrid';
  if (hasV1) return 'v1';
  return mounts.v2 !== null ? 'v2' : 'none';
}

/** `cgroup.controllers`: space-separated names. */
export function parseControllerList(text: string): string[] {
  return text.split(/\s+/).filter((c) => c !== '');
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
