// Checks that the native addons load in this Node: usocket (else dbus-next silently drops fd passing)
// and our cloexec (else the daemon's fds would leak into every container monitor).
import { createRequire } from 'node:module';
import { sealInheritedFds } from '../drivers/cloexec.ts';
import type { HostProblem } from './problem.ts';

/** Loads `usocket` with the given require (default: this package's); a problem when it does not load. */
export function usocketProblem(load: (id: string) => unknown = createRequire(import.meta.url)): HostProblem | undefined {
  try {
    load('usocket');
    return undefined;
  } catch (err) {
    const message = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
    return {
      code: 'usocket-not-built',
      what: `usocket's native addon does not load in Node ${process.version} (ABI ${process.versions.modules}): ` +
        `D-Bus calls that carry fds would silently fail (${message})`,
      fix: 'npm run build-native',
      fatal: true,
    };
  }
}

/** Runs the cloexec addon once; a problem when it does not load. */
export function cloexecProblem(seal: () => void = sealInheritedFds): HostProblem | undefined {
  try {
    seal();
    return undefined;
  } catch (err) {
    return {
      code: 'cloexec-not-built',
      what: `the cloexec native addon does not work in Node ${process.version}: the daemon's D-Bus connection and passed fds ` +
        `would leak into every container monitor (${err instanceof Error ? err.message : String(err)})`,
      fix: 'npm run build-native',
      fatal: true,
    };
  }
}
