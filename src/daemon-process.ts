// What makes the daemon process DobbyDaemon to the host: its name, forking into the background, its scheduler.

import { childProcess } from './builtins.ts';

export const DOBBY_PROCESS_NAME = 'DobbyDaemon';

/**
 * Node's process.title rewrites the command line and sets the comm (prctl PR_SET_NAME), so `pidof`,
 * `pgrep -x` and `pkill DobbyDaemon` find the daemon.
 */
export function takeDobbyName(): void {
  process.title = DOBBY_PROCESS_NAME;
}

/**
 * Dobby's daemonising without --nofork. Node cannot fork(), so the same daemon is started again, detached,
 * in its own session, with --nofork --noconsole, from `/`, with no stdio; this process then exits 0.
 */
export function restartInBackground(): void {
  const child = childProcess().spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...process.argv.slice(2), '--nofork', '--noconsole'], {
    detached: true, stdio: 'ignore', cwd: '/', argv0: DOBBY_PROCESS_NAME,
  });
  child.unref();
}

/** Dobby's --priority: SCHED_RR at `priority` for the whole daemon (every thread), through util-linux's chrt. */
export function setRealtimePriority(priority: number): string | null {
  const r = childProcess().spawnSync('chrt', ['--all-tasks', '--rr', '--pid', String(priority), String(process.pid)], { encoding: 'utf8' });
  if (r.error !== undefined) return `chrt could not run (${r.error.message}); install util-linux`;
  return r.status === 0 ? null : `chrt failed: ${(r.stderr ?? '').trim() || `exit ${r.status}`}`;
}
