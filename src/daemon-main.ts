// dobbyd's entry point: parse the command line, check the host, start the daemon, stop it on a signal.

import { availableParallelism } from 'node:os';
import { config as rxConfig } from 'rxjs';
import { checkHost, formatProblems } from './host/check.ts';
import { spawnPath } from './drivers/lean-spawn.ts';
import { DAEMON_USAGE, parseDaemonArgs, type DaemonOptions } from './daemon-options.ts';
import { startDaemon, type Daemon } from './daemon.ts';
import { DobbyError } from './errors.ts';
import { createLoggerFamily } from './log.ts';
import { pinoLevelOf } from './api/dbus/admin-handlers.ts';
import { startApi, type Api } from './daemon.ts';
import { versionLine } from './version.ts';
import { DOBBY_PROCESS_NAME, restartInBackground, setRealtimePriority, takeDobbyName } from './daemon-process.ts';
import { LogTargets } from './logging/log-targets.ts';
import { collectWhenIdle } from './idle-collector.ts';
import { MILESTONE } from './logging/record.ts';
import { loadSettings, type LoadedSettings } from './settings/load-settings.ts';
import { networkOptionsOf } from './settings/apply.ts';

/** V8's --bytecode-old-age default: full collections a function's bytecode survives unused. */
const BYTECODE_OLD_AGE = 6;

let name = 'dobbyd';
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  // As Dobby's -V: the version whatever else the command line says.
  if (argv.includes('-V') || argv.includes('--version')) {
    process.stdout.write(`${versionLine()}\n`);
    return 0;
  }
  let options: DaemonOptions | 'help';
  try {
    options = parseDaemonArgs(argv, process.env, availableParallelism());
  } catch (err) {
    process.stderr.write(`${process.argv.includes('--dobby-compat') ? DOBBY_PROCESS_NAME : name}: ${messageOf(err)}\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(DAEMON_USAGE);
    return 0;
  }
  if (options.dobbyCompat) {
    name = DOBBY_PROCESS_NAME;
    takeDobbyName();
  }
  let targets: LogTargets;
  try {
    targets = new LogTargets({
      // A DobbyDaemon about to fork still has its console for the one line before it leaves, as Dobby.
      console: options.console || !options.foreground ? { fd: 2, format: options.logFormat } : null,
      journald: options.journald, syslog: options.syslog,
      journaldSocket: options.journaldSocket, syslogSocket: options.syslogSocket,
      identifier: name,
    });
  } catch (err) {
    process.stderr.write(`${name}: cannot log to journald or syslog: ${messageOf(err)}\n`);
    return 1;
  }
  const loggers = createLoggerFamily(options.logLevel, targets);
  const logger = loggers.root;
  // An error in any rxjs subscriber must be logged, never rethrown on a timer (that would crash us).
  rxConfig.onUnhandledError = (err: unknown) => logger.error({ err }, 'unhandled error in an event subscriber');
  process.on('uncaughtException', (err) => logger.fatal({ err }, 'uncaught exception'));
  // Before forking, as Dobby: this one still reaches the console the daemon was started from.
  logger.info(MILESTONE, 'starting Dobby daemon');
  if (!options.foreground) {
    restartInBackground();
    targets.flush();
    return 0;
  }
  if (options.priority !== null) {
    const problem = setRealtimePriority(options.priority);
    if (problem !== null) logger.error({ priority: options.priority }, `could not set the SCHED_RR priority: ${problem}`);
  }
  let loaded: LoadedSettings;
  try {
    loaded = await loadSettings(options.settingsFile);
  } catch (err) {
    process.stderr.write(`${name}: ${messageOf(err)}\n`);
    // The console has it already (the line above); journald and syslog get it too.
    if (options.journald || options.syslog) logger.fatal(messageOf(err));
    targets.flush();
    return 1;
  }
  for (const warning of loaded.warnings) logger.warn(warning);
  const { settings } = loaded;
  logger.info({ settingsFile: settings.source, settings: { ...settings, source: undefined } }, 'settings loaded');
  const external = networkOptionsOf(settings).externalInterfaces;
  if (external !== undefined && external.length === 0) {
    logger.warn({ externalInterfaces: settings.network.externalInterfaces }, 'none of the settings network.externalInterfaces is on this host: nat containers get no way out');
  }
  for (const [relay, value] of Object.entries(settings.logRelay)) {
    if (value?.enable === true) logger.warn({ socketPath: value.socketPath }, `settings logRelay.${relay} is not supported by dobbyd yet: no relay socket is made`);
  }

  if (!options.skipHostCheck) {
    const problems = await checkHost({
      runtime: options.runtime,
      dbusAddress: options.dbusAddress,
      privateBus: options.privateBus,
    });
    const fatal = problems.filter((p) => p.fatal);
    if (fatal.length > 0) {
      process.stderr.write(`${name}: this host cannot run containers yet:\n${formatProblems(fatal)}\n`);
      return 1;
    }
  }

  const spawning = spawnPath();
  if (spawning.kind === 'posix_spawn') logger.info({ spawnPath: spawning.kind }, 'host tools start through posix_spawn (native/spawn)');
  else logger.warn({ spawnPath: spawning.kind, reason: spawning.reason }, 'host tools start through Node\'s spawn: starting tools forks the whole daemon: slower starts');

  let daemon: Daemon;
  try {
    daemon = await startDaemon(options, logger, { settings });
  } catch (err) {
    process.stderr.write(`${name}: ${messageOf(err)}\n`);
    return 1;
  }

  let stopping: Promise<number> | null = null;
  const stop = (api: Api | null, reason: string): Promise<number> => {
    stopping ??= (async () => {
      logger.info({ ...MILESTONE, reason }, 'stopping Dobby daemon');
      await api?.close();
      await daemon.close({ keepContainers: options.keepContainersOnExit });
      logger.info(MILESTONE, 'stopped Dobby daemon');
      targets.flush();
      return 0;
    })();
    return stopping;
  };

  let api: Api | null = null;
  // Served before the leftovers are adopted (their signals must reach the bus); container calls wait for this.
  let adoptionDone = (): void => {};
  const adoption = new Promise<void>((resolve) => (adoptionDone = resolve));
  try {
    api = await startApi({
      ready: adoption,
      manager: daemon.manager,
      ports: daemon.ports,
      logger,
      stateDir: options.stateDir,
      dbusAddress: options.dbusAddress,
      privateBus: options.privateBus,
      onShutdown: () => void stop(api, 'Shutdown called').then((code) => process.exit(code)),
      onSetAIDbusAddress: (privateBus, address) => daemon.setAIDbusAddress(privateBus, address),
      onSetLogLevel: (level) => {
        loggers.setLevel(pinoLevelOf(level));
        logger.info({ dobbyLevel: level, level: pinoLevelOf(level) }, 'log level changed over D-Bus');
        return true;
      },
      onSetLogMethod: (method, fd) => {
        const ok = targets.setMethod(method, fd);
        logger.info({ method, fd, ok, targets: targets.targets }, 'log method set over D-Bus');
        return ok;
      },
      // Without the bus nobody can reach us: exit non-zero so a supervisor (systemd) restarts dobbyd,
      // which re-adopts the containers; they keep running meanwhile under their monitors.
      onBusLost: (reason) => {
        logger.fatal({ err: reason }, 'lost the D-Bus connection; exiting so that dobbyd is restarted');
        targets.flush();
        void daemon.close({ keepContainers: true }).finally(() => process.exit(1));
      },
    });
  } catch (err) {
    const message = err instanceof DobbyError || err instanceof Error ? err.message : String(err);
    process.stderr.write(`${name}: could not serve on D-Bus: ${message}\n`);
    // Containers this daemon adopted belong to whoever serves next: never stop them for our failure.
    await daemon.close({ keepContainers: true });
    return 1;
  }
  try {
    await daemon.adoptLeftovers();
  } finally {
    adoptionDone();
  }
  if (api.address !== null && options.console) process.stdout.write(`DBUS_ADDRESS=${api.address}\n`);
  logger.info({ ...MILESTONE, address: api.address, stateDir: options.stateDir, runtime: options.runtime, logTargets: targets.targets }, 'started Dobby daemon');

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => void stop(api, signal).then((code) => process.exit(code)));
  }
  // Starting leaves garbage that V8's memory reducer gives back only ~9 s later: collect it now
  // (idle VmRSS 57.3 -> 55.7 MiB from the start). And the bytecode of what only the start runs
  // (options, settings, host checks, plugin set-up) is dropped by V8 once it has not run for
  // BYTECODE_OLD_AGE full collections: that many now drop it at once (-1 MiB idle) while the
  // code that serves keeps V8's default ageing. gc exists under --expose-gc (bin/dobbyd).
  const collect = (): void => globalThis.gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  for (let i = 0; i <= BYTECODE_OLD_AGE; i++) collect();
  // And after each burst of container work, once a second has gone by without a lifecycle event.
  if (globalThis.gc !== undefined) collectWhenIdle(daemon.manager.events$, 1000, collect);
  return -1;
}

main().then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${name}: ${messageOf(err)}\n`);
    process.exitCode = 1;
  },
);
