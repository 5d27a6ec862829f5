// dobbyd's command line: parsed into typed options, with a clear error for anything it does not know.

import { parseArgs } from 'node:util';
import { DobbyError } from './errors.ts';
import { isLogLevel, type LogLevel } from './log.ts';
import { DEFAULT_PLUGIN_DIR } from './plugins/plugin-dir.ts';

export interface DaemonOptions {
  /** crun, runc or a path to either. */
  readonly runtime: string;
  readonly stateDir: string;
  readonly logLevel: LogLevel;
  readonly stopGraceMs: number;
  readonly maxRuntimeProcesses: number;
  readonly keepContainersOnExit: boolean;
  /** Explicit bus address (else DBUS_SYSTEM_BUS_ADDRESS, else the system bus). */
  readonly dbusAddress: string | null;
  /** Start and own a private dbus-daemon. */
  readonly privateBus: boolean;
  /** Skip the host check (for hosts the check misjudges; failures then come later). */
  readonly skipHostCheck: boolean;
  /** restartOnCrash backoff: the first restart's delay, doubling per attempt up to the max. */
  readonly restartDelayMs: number;
  readonly restartMaxDelayMs: number;
  /** External plugin modules (.js/.mjs/.ts...); a missing dir means none. */
  readonly pluginDir: string;
  /** Time limit of each plugin hook. */
  readonly hookTimeoutMs: number;
}

export const DAEMON_USAGE = `usage: dobbyd [options]
       dobbyd doctor [--runtime R] [--dbus-address A] [--private-bus] [--json]

options:
  --runtime crun|runc|PATH   OCI runtime to use (default crun)
  --state-dir DIR            where dobbyd keeps its runtime root, monitor files and logs
                             (default /run/dobby)
  --log-level LEVEL          fatal|error|warn|info|debug|trace|silent (default info)
  --stop-grace SECONDS       time between SIGTERM and SIGKILL on a graceful stop (default 5)
  --max-runtime-procs N      runtime processes allowed in flight at once (default 2 x cores)
  --dbus-address ADDR        D-Bus address to serve on (default: $DBUS_SYSTEM_BUS_ADDRESS or the system bus)
  --private-bus              start a private dbus-daemon and serve on it; prints DBUS_ADDRESS=<addr>
  --keep-containers-on-exit  leave containers running when the daemon exits
  --skip-host-check          start even if the host check finds problems
  --restart-delay SECONDS    restartOnCrash: delay before the first restart, doubled for each
                             further attempt (default 0.5)
  --restart-max-delay SECONDS  restartOnCrash: longest delay between restarts (default 30)
  --plugin-dir DIR           load plugin modules (.js .mjs .cjs .ts .mts) from DIR
                             (default ${DEFAULT_PLUGIN_DIR}; a missing dir means no external plugins)
  --hook-timeout SECONDS     time limit of each plugin hook; past it the hook has failed (default 4)
  -V, --version              print the version and the build's commit (Version: <x.y.z>-<commit>)
  -h, --help                 show this help
`;

export function parseDaemonArgs(argv: readonly string[], env: NodeJS.ProcessEnv, cores: number): DaemonOptions | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        runtime: { type: 'string' },
        'state-dir': { type: 'string' },
        'log-level': { type: 'string' },
        'stop-grace': { type: 'string' },
        'max-runtime-procs': { type: 'string' },
        'dbus-address': { type: 'string' },
        'private-bus': { type: 'boolean' },
        'keep-containers-on-exit': { type: 'boolean' },
        'skip-host-check': { type: 'boolean' },
        'restart-delay': { type: 'string' },
        'restart-max-delay': { type: 'string' },
        'plugin-dir': { type: 'string' },
        'hook-timeout': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new DobbyError('INVALID_ARGUMENT', `${err instanceof Error ? err.message : String(err)}\n${DAEMON_USAGE}`);
  }
  const v = parsed.values;
  if (v.help === true) return 'help';
  const logLevel = v['log-level'] ?? 'info';
  if (!isLogLevel(logLevel)) {
    throw new DobbyError('INVALID_ARGUMENT', `--log-level '${logLevel}' is not one of fatal, error, warn, info, debug, trace, silent`);
  }
  const grace = Number(v['stop-grace'] ?? '5');
  if (!Number.isFinite(grace) || grace < 0 || grace > 3600) {
    throw new DobbyError('INVALID_ARGUMENT', `--stop-grace '${v['stop-grace']}' must be a number of seconds between 0 and 3600`);
  }
  const procs = Number(v['max-runtime-procs'] ?? String(Math.max(2, cores * 2)));
  if (!Number.isInteger(procs) || procs < 1 || procs > 256) {
    throw new DobbyError('INVALID_ARGUMENT', `--max-runtime-procs '${v['max-runtime-procs']}' must be a whole number between 1 and 256`);
  }
  const hookTimeout = Number(v['hook-timeout'] ?? '4');
  if (!Number.isFinite(hookTimeout) || hookTimeout <= 0 || hookTimeout > 600) {
    throw new DobbyError('INVALID_ARGUMENT', `--hook-timeout '${v['hook-timeout']}' must be a number of seconds above 0 and at most 600`);
  }
  if (v['plugin-dir'] !== undefined && v['plugin-dir'].length === 0) {
    throw new DobbyError('INVALID_ARGUMENT', '--plugin-dir needs a directory path');
  }
  const restartDelay = Number(v['restart-delay'] ?? '0.5');
  if (!Number.isFinite(restartDelay) || restartDelay < 0 || restartDelay > 3600) {
    throw new DobbyError('INVALID_ARGUMENT', `--restart-delay '${v['restart-delay']}' must be a number of seconds between 0 and 3600`);
  }
  const restartMaxDelay = Number(v['restart-max-delay'] ?? String(Math.max(30, restartDelay)));
  if (!Number.isFinite(restartMaxDelay) || restartMaxDelay < restartDelay || restartMaxDelay > 3600) {
    throw new DobbyError('INVALID_ARGUMENT', `--restart-max-delay '${v['restart-max-delay']}' must be a number of seconds between --restart-delay (${restartDelay}) and 3600`);
  }
  if (v['private-bus'] === true && v['dbus-address'] !== undefined) {
    throw new DobbyError('INVALID_ARGUMENT', '--private-bus and --dbus-address exclude each other: pick one');
  }
  return {
    runtime: v.runtime ?? 'crun',
    stateDir: v['state-dir'] ?? '/run/dobby',
    logLevel,
    stopGraceMs: Math.round(grace * 1000),
    maxRuntimeProcesses: procs,
    keepContainersOnExit: v['keep-containers-on-exit'] === true,
    dbusAddress: v['dbus-address'] ?? env.DBUS_SYSTEM_BUS_ADDRESS ?? null,
    privateBus: v['private-bus'] === true,
    skipHostCheck: v['skip-host-check'] === true,
    restartDelayMs: Math.round(restartDelay * 1000),
    restartMaxDelayMs: Math.round(restartMaxDelay * 1000),
    pluginDir: v['plugin-dir'] ?? DEFAULT_PLUGIN_DIR,
    hookTimeoutMs: Math.round(hookTimeout * 1000),
  };
}
