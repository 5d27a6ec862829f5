// A logger that keeps what the daemon warns about, for tests that check what it said it did instead.

import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

export interface Warning {
  readonly containerId?: string;
  readonly msg?: string;
}

export interface WarningLog {
  /** A warn-level logger whose lines land in `warnings`. */
  readonly logger: Logger;
  readonly warnings: readonly Warning[];
  /** True when the container was warned about with a message matching. */
  warned(id: string, message: RegExp): boolean;
}

export function warningLog(): WarningLog {
  const warnings: Warning[] = [];
  const logger = pino({ level: 'warn' }, new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') warnings.push(JSON.parse(line) as Warning);
      done();
    },
  }));
  return { logger, warnings, warned: (id, message) => warnings.some((w) => w.containerId === id && message.test(w.msg ?? '')) };
}
