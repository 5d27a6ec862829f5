// dobbyd's command line: parsed into typed options, with a clear error for anything it does not know.

import { parseArgs } from 'node:util';
import { DobbyError } from './errors.ts';
import { isLogLevel, type LogLevel } from './log.ts';

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
  };
}
