// Checks that usocket's native addon loads in this Node (else dbus-next silently drops fd passing).
import { createRequire } from 'node:module';
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
      fix: 'npm run rebuild-usocket',
      fatal: true,
    };
  }
}
