// Reads and replaces a small file (a pid, an exit code, a cgroup counter, a record) synchronously.
//
// Only for files on kernel file systems (/proc, the cgroup mounts) and in the daemon's own state dir
// (on a device /run/dobby, a tmpfs): none of them waits on a disk. fs.promises.readFile makes four
// thread-pool round trips for such a file (open, fstat, read, close), and each costs the event loop
// more than the whole synchronous read; with ten starts at once the event loop is what they wait
// on (a --cpu-prof of ten bundle starts at once: ~3 ms of it per container, start to stop).

import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';

/** The file's text, or null when it cannot be read (missing, a directory, no permission). */
export function readSmallText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/**
 * Replaces `path` with `text` whole or not at all (a temp file of this process, then a rename):
 * a reader never sees half of it. Throws what the write threw, the temp file removed.
 */
export function replaceSmallFile(path: string, text: string, mode = 0o600): void {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, text, { mode });
    renameSync(temporary, path);
  } catch (err) {
    rmSync(temporary, { force: true });
    throw err;
  }
}
