// Pure parser for /proc/self/mountinfo: every mount it lists, with the kernel's octal escapes undone.

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

/** `\040`-style escapes the kernel uses for spaces, tabs, newlines and backslashes. */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** One mountinfo line; undefined for lines that do not have the mountinfo shape. */
export function parseMountinfoLine(line: string): MountEntry | undefined {
  const fields = line.trim().split(' ');
  const dash = fields.indexOf('-');
  if (dash < 6 || fields.length < dash + 3) return undefined;
  const [id, parentId, device, root, mountPoint, mountOptions] = fields as [string, string, string, string, string, string];
  return {
    id: Number(id),
    parentId: Number(parentId),
    device,
    root: unescapeMountField(root),
    mountPoint: unescapeMountField(mountPoint),
    mountOptions: mountOptions.split(','),
    fsType: fields[dash + 1]!,
    source: unescapeMountField(fields[dash + 2]!),
    superOptions: (fields[dash + 3] ?? '').split(',').filter((o) => o !== ''),
  };
}

/** The whole of /proc/self/mountinfo; malformed lines are skipped. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const entry = parseMountinfoLine(line);
    if (entry !== undefined) out.push(entry);
  }
  return out;
}
