// Keeps the daemon's own fds out of every process it starts: marks them all close-on-exec just
// before a spawn (native/cloexec explains why usocket's fds need it).

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DobbyError } from '../errors.ts';

/** Where node-gyp leaves it in a checkout, and where a release tree keeps it (lib/native/, beside the bundles). */
const ADDONS = [join('native', 'cloexec', 'build', 'Release', 'cloexec.node'), join('native', 'cloexec.node')];

interface CloexecAddon {
  markAllCloexec(): number;
}

let addon: CloexecAddon | null = null;

/** The addon's path: the sources and the daemon's bundle (dist/ or a release's lib/) sit at different depths. */
export function cloexecAddonPath(from: string = dirname(fileURLToPath(import.meta.url))): string | null {
  for (let dir = from; ; dir = dirname(dir)) {
    const found = ADDONS.map((addon) => join(dir, addon)).find((path) => existsSync(path));
    if (found !== undefined) return found;
    if (dirname(dir) === dir) return null;
  }
}

function load(): CloexecAddon {
  if (addon !== null) return addon;
  const path = cloexecAddonPath();
  try {
    if (path === null) throw new Error(`${ADDONS[0]} not found`);
    addon = createRequire(import.meta.url)(path) as CloexecAddon;
    return addon;
  } catch (err) {
    throw new DobbyError('HOST_UNSUITABLE', `the cloexec addon does not load (${err instanceof Error ? err.message : String(err)}): run npm run build-native (\`dobbyd doctor\` says what a release needs)`, { cause: err });
  }
}

/**
 * Call synchronously right before spawn(): no fd can be made between the two on this thread, and
 * the fds a spawn hands over explicitly (stdio slots) are dup'ed into place without the flag.
 */
export function sealInheritedFds(): void {
  if (load().markAllCloexec() < 0) throw new DobbyError('HOST_UNSUITABLE', 'could not list /proc/self/fd to keep the daemon\'s fds out of its children');
}
