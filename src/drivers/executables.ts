// Where an executable is: PATH lookups done once by the drivers that start host tools.

import { accessSync, constants as fsConstants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

// Every tool the daemon starts is looked up here. A miss on each PATH entry before the match is an
// exception, and they were a few ms of every nat container's start and stop; a match found once is
// checked again (one access, no exception) and kept while it stays executable. A tool installed
// later in an earlier PATH entry is not picked up until the one found goes.
const found = new Map<string, string>();

function executable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Absolute path of an executable: `name` itself when absolute, else the first match on PATH. */
export function resolveExecutable(name: string, path: string = process.env['PATH'] ?? DEFAULT_PATH): string | null {
  if (isAbsolute(name)) return executable(name) ? name : null;
  if (name.includes('/')) return null;
  const key = `${path}\0${name}`;
  const known = found.get(key);
  if (known !== undefined && executable(known)) return known;
  found.delete(key);
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    if (executable(candidate)) {
      found.set(key, candidate);
      return candidate;
    }
  }
  return null;
}
