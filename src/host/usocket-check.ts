// Checks that the native addons load in this Node: usocket (else dbus-next silently drops fd passing)
// our cloexec (else the daemon's fds would leak into every container monitor) and our spawn (else
// tools start through a fork of the daemon, which needs cloexec).
import { sealInheritedFds } from '../drivers/cloexec.ts';
import { spawnPath, type SpawnPath } from '../drivers/lean-spawn.ts';
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

/**
 * How tools will start (native/spawn's posix_spawn, or Node's fork of the daemon when the addon does
 * not load or the kernel lacks pidfd): a warning for the fork, fatal when cloexec does not work
 * either (the daemon's fds would reach every tool).
 */
export function spawnProblem(path: () => SpawnPath = spawnPath, fix: string = installLayout().addonFix, cloexecWorks = true): HostProblem | undefined {
  const chosen = path();
  if (chosen.kind === 'posix_spawn') return undefined;
  return {
    code: 'spawn-fallback',
    what: `tools start through Node's spawn, not posix_spawn (${chosen.reason}): starting tools forks the whole daemon: slower starts` +
      (cloexecWorks ? '' : ', and without the cloexec addon the daemon\'s fds would leak into every tool'),
    fix: !cloexecWorks ? fix : chosen.cause === 'asked' ? 'unset DOBBY_SPAWN' : chosen.cause === 'kernel' ? 'a Linux 5.4 or later kernel' : fix,
    fatal: !cloexecWorks,
  };
}

/** Runs the cloexec addon once; a problem when it does not load. */
export function cloexecProblem(seal: () => void = sealInheritedFds, fix: string = installLayout().addonFix): HostProblem | undefined {
  return addonProblem('cloexec-not-built', seal, (error) =>
    `the cloexec native addon does not work in Node ${process.version}: the daemon's D-Bus connection and passed fds ` +
    `would leak into every container monitor (${error})`, fix);
}
