// One daemon per state dir: a pid lock file that a second dobbyd on the same dir refuses to take.

import { link, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DobbyError } from './errors.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A process's start time (clock ticks since boot, /proc/<pid>/stat field 22), or null when it is gone. */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces and parentheses) start after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/**
 * Whether the lock's content names a live dobbyd. The start time tells a pid reused by another
 * process after a crash (small pid spaces wrap quickly) from the daemon that wrote the lock.
 */
function heldBy(content: string): number | null {
  const [pidText, started] = content.trim().split(/\s+/);
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || !alive(pid)) return null;
  if (started !== undefined && startTime(pid) !== started) return null;
  return pid;
}

export interface StateLock {
  release(): Promise<void>;
}

let asideFiles = 0;

export async function lockStateDir(stateDir: string): Promise<StateLock> {
  const path = join(stateDir, 'dobbyd.pid');
  const mine = `${process.pid} ${startTime(process.pid) ?? ''}`.trim();
  // Written aside and linked into place: the lock never exists without its content (link fails if it exists).
  // Our pid and a count make the names unique (node:crypto would cost an idle dobbyd ~0.9 MiB).
  const candidate = join(stateDir, `.dobbyd.pid.${process.pid}.${++asideFiles}`);
  await writeFile(candidate, `${mine}\n`, { mode: 0o644 });
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await link(candidate, path);
        return { release: async () => {
          // Only our own lock: a daemon that took over a lock we lost must keep it.
          if ((await readFile(path, 'utf8').catch(() => '')).trim() === mine) await rm(path, { force: true });
        } };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const content = await readFile(path, 'utf8').catch(() => null);
      if (content === null) continue; // removed meanwhile: try again
      const holder = heldBy(content);
      if (holder !== null) {
        throw new DobbyError(
          'HOST_UNSUITABLE',
          `another dobbyd (pid ${holder}) already uses the state dir ${stateDir}; stop it first or pass a different --state-dir`,
        );
      }
      // The holder is gone (a crash). Move the stale lock aside before removing it, so that of two
      // daemons taking over at once only one removes it: the other finds it gone (or fresh) and retries.
      const stale = join(stateDir, `.dobbyd.pid.stale.${process.pid}.${++asideFiles}`);
      try {
        await rename(path, stale);
      } catch {
        continue;
      }
      const moved = await readFile(stale, 'utf8').catch(() => '');
      if (moved !== content && heldBy(moved) !== null) {
        // We moved a lock another daemon had just taken: put it back (unless a third took the place).
        await link(stale, path).catch(() => undefined);
      }
      await rm(stale, { force: true });
    }
    throw new DobbyError('HOST_UNSUITABLE', `could not take the lock ${path}: other dobbyd processes keep taking it; is one starting right now?`);
  } finally {
    await rm(candidate, { force: true });
  }
}
