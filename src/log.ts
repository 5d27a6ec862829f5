// Structured logging: one pino root logger for the daemon, one child per container with its id bound.

import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/** The daemon's root logger, writing JSON lines to stderr (or the given fd) synchronously-cheap via sonic-boom. */
export function createLogger(level: LogLevel = 'info', fd = 2): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd, sync: false }));
}

/** A logger that drops everything, for tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

export function containerLogger(root: Logger, id: string, descriptor: number): Logger {
  return root.child({ containerId: id, descriptor });
}
