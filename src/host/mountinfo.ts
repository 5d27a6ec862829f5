// Parses /proc/self/mountinfo and summarises the cgroup mounts it lists (pure: text in, data out).

export interface MountEntry {
  readonly id: number;
  readonly parentId: number;
  /** major:minor of the filesystem. */
  readonly device: string;
  /** Root of the mount inside its filesystem (e.g. `/` or `/some/cgroup`). */
  readonly root: string;
  readonly mountPoint: string;
  readonly mountOptions: readonly string[];
  readonly fsType: string;
  readonly source: string;
  readonly superOptions: readonly string[];
}

export interface CgroupV1Mount {
  readonly mountPoint: string;
  /** Controllers bound to this hierarchy (e.g. `['cpu', 'cpuacct']`); empty for named-only ones. */
  readonly controllers: readonly string[];
  /** The `name=` option, e.g. `systemd`. */
  readonly name: string | undefined;
}

export type CgroupMode = 'v1' | 'v2' | 'hybrid' | 'none';

export interface CgroupMounts {
  readonly mode: CgroupMode;
  /** The cgroup2 mount to use (root `/` preferred), if any. */
  readonly v2: MountEntry | undefined;
  readonly v1: readonly CgroupV1Mount[];
}

/** `\040` style octal escapes used by the kernel for spaces, tabs, newlines and backslashes. */
function unescapeOctal(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parses one mountinfo line; undefined for lines that do not have the mountinfo shape. */
export function parseMountinfoLine(line: string): MountEntry | undefined {
  const fields = line.trim().split(' ');
  const dash = fields.indexOf('-');
  if (dash < 6 || fields.length < dash + 3) return undefined;
  const [id, parentId, device, root, mountPoint, mountOptions] = fields as [string, string, string, string, string, string];
  return {
    id: Number(id),
    parentId: Number(parentId),
    device,
    root: unescapeOctal(root),
    mountPoint: unescapeOctal(mountPoint),
    mountOptions: mountOptions.split(','),
    fsType: fields[dash + 1]!,
    source: unescapeOctal(fields[dash + 2]!),
    superOptions: (fields[dash + 3] ?? '').split(',').filter((o) => o !== ''),
  };
}

/** Parses the whole of /proc/self/mountinfo; malformed lines are skipped. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const entry = parseMountinfoLine(line);
    if (entry !== undefined) out.push(entry);
  }
  return out;
}

/** cgroup v1 mount options that are not controller names. */
const V1_NON_CONTROLLER_OPTIONS = new Set([
  'rw', 'ro', 'none', 'all', 'noprefix', 'clone_children', 'xattr', 'cpuset_v2_mode', 'favordynmods',
]);

function v1Mount(entry: MountEntry): CgroupV1Mount {
  let name: string | undefined;
  const controllers: string[] = [];
  for (const option of entry.superOptions) {
    if (option.startsWith('name=')) name = option.slice('name='.length);
    else if (option.startsWith('release_agent=')) continue;
    else if (!V1_NON_CONTROLLER_OPTIONS.has(option)) controllers.push(option);
  }
  return { mountPoint: entry.mountPoint, controllers: controllers.sort(), name };
}

/** Finds the cgroup mounts and says which layout they form. */
export function cgroupMounts(entries: readonly MountEntry[]): CgroupMounts {
  const v2All = entries.filter((e) => e.fsType === 'cgroup2');
  const v2 = v2All.find((e) => e.root === '/') ?? v2All[0];
  const v1 = entries.filter((e) => e.fsType === 'cgroup').map(v1Mount);
  const v1HasControllers = v1.some((m) => m.controllers.length > 0);
  const mode: CgroupMode = v2 !== undefined
    ? (v1HasControllers ? 'hybrid' : 'v2')
    : (v1.length > 0 ? 'v1' : 'none');
  return { mode, v2, v1 };
}

/** Controllers bound to some v1 hierarchy. */
export function v1Controllers(mounts: CgroupMounts): Set<string> {
  return new Set(mounts.v1.flatMap((m) => m.controllers));
}

/** Parses a `cgroup.controllers` file (space separated). */
export function parseControllerList(text: string | undefined): string[] {
  return (text ?? '').split(/\s+/).filter((c) => c !== '').sort();
}

/** Parses /proc/cgroups into controller → enabled. */
export function parseProcCgroups(text: string): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const [name, , , enabled] = line.trim().split(/\s+/);
    if (name !== undefined) out.set(name, enabled === '1');
  }
  return out;
}
