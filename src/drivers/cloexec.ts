// Keeps the daemon's own fds out of every process it starts: marks them all close-on-exec just
// before a spawn (native/cloexec explains why usocket's fds need it).

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DobbyError } from '../errors.ts';

const ADDON = join('native', 'cloexec', 'build', 'Release', 'cloexec.node');

interface CloexecAddon {
  markAllCloexec(): number;
}

let addon: CloexecAddon | null = null;

/** The addon's path: the sources and the daemon's bundle (dist/) sit at different depths below the repo. */
export function cloexecAddonPath(from: string = dirname(fileURLToPath(import.meta.url))): string | null {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, ADDON))) return join(dir, ADDON);
    if (dirname(dir) === dir) return null;
  }
}

function load(): CloexecAddon {
  if (addon !== null) return addon;
  const path = cloexecAddonPath();
  try {
    if (path === null) throw new Error(`${ADDON} not found`);
    addon = createRequire(import.meta.url)(path) as CloexecAddon;
    return addon;
  } catch (err) {
    throw new DobbyError('HOST_UNSUITABLE', `the cloexec addon does not load (${err instanceof Error ? err.message : String(err)}): run npm run build-native`, { cause: err });
  }
}

/**
 * Call synchronously right before spawn(): no fd can be made between the two on this thread, and
 * the fds a spawn hands over explicitly (stdio slots) are dup'ed into place without the flag.
 */
export function sealInheritedFds(): void {
  if (load().markAllCloexec() < 0) throw new DobbyError('HOST_UNSUITABLE', 'could not list /proc/self/fd to keep the daemon\'s fds out of its children');
}
