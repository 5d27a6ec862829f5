// One daemon per state dir: a pid lock file that a second dobbyd on the same dir refuses to take.

import { open, readFile, rm } from 'node:fs/promises';
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

export interface StateLock {
  release(): Promise<void>;
}

export async function lockStateDir(stateDir: string): Promise<StateLock> {
  const path = join(stateDir, 'dobbyd.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o644);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return { release: () => rm(path, { force: true }) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
        throw new DobbyError(
          'HOST_UNSUITABLE',
          `another dobbyd (pid ${holder}) already uses the state dir ${stateDir}; stop it first or pass a different --state-dir`,
        );
      }
      // The holder is gone (a crash): take the lock over.
      await rm(path, { force: true });
    }
  }
  throw new DobbyError('HOST_UNSUITABLE', `could not take the lock ${path}`);
}
