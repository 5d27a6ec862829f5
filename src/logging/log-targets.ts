// The daemon's log destination for pino: the console (Dobby's text layout or JSON lines), journald's native
// socket, syslog's /dev/log and an ethanlog pipe, chosen by the command line and by admin1 SetLogMethod.

import { constants, fstatSync, openSync, readFileSync } from 'node:fs';
import pino from 'pino';
import { loadUnixDatagram, sendDatagram } from '../drivers/unix-datagram.ts';
import { ethanlogRecord, journaldDatagram, syslogDatagram, textLine } from './formats.ts';
import { parseLogLine, type LogRecord } from './record.ts';

export type LogFormat = 'text' | 'json';
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

export const JOURNALD_SOCKET = '/run/systemd/journal/socket';
export const SYSLOG_SOCKET = '/dev/log';

/** SetLogMethod's methods (Dobby's IDobbyUtils numbering). */
export const LOG_METHODS = ['NULL', 'SYSLOG', 'ETHANLOG', 'CONSOLE'] as const;

export interface LogTargetsOptions {
  /** stderr (2) in the layout asked for; null with --noconsole. */
  readonly console: { readonly fd: number; readonly format: LogFormat } | null;
  readonly journald: boolean;
  readonly syslog: boolean;
  readonly journaldSocket?: string;
  readonly syslogSocket?: string;
  /** SYSLOG_IDENTIFIER / syslog ident: `DobbyDaemon` as Dobby, else `dobbyd`. */
  readonly identifier: string;
}

type SonicBoom = ReturnType<typeof pino.destination>;

/** What a stalled ethanlog reader may leave queued before lines are dropped. */
const ETHANLOG_BACKLOG = 1024 * 1024;

/**
 * The ethanlog pipe, reopened (the caller's fd is closed once the call is answered): only the write end of a
 * pipe, so a read-only file passed in never becomes writable through its /proc path; non-blocking, so a pipe
 * whose reader is gone is refused (ENXIO) and a full one never stalls the daemon.
 */
function openEthanlogPipe(fd: number): SonicBoom | null {
  try {
    if (fd < 0 || !fstatSync(fd).isFIFO()) return null;
    const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
    if (flags === undefined || (Number.parseInt(flags, 8) & 0o3) === constants.O_RDONLY) return null;
    const own = openSync(`/proc/self/fd/${fd}`, constants.O_WRONLY | constants.O_NONBLOCK);
    return pino.destination({ fd: own, sync: false, maxLength: ETHANLOG_BACKLOG });
  } catch {
    return null;
  }
}

export class LogTargets implements pino.DestinationStream {
  readonly #o: LogTargetsOptions;
  readonly #console: SonicBoom | null;
  #consoleOn: boolean;
  #journald: boolean;
  #syslog: boolean;
  #ethanlog: SonicBoom | null = null;
  /** Each socket's failure is told once (on the console), not once per line. */
  readonly #told = new Set<string>();

  constructor(options: LogTargetsOptions) {
    this.#o = options;
    this.#console = options.console === null ? null : pino.destination({ fd: options.console.fd, sync: false });
    this.#consoleOn = this.#console !== null;
    this.#journald = options.journald;
    this.#syslog = options.syslog;
    if (this.#journald || this.#syslog) loadUnixDatagram();
  }

  /** The targets now in use, for logs and tests. */
  get targets(): string[] {
    return [
      ...(this.#consoleOn ? ['console'] : []), ...(this.#journald ? ['journald'] : []),
      ...(this.#syslog ? ['syslog'] : []), ...(this.#ethanlog === null ? [] : ['ethanlog']),
    ];
  }

  write(line: string): void {
    const record: LogRecord | null = this.#journald || this.#syslog || this.#ethanlog !== null || this.#o.console?.format === 'text' ? parseLogLine(line) : null;
    if (this.#consoleOn && this.#console !== null) this.#console.write(this.#o.console?.format === 'json' ? line : textLine(record!));
    if (this.#journald) this.#send(this.#o.journaldSocket ?? JOURNALD_SOCKET, journaldDatagram(record!, this.#o.identifier), 'journald');
    if (this.#syslog) this.#send(this.#o.syslogSocket ?? SYSLOG_SOCKET, syslogDatagram(record!, this.#o.identifier, process.pid), 'syslog');
    if (this.#ethanlog !== null) this.#ethanlog.write(ethanlogRecord(record!, process.pid).toString());
  }

  #send(path: string, datagram: Buffer, what: string): void {
    const problem = sendDatagram(path, datagram);
    if (problem === null) {
      this.#told.delete(what);
      return;
    }
    if (this.#told.has(what) || problem === 'EAGAIN') return;
    this.#told.add(what);
    this.#console?.write(`${what} log target: cannot send to ${path} (${problem}); its lines are lost until it answers\n`);
  }

  /**
   * admin1 SetLogMethod: the daemon logs to that target from now on instead of the console, syslog or an
   * earlier pipe; journald (--journald, systemd's own) stays as it is. ETHANLOG writes ethanlog records
   * to the given pipe. False for a method that cannot be used (unknown, no writable pipe, no console).
   */
  setMethod(method: number, fd: number | null): boolean {
    let ethanlog: SonicBoom | null = null;
    if (method === 2) {
      const pipe = fd === null ? null : openEthanlogPipe(fd);
      if (pipe === null) return false;
      // The reader went away (EPIPE): that target is over.
      pipe.on('error', () => void (this.#ethanlog === pipe && this.#closeEthanlog()));
      ethanlog = pipe;
    } else if (method === 1) {
      try {
        loadUnixDatagram();
      } catch {
        return false;
      }
    } else if (method === 3 && this.#console === null) return false;
    else if (method !== 0 && method !== 3) return false;
    this.#closeEthanlog();
    this.#ethanlog = ethanlog;
    this.#consoleOn = method === 3;
    this.#syslog = method === 1;
    return true;
  }

  /** SonicBoom closes the fd once what it holds is written. */
  #closeEthanlog(): void {
    const pipe = this.#ethanlog;
    this.#ethanlog = null;
    try {
      pipe?.end();
    } catch {
      // Already failed and closed.
    }
  }

  /** Writes out what is buffered (before exit). */
  flush(): void {
    for (const out of [this.#console, this.#ethanlog]) {
      try {
        out?.flushSync();
      } catch {
        // Not ready yet or closed: nothing to write.
      }
    }
  }
}
