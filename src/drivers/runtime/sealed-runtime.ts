// Runs the OCI runtime from a sealed in-memory copy of its binary. crun and runc guard the host's
// binary against a container that would overwrite it through /proc/<pid>/exe (CVE-2019-5736) by
// re-executing themselves from a protected copy at every call, unless the binary they run from is
// already a sealed memfd: crun 1.8.1 makes a file in /tmp, bind-mounts itself on it read-only,
// re-execs through it and unmounts it, ~1.9 ms and three mount-table changes per call here (and
// create, start, kill, delete run at every container's start and stop). Sealed (no write, grow,
// shrink or new seal), the copy keeps that guard; exec'd through /proc/<daemon pid>/fd/<fd>, or a
// link to it named as the binary (then its processes are named so: the kernel names a process by
// the last part of the path it was exec'd by, and pgrep crun would not find a "23").
// Only an ELF binary is copied: a wrapper script run from a copy would find no sibling by its $0.
// The copy is checked against the binary on disk at each use: an upgraded runtime is copied again.
// DOBBY_SEALED_RUNTIME=0 turns it off (every call then runs the binary on disk).

import { accessSync, closeSync, constants, mkdirSync, openSync, readSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { sealedCopy } from '../lean-spawn.ts';
import type { DriverLogger } from '../process.ts';

/** A path to exec the runtime by; release() once the process has exec'd (or failed to). */
export interface RuntimeExec {
  readonly path: string;
  release(): void;
}

export interface RuntimeExecOptions {
  readonly logger?: DriverLogger | undefined;
  /** A dir of the daemon's own for the link named as the binary; none: the /proc path itself. */
  readonly linkDir?: string | undefined;
}

interface Copy {
  readonly fd: number;
  /** What to exec: the link, or the /proc path. */
  readonly path: string;
  /** The binary's identity when it was copied. */
  readonly key: string;
  users: number;
  retired: boolean;
}

/** The copy in use per binary (and link dir), or a note that none could be made for that identity of it. */
const copies = new Map<string, Copy | { readonly key: string; readonly failed: true }>();
const warned = new Set<string>();

function identity(binary: string): string | null {
  try {
    const st = statSync(binary, { bigint: true });
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch {
    return null;
  }
}

function retire(copy: Copy): void {
  copy.retired = true;
  if (copy.users === 0) closeSync(copy.fd);
}

function isElf(path: string): boolean {
  const head = Buffer.alloc(4);
  const fd = openSync(path, 'r');
  try {
    return readSync(fd, head, 0, 4, 0) === 4 && head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } finally {
    closeSync(fd);
  }
}

/** A sealed copy of `binary`, executable through its /proc path; null where the addon cannot make one (DOBBY_SPAWN=fork, an old build). */
function makeCopy(binary: string, key: string, linkDir: string | undefined): Copy | null {
  if (!isElf(binary)) throw new Error(`${binary} is not an ELF binary (a wrapper script is run from disk)`);
  const fd = sealedCopy(binary);
  if (fd === null) return null;
  const path = `/proc/${process.pid}/fd/${fd}`;
  try {
    // A kernel with vm.memfd_noexec makes a copy without MFD_EXEC non-executable.
    accessSync(path, constants.X_OK);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return { fd, path: linkDir === undefined ? path : linkTo(path, linkDir, basename(binary)), key, users: 0, retired: false };
}

/**
 * `<dir>/<name>` pointing at `target`, replaced in one rename: a launch that has the old link's
 * path still finds the runtime (the new copy) there. The /proc path itself if the link cannot be made.
 */
function linkTo(target: string, dir: string, name: string): string {
  const link = join(dir, name);
  const temporary = `${link}.${process.pid}.tmp`;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    rmSync(temporary, { force: true });
    symlinkSync(target, temporary);
    renameSync(temporary, link);
    return link;
  } catch {
    return target;
  }
}

/**
 * How to exec `binary` (an absolute path): its sealed copy, made at the first call for what is on
 * disk now, else the binary itself (DOBBY_SEALED_RUNTIME=0, not ELF, no copy possible: warned once).
 */
export function runtimeExec(binary: string, options: RuntimeExecOptions = {}): RuntimeExec {
  const { logger, linkDir } = options;
  const plain: RuntimeExec = { path: binary, release: () => undefined };
  if (process.env['DOBBY_SEALED_RUNTIME'] === '0' || !binary.startsWith('/')) return plain;
  const key = identity(binary);
  if (key === null) return plain;
  const slot = `${linkDir ?? ''}\0${binary}`;
  let copy = copies.get(slot);
  if (copy === undefined || copy.key !== key) {
    if (copy !== undefined && !('failed' in copy)) retire(copy);
    try {
      // null: tools start without the addon (the daemon said why at its start); nothing to warn of.
      copy = makeCopy(binary, key, linkDir) ?? { key, failed: true };
    } catch (err) {
      copy = { key, failed: true };
      if (!warned.has(binary)) {
        warned.add(binary);
        logger?.warn({ err, binary }, `the runtime runs from ${binary} itself, not from a sealed copy: each call then costs the runtime's own re-exec`);
      }
    }
    copies.set(slot, copy);
  }
  if ('failed' in copy) return plain;
  const used = copy;
  used.users++;
  let released = false;
  return {
    path: used.path,
    release() {
      if (released) return;
      released = true;
      used.users--;
      if (used.retired && used.users === 0) closeSync(used.fd);
    },
  };
}
