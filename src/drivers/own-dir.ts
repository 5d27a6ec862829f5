// Directories of the daemon's state dir, made on first use and then taken as there: a start wrote
// into three of them, and `mkdir -p` on each cost a failed mkdir and a stat every time. One that
// went (someone cleaned the state dir) is made again when a write into it finds it missing.

import { chmod, mkdir } from 'node:fs/promises';

const made = new Set<string>();

export interface OwnDirOptions {
  readonly mode?: number;
  /** Set `mode` whatever the umask or an older dir of that name had (a dir others must traverse). */
  readonly chmod?: boolean;
}

/** Makes `dir` unless this daemon made it already (for a dir another process writes into). */
export async function ownDir(dir: string, options: OwnDirOptions = {}): Promise<void> {
  if (made.has(dir)) return;
  await mkdir(dir, { recursive: true, ...(options.mode === undefined ? {} : { mode: options.mode }) });
  if (options.chmod === true && options.mode !== undefined) await chmod(dir, options.mode);
  made.add(dir);
}

/** Runs `write` (which writes into `dir`) once `dir` exists; a write that finds it gone makes it again, once. */
export async function inOwnDir<T>(dir: string, options: OwnDirOptions, write: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    await ownDir(dir, options);
    try {
      return await write();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt > 0) throw err;
      made.delete(dir);
    }
  }
}
