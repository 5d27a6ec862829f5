// A vendor cgroup v1 controller (the `gpu` and `ion` controllers of set-top-box kernels) as Dobby's
// gpu and ionmemory plugins use it: a directory per container under the controller's mount, holding
// the container's pid and the limits written there.

import { mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readCgroupMounts, v1MountFor } from './index.ts';

/** Where the controller is: its v1 mount point, `v2-only` on a host with no v1 hierarchy of it but cgroup2, or null. */
export type VendorControllerMount = { readonly kind: 'v1'; readonly mountPoint: string } | { readonly kind: 'v2-only' } | null;

export async function findVendorController(controller: string, mountinfoPath = '/proc/self/mountinfo'): Promise<VendorControllerMount> {
  const mounts = await readCgroupMounts(mountinfoPath);
  const v1 = v1MountFor(mounts, controller);
  if (v1 !== null) return { kind: 'v1', mountPoint: v1.mountPoint };
  return mounts.v2 !== null && existsSync(join(mounts.v2.mountPoint, 'cgroup.controllers')) ? { kind: 'v2-only' } : null;
}

/** The container's directory under the controller's mount. */
export function containerCgroupDir(mountPoint: string, id: string): string {
  return join(mountPoint, id);
}

/** Makes `<mount>/<id>` (it may exist: a restart) and moves `pid` into it; returns the directory. */
export async function joinContainerCgroup(mountPoint: string, id: string, pid: number): Promise<string> {
  const dir = containerCgroupDir(mountPoint, id);
  await mkdir(dir, { mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  await writeFile(join(dir, 'cgroup.procs'), `${pid}\n`);
  return dir;
}

/**
 * Removes `<mount>/<id>`; nothing when it is gone. A cgroup goes with rmdir; a plain directory of
 * files (a hierarchy simulated by files, which rmdir finds not empty) is removed with its files.
 */
export async function removeContainerCgroup(mountPoint: string, id: string): Promise<void> {
  const dir = containerCgroupDir(mountPoint, id);
  await rmdir(dir).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return;
    if (err.code === 'ENOTEMPTY') return rm(dir, { recursive: true, force: true });
    throw err;
  });
}
