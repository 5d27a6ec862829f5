// Removes one file that may not be there: what rm(path, { force: true }) does, in one system call
// (one round trip of the thread pool) where rm makes two or three (it looks before it unlinks).

import { unlink } from 'node:fs/promises';

/** Resolves once `path` is gone; a path that is not there is not an error, anything else is (a directory: EISDIR). */
export async function removeFile(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
