// org.rdk.dobby.admin1 (Ping, Shutdown, log settings, AI bus address) and org.rdk.dobby.debug1 (specs, OCI config).

import { busProblem } from '../../host/dbus-check.ts';
import type { LogLevel } from '../../log.ts';
import { toDobbyError } from '../../errors.ts';
import type { HandlerDeps } from './deps.ts';
import type { Handler } from './dispatcher.ts';
import { ociConfigOf } from './ctrl-handlers.ts';

/** Dobby's levels (0 FATAL … 5 DEBUG; MILESTONE sits between WARNING and INFO) in pino's terms. */
export function pinoLevelOf(level: number): LogLevel {
  if (level <= 0) return 'fatal';
  const byLevel: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'info', 'debug'];
  return byLevel[level] ?? 'trace';
}

const LOG_METHODS = ['NULL', 'SYSLOG', 'ETHANLOG', 'CONSOLE'] as const;

export function adminHandlers(deps: HandlerDeps): Record<string, Handler> {
  const { logger, admin } = deps;
  return {
    Ping: () => [],
    Shutdown: (_args, ctx) => {
      logger.info('Shutdown called over D-Bus');
      ctx.afterReply(() => admin.onShutdown());
      return [];
    },
    SetLogLevel: ([level]) => {
      const n = level as number;
      if (admin.onSetLogLevel !== undefined) return [admin.onSetLogLevel(n)];
      deps.rootLogger.level = pinoLevelOf(n);
      logger.level = deps.rootLogger.level;
      logger.info({ dobbyLevel: n, level: logger.level }, 'log level changed over D-Bus');
      return [true];
    },
    SetLogMethod: ([method, second], ctx) => {
      const m = method as number;
      const fd = ctx.signature === 'uh' ? (second as number) : null;
      if (admin.onSetLogMethod !== undefined) return [admin.onSetLogMethod(m, fd)];
      const ok = m === 3;
      logger.info({ method: LOG_METHODS[m] ?? m }, ok ? 'log method: console (unchanged)' : 'log method not supported: dobbyd logs to its console (stderr) only');
      return [ok];
    },
    SetAIDbusAddress: async ([privateBus, address]) => {
      if (admin.onSetAIDbusAddress !== undefined) return [await admin.onSetAIDbusAddress(privateBus as boolean, address as string)];
      const problem = await busProblem(address as string, 2_000);
      if (problem !== undefined) logger.warn({ address, privateBus }, `SetAIDbusAddress: ${problem.what}`);
      return [problem === undefined];
    },
  };
}

export function debugHandlers(deps: HandlerDeps): Record<string, Handler> {
  const { manager, logger } = deps;
  return {
    CreateBundle: async ([id, spec]) => {
      if (manager.createBundle === undefined) {
        logger.warn({ containerId: id }, 'CreateBundle: Dobby spec support is not in this build yet');
        return [false];
      }
      try {
        await manager.createBundle(id as string, spec as string);
        return [true];
      } catch (err) {
        const e = toDobbyError(err, 'INTERNAL', id as string);
        logger.warn({ err: e, containerId: id }, `CreateBundle of '${String(id)}' failed: ${e.message}`);
        return [false];
      }
    },
    GetSpec: ([cd]) => [manager.specOf?.(cd as number) ?? ''],
    GetOCIConfig: async ([cd]) => [await ociConfigOf(manager.get(cd as number))],
  };
}
