// Which containers each loop image is mounted into, kept as empty files under the daemon's state dir so that
// a restarted daemon still knows an image is shared: the last container of an image waits for its loop
// device to be freed, the others must not (another container still holds it).

import { mkdir, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A directory name for an image path: readable, short, and a 32-bit FNV-1a of the whole path against collisions. */
function keyOf(image: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < image.length; i++) {
    hash ^= image.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  const tail = image.replace(/[^A-Za-z0-9._-]/g, '_').slice(-80);
  return `${hash.toString(16).padStart(8, '0')}-${tail}`;
}

export class ImageUsers {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  async add(image: string, id: string): Promise<void> {
    const dir = join(this.#dir, keyOf(image));
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFile(join(dir, id), '');
  }

  /** Forgets the container as a user of the image; true when other containers still use it. */
  async drop(image: string, id: string): Promise<boolean> {
    const dir = join(this.#dir, keyOf(image));
    await rm(join(dir, id), { force: true });
    const left = await readdir(dir).catch(() => []);
    if (left.length > 0) return true;
    await rmdir(dir).catch(() => undefined);
    return false;
  }
}
