// Dobby's dynamic-mount flag names (reference §3.8) turned into mount(2) flags, with the reasons for refusing a set.

/** Linux MS_* values (include/uapi/linux/mount.h). */
export const MS = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  SYNCHRONOUS: 0x10,
  REMOUNT: 0x20,
  DIRSYNC: 0x80,
  NOATIME: 0x400,
  NODIRATIME: 0x800,
  BIND: 0x1000,
  REC: 0x4000,
  SILENT: 0x8000,
  RELATIME: 0x200000,
  STRICTATIME: 0x1000000,
} as const;

const FLAG_BITS: Readonly<Record<string, number>> = {
  rbind: MS.BIND | MS.REC,
  bind: MS.BIND,
  silent: MS.SILENT,
  ro: MS.RDONLY,
  sync: MS.SYNCHRONOUS,
  dirsync: MS.DIRSYNC,
  noatime: MS.NOATIME,
  nodiratime: MS.NODIRATIME,
  relatime: MS.RELATIME,
  strictatime: MS.STRICTATIME,
  noexec: MS.NOEXEC,
  nodev: MS.NODEV,
  nosuid: MS.NOSUID,
};

/** Flags a bind remount can change (per-mount ones); sync/dirsync/silent belong to the filesystem. */
const PER_MOUNT = MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.NOATIME | MS.NODIRATIME | MS.RELATIME | MS.STRICTATIME;

export interface MountFlags {
  readonly recursive: boolean;
  /** MS_* bits to apply with a bind remount after the mount is in place (0: none). */
  readonly remountFlags: number;
  /** Names Dobby would ignore with an error log; reported, not fatal. */
  readonly ignored: readonly string[];
}

export type FlagsResult = { readonly ok: true; readonly flags: MountFlags } | { readonly ok: false; readonly reason: string };

export function parseMountFlags(names: readonly string[]): FlagsResult {
  let bits = 0;
  const ignored: string[] = [];
  for (const raw of names) {
    const name = raw.trim();
    if (name === '') continue;
    const bit = FLAG_BITS[name];
    if (bit === undefined) ignored.push(name);
    else bits |= bit;
  }
  if ((bits & MS.BIND) === 0) {
    return { ok: false, reason: `mount flags [${names.join(', ')}] lack 'bind' or 'rbind': only bind mounts of host paths are supported` };
  }
  return { ok: true, flags: { recursive: (bits & MS.REC) !== 0, remountFlags: bits & PER_MOUNT, ignored } };
}
