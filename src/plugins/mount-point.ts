// Creates a plugin mount's missing mount point in the container's rootfs, as the runtime itself
// would if it could: in a user namespace crun may not create it in a rootfs owned by the host's root
// (a spec container's), so Dobby's plugins make theirs beforehand. Only what is missing is made.

import { constants } from 'node:fs';
import { lstat, mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { normaliseContainerPath } from '../spec/container-path.ts';

/**
 * Makes the directories leading to `destination` and the mount point itself (an empty file or a
 * directory) under `rootfs`. A component that is a symlink, or not a directory, is left alone: the
 * runtime resolves links inside the rootfs itself, and never by following them on the host.
 */
export async function ensureMountPoint(rootfs: string, destination: string, kind: 'file' | 'directory'): Promise<void> {
  const normal = normaliseContainerPath(destination);
  if (!normal.ok || normal.path === '/') return;
  const parts = normal.path.slice(1).split('/');
  let at = rootfs;
  for (const [i, part] of parts.entries()) {
    at = join(at, part);
    const st = await lstat(at).catch(() => null);
    const last = i === parts.length - 1;
    if (st !== null) {
      if (last || st.isSymbolicLink() || !st.isDirectory()) return;
      continue;
    }
    if (!last || kind === 'directory') {
      await mkdir(at, { mode: 0o755 });
    } else {
      const handle = await open(at, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
      await handle.close();
    }
  }
}
