// Checks that the native addons load in this Node: usocket (else dbus-next silently drops fd passing)
// our cloexec (else the daemon's fds would leak into every container monitor) and our spawn.
import { sealInheritedFds } from '../drivers/cloexec.ts';
import { loadSpawnAddon } from '../drivers/lean-spawn.ts';
import { installLayout } from '../install-layout.ts';
import type { HostProblem } from './problem.ts';

/**
 * Loads `usocket` (default: as dbus-next does; a release bundle has it inside, its addon beside the bundle);
 * a problem when it does not load. `fix`: what the problem tells the user to do.
 */
export async function usocketProblem(
  load: () => unknown = () => import('usocket'),
  fix: string = installLayout().addonFix,
): Promise<HostProblem | undefined> {
  try {
    await load();
    return undefined;
  } catch (err) {
    const message = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
    return {
      code: 'usocket-not-built',
      what: `usocket's native addon does not load in Node ${process.version} (ABI ${process.versions.modules}): ` +
        `D-Bus calls that carry fds would silently fail (${message})`,
      fix,
      fatal: true,
    };
  }
}

/** Runs `use` (an addon's first call); a fatal problem with `code` when it throws, `what` saying what then fails. */
function addonProblem(code: string, use: () => void, what: (error: string) => string, fix: string): HostProblem | undefined {
  try {
    use();
    return undefined;
  } catch (err) {
    return { code, what: what(err instanceof Error ? err.message : String(err)), fix, fatal: true };
  }
}

/** Loads the spawn addon (native/spawn); a problem when it does not load: no host tool could be started. */
export function spawnProblem(load: () => void = loadSpawnAddon, fix: string = installLayout().addonFix): HostProblem | undefined {
  return addonProblem('spawn-not-built', load, (error) =>
    `the spawn native addon does not load in Node ${process.version}: the daemon could start neither crun nor conmon (${error})`, fix);
}

/** Runs the cloexec addon once; a problem when it does not load. */
export function cloexecProblem(seal: () => void = sealInheritedFds, fix: string = installLayout().addonFix): HostProblem | undefined {
  return addonProblem('cloexec-not-built', seal, (error) =>
    `the cloexec native addon does not work in Node ${process.version}: the daemon's D-Bus connection and passed fds ` +
    `would leak into every container monitor (${error})`, fix);
}
