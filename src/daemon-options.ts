// dobbyd's command line: parsed into typed options, with a clear error for anything it does not know.

import { util } from './builtins.ts';
import { DobbyError } from './errors.ts';
import { isLogLevel, type LogLevel } from './log.ts';
import { JOURNALD_SOCKET, LOG_FORMATS, SYSLOG_SOCKET, type LogFormat } from './logging/log-targets.ts';
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
  /** `--settings-file`; null: Dobby's /etc/dobby.json when it exists, else Dobby's defaults. */
  readonly settingsFile: string | null;
  /** Dobby's name and ways: process `DobbyDaemon`, forks unless --nofork (started as DobbyDaemon, or --dobby-compat). */
  readonly dobbyCompat: boolean;
  /** Stay in the foreground: always for dobbyd, with --nofork for DobbyDaemon. */
  readonly foreground: boolean;
  /** Log to the console (stderr), unless --noconsole. */
  readonly console: boolean;
  readonly logFormat: LogFormat;
  readonly journald: boolean;
  readonly syslog: boolean;
  readonly journaldSocket: string;
  readonly syslogSocket: string;
  /** SCHED_RR priority of the daemon (Dobby's --priority), null for the default scheduler. */
  readonly priority: number | null;
}

export const DAEMON_USAGE = `usage: dobbyd [options]
       DobbyDaemon [options]      (dobbyd under Dobby's name: see --dobby-compat)
       dobbyd doctor [--runtime R] [--dbus-address A] [--private-bus] [--json]

Dobby's options (DobbyDaemon's command line, same meanings):
  -f, --settings-file PATH   Dobby's settings file (default /etc/dobby.json; when that is missing, Dobby's
                             defaults). Read once at start: there is no reload, SIGHUP included (as Dobby)
  -a, --dbus-address ADDR    D-Bus address to serve on (default: $DBUS_SYSTEM_BUS_ADDRESS or the system bus)
  -v, --verbose              more log detail, once per -v: debug, then trace (not with --log-level)
  -n, --nofork               stay in the foreground (dobbyd always does; DobbyDaemon forks without it)
  -k, --noconsole            no log lines on the console (stderr); for DobbyDaemon, only with --nofork
  -j, --journald             also log to journald (native protocol, /run/systemd/journal/socket)
  -g, --syslog               also log to syslog (/dev/log, facility daemon)
  -p, --priority N           run the daemon at SCHED_RR priority N (1-99; needs chrt, util-linux)
  -V, --version              print the version and the build's commit (Version: <x.y.z>-<commit>)
  -h, --help                 show this help

dobbyd's options:
  --dobby-compat             be DobbyDaemon: process name DobbyDaemon (comm and title, for pidof, pkill and
                             journalctl -t), fork into the background unless --nofork. Implied when the
                             daemon is started through a link named DobbyDaemon
  --log-format text|json     console lines in Dobby's layout (<monotonic s.us> <TAG>: < M:source > message;
                             default) or as pino JSON
  --journald-socket PATH     journald's native socket (default /run/systemd/journal/socket)
  --syslog-socket PATH       syslog's socket (default /dev/log)
  --runtime crun|runc|PATH   OCI runtime to use (default crun)
  --state-dir DIR            where dobbyd keeps its runtime root, monitor files and logs
                             (default /run/dobby)
  --log-level LEVEL          fatal|error|warn|info|debug|trace|silent (default info; admin1 SetLogLevel
                             changes it at run time, SetLogMethod the target: 0 none, 1 syslog,
                             2 an ethanlog pipe (fd), 3 the console)
  --stop-grace SECONDS       time between SIGTERM and SIGKILL on a graceful stop (default 5)
  --max-runtime-procs N      runtime processes allowed in flight at once (default 8 x cores, at least 8)
  --private-bus              start a private dbus-daemon and serve on it; prints DBUS_ADDRESS=<addr>
  --keep-containers-on-exit  leave containers running when the daemon exits
  --skip-host-check          start even if the host check finds problems
  --restart-delay SECONDS    restartOnCrash: delay before the first restart, doubled for each
                             further attempt (default 0.5)
  --restart-max-delay SECONDS  restartOnCrash: longest delay between restarts (default 30)
  --plugin-dir DIR           load plugin modules (.js .mjs .cjs .ts .mts) from DIR
                             (default ${DEFAULT_PLUGIN_DIR}; a missing dir means no external plugins)
  --hook-timeout SECONDS     time limit of each plugin hook; past it the hook has failed (default 4)

Signals: SIGTERM (and SIGINT) stop every container and exit, as Dobby's Shutdown; SIGHUP is not a reload.
`;

export function parseDaemonArgs(argv: readonly string[], env: NodeJS.ProcessEnv, cores: number): DaemonOptions | 'help' {
  let parsed;
  try {
    parsed = util().parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        runtime: { type: 'string' },
        'state-dir': { type: 'string' },
        'log-level': { type: 'string' },
        'stop-grace': { type: 'string' },
        'max-runtime-procs': { type: 'string' },
        'dbus-address': { type: 'string', short: 'a' },
        'private-bus': { type: 'boolean' },
        'keep-containers-on-exit': { type: 'boolean' },
        'skip-host-check': { type: 'boolean' },
        'restart-delay': { type: 'string' },
        'restart-max-delay': { type: 'string' },
        'plugin-dir': { type: 'string' },
        'hook-timeout': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        'settings-file': { type: 'string', short: 'f' },
        verbose: { type: 'boolean', short: 'v', multiple: true },
        nofork: { type: 'boolean', short: 'n' },
        noconsole: { type: 'boolean', short: 'k' },
        journald: { type: 'boolean', short: 'j' },
        syslog: { type: 'boolean', short: 'g' },
        priority: { type: 'string', short: 'p' },
        'dobby-compat': { type: 'boolean' },
        'log-format': { type: 'string' },
        'journald-socket': { type: 'string' },
        'syslog-socket': { type: 'string' },
      },
    });
  } catch (err) {
    throw new DobbyError('INVALID_ARGUMENT', `${err instanceof Error ? err.message : String(err)}\n${DAEMON_USAGE}`);
  }
  const v = parsed.values;
  if (v.help === true) return 'help';
  const verbosity = v.verbose?.length ?? 0;
  if (verbosity > 0 && v['log-level'] !== undefined) {
    throw new DobbyError('INVALID_ARGUMENT', '-v/--verbose and --log-level both set the log level: give one of them');
  }
  const logLevel = v['log-level'] ?? (['info', 'debug', 'trace'] as const)[Math.min(verbosity, 2)]!;
  if (!isLogLevel(logLevel)) {
    throw new DobbyError('INVALID_ARGUMENT', `--log-level '${logLevel}' is not one of fatal, error, warn, info, debug, trace, silent`);
  }
  const grace = Number(v['stop-grace'] ?? '5');
  if (!Number.isFinite(grace) || grace < 0 || grace > 3600) {
    throw new DobbyError('INVALID_ARGUMENT', `--stop-grace '${v['stop-grace']}' must be a number of seconds between 0 and 3600`);
  }
  // Runtime processes mostly wait (forks, namespace set-up, conmon's sync pipe): ten bundle starts
  // at once on two cores went in waves of four under a cap of 2 x cores, 1.4-1.5x ten raw crun
  // starts against 1.2x with all ten in flight (npm run bench). The cap is for floods, not bursts.
  const procs = Number(v['max-runtime-procs'] ?? String(Math.max(8, cores * 8)));
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
  const dobbyCompat = v['dobby-compat'] === true;
  const foreground = !dobbyCompat || v.nofork === true;
  const logFormat = v['log-format'] ?? 'text';
  if (!(LOG_FORMATS as readonly string[]).includes(logFormat)) {
    throw new DobbyError('INVALID_ARGUMENT', `--log-format '${logFormat}' is not one of ${LOG_FORMATS.join(', ')}`);
  }
  if (v.noconsole === true && dobbyCompat && v.nofork !== true) {
    throw new DobbyError('INVALID_ARGUMENT', '--noconsole needs --nofork: DobbyDaemon has no console once it forks into the background');
  }
  const console = v.noconsole !== true && foreground;
  if (!console && v['log-format'] !== undefined) {
    throw new DobbyError('INVALID_ARGUMENT', `--log-format is the console's layout, and ${foreground ? '--noconsole' : 'a forked DobbyDaemon'} has no console: drop one of them`);
  }
  if (!console && v['private-bus'] === true) {
    throw new DobbyError('INVALID_ARGUMENT', `--private-bus prints the bus address on the console, and ${foreground ? '--noconsole' : 'a forked DobbyDaemon (no --nofork)'} has none: give --dbus-address instead`);
  }
  for (const key of ['settings-file', 'journald-socket', 'syslog-socket'] as const) {
    if (v[key] !== undefined && v[key].length === 0) throw new DobbyError('INVALID_ARGUMENT', `--${key} needs a path`);
  }
  if (v['journald-socket'] !== undefined && v.journald !== true) {
    throw new DobbyError('INVALID_ARGUMENT', '--journald-socket is where --journald logs go: give --journald too');
  }
  let priority: number | null = null;
  if (v.priority !== undefined) {
    priority = Number(v.priority);
    // Dobby treats 0 and below as "off".
    if (!Number.isInteger(priority) || priority > 99) throw new DobbyError('INVALID_ARGUMENT', `--priority '${v.priority}' must be a whole number from 1 to 99 (SCHED_RR), or 0 for none`);
    if (priority <= 0) priority = null;
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
    settingsFile: v['settings-file'] ?? null,
    dobbyCompat,
    foreground,
    console,
    logFormat: logFormat as LogFormat,
    journald: v.journald === true,
    syslog: v.syslog === true,
    journaldSocket: v['journald-socket'] ?? JOURNALD_SOCKET,
    syslogSocket: v['syslog-socket'] ?? SYSLOG_SOCKET,
    priority,
  };
}
