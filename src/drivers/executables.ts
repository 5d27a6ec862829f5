// Where an executable is: PATH lookups done once by the drivers that start host tools.

import { accessSync, constants as fsConstants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Absolute path of an executable: `name` itself when absolute, else the first match on PATH. */
export function resolveExecutable(name: string, path: string = process.env['PATH'] ?? DEFAULT_PATH): string | null {
  const candidates = isAbsolute(name) ? [name] : name.includes('/') ? [] : path.split(delimiter).filter((d) => d !== '').map((d) => join(d, name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here; try the next PATH entry
    }
  }
  return null;
}
