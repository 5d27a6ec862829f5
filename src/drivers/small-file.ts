// Looks at, reads and replaces a small file (a pid, an exit code, a cgroup counter, a record, a
// bundle's config) synchronously.
//
// For files on kernel file systems (/proc, the cgroup mounts), in the daemon's own state dir (on a
// device /run/dobby, a tmpfs) and in a bundle being started: a few microseconds each, where each of
// fs.promises' calls is a thread-pool round trip (readFile makes four: open, fstat, read, close)
// that costs the event loop more than the whole synchronous call, and after which concurrent starts
// interleave: ten bundle starts at once all reached conmon's launch only after all ten had made
// their files (the first 27 ms after the ten calls arrived; 4 ms once synchronous).

import { readFileSync, renameSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';

/** The file's text, or null when it cannot be read (missing, a directory, no permission). */
export function readSmallText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** The file's stat (symlinks followed), or null when it is not there or cannot be looked at. */
export function statOrNull(path: string): Stats | null {
  try {
    return statSync(path, { throwIfNoEntry: false }) ?? null;
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
