// Keeps the daemon's own fds out of every process it starts: marks them all close-on-exec just
// before a spawn (native/cloexec explains why usocket's fds need it).

import { DobbyError } from '../errors.ts';
import { loadNativeAddon, nativeAddonPath } from './native-addon.ts';

interface CloexecAddon {
  markAllCloexec(): number;
}

let addon: CloexecAddon | null = null;

/** The addon's path: the sources and the daemon's bundle (dist/ or a release's lib/) sit at different depths. */
export function cloexecAddonPath(from?: string): string | null {
  return nativeAddonPath('cloexec', from);
}

/**
 * Call synchronously right before spawn(): no fd can be made between the two on this thread, and
 * the fds a spawn hands over explicitly (stdio slots) are dup'ed into place without the flag.
 */
export function sealInheritedFds(): void {
  addon ??= loadNativeAddon<CloexecAddon>('cloexec');
  if (addon.markAllCloexec() < 0) throw new DobbyError('HOST_UNSUITABLE', 'could not list /proc/self/fd to keep the daemon\'s fds out of its children');
}
