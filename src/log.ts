// Structured logging: one pino root logger for the daemon, one child per container with its id bound.

import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/**
 * A root logger and every child made from it, so one call can change the level of all of them:
 * pino children keep the level they were born with.
 */
export interface LoggerFamily {
  readonly root: Logger;
  setLevel(level: LogLevel): void;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/**
 * pino's isoTime (`,"time":"2026-12-01T19:39:19.123Z"`) without Date.prototype.toISOString: V8's
 * sets up ICU's time zone data for it (~0.8 MiB resident; pino calls it once when a logger is
 * made), though the result is UTC. The UTC getters need none of it.
 */
export function isoTime(ms: number = Date.now()): string {
  const d = new Date(ms);
  return `,"time":"${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` +
    `T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}Z"`;
}

/**
 * The daemon's loggers: JSON lines to stderr (or the given fd), written asynchronously by sonic-boom, or to a
 * destination of the caller's (the daemon's log targets: text console, journald, syslog).
 */
export function createLoggerFamily(level: LogLevel = 'info', out: number | pino.DestinationStream = 2): LoggerFamily {
  const children = new Set<WeakRef<Logger>>();
  const root = pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: isoTime,
      // The error's own name, not its constructor's: the bundle's class names are minified.
      serializers: { err: (err: Error) => ({ ...pino.stdSerializers.err(err), type: err.name }) },
      onChild: (child) => void children.add(new WeakRef(child)),
    },
    typeof out === 'number' ? pino.destination({ fd: out, sync: false }) : out,
  );
  return {
    root,
    setLevel(next) {
      root.level = next;
      for (const ref of children) {
        const child = ref.deref();
        if (child === undefined) children.delete(ref);
        else child.level = next;
      }
    },
  };
}

export function createLogger(level: LogLevel = 'info', fd = 2): Logger {
  return createLoggerFamily(level, fd).root;
}

/** A logger that drops everything, for tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

export function containerLogger(root: Logger, id: string, descriptor: number): Logger {
  return root.child({ containerId: id, descriptor });
}
