// The wire forms of a log record: Dobby's console line, journald's native protocol, syslog and ethanlog datagrams.

import type { LogRecord } from './record.ts';
import { ETHAN_LEVEL, PRIORITY } from './record.ts';

/** CLOCK_MONOTONIC (libuv's hrtime) as Dobby prints it: seconds, 10 digits, and microseconds, 6 digits. */
export function monotonicStamp(ns: bigint = process.hrtime.bigint()): string {
  return `${String(ns / 1_000_000_000n).padStart(10, '0')}.${String((ns / 1000n) % 1_000_000n).padStart(6, '0')}`;
}

/** Dobby's console layout: `<monotonic> <TAG>: < M:<source> > <message>`, one line. */
export function textLine(r: LogRecord, ns?: bigint): string {
  return `${monotonicStamp(ns)} ${r.tag}: < M:${r.source} > ${oneLine(r.message)}${oneLine(r.extras)}\n`;
}

function oneLine(s: string): string {
  return s.includes('\n') ? s.replace(/\n/g, '\\n') : s;
}

function cut(s: string, bytes: number): string {
  const b = Buffer.from(s);
  return b.length <= bytes ? s : b.subarray(0, bytes).toString().replace(/\uFFFD$/, '');
}

/** Messages above this go out cut: one datagram must fit the socket's buffer. */
const MAX_DATAGRAM_TEXT = 8192;

/**
 * journald's native protocol: `KEY=value\n` per field; a value holding a newline goes as `KEY\n`, its
 * length (64-bit little endian), the bytes and `\n`.
 */
export function journaldDatagram(r: LogRecord, identifier: string): Buffer {
  const fields: [string, string][] = [
    ['MESSAGE', `${r.tag}: ${cut(r.message + r.extras, MAX_DATAGRAM_TEXT)}`],
    ['PRIORITY', String(PRIORITY[r.tag])],
    ['SYSLOG_IDENTIFIER', identifier],
    ['SYSLOG_FACILITY', '3'],
    ['CODE_FILE', r.source],
  ];
  if (r.containerId !== null) fields.push(['CONTAINER_ID', r.containerId]);
  const parts: Buffer[] = [];
  for (const [key, value] of fields) {
    if (!value.includes('\n')) {
      parts.push(Buffer.from(`${key}=${value}\n`));
      continue;
    }
    const bytes = Buffer.from(value);
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(bytes.length));
    parts.push(Buffer.from(`${key}\n`), length, bytes, Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * RFC 3164, as glibc's syslog(3) sends it to /dev/log: facility daemon (3). The UTC getters, not local
 * time: V8 would load ICU's time-zone data for the latter (see isoTime in src/log.ts).
 */
export function syslogDatagram(r: LogRecord, ident: string, pid: number, now: Date = new Date()): Buffer {
  const pad = (n: number): string => String(n).padStart(2, '0');
  const stamp = `${MONTHS[now.getUTCMonth()]} ${String(now.getUTCDate()).padStart(2, ' ')} ${pad(now.getUTCHours())}:${pad(now.getUTCMinutes())}:${pad(now.getUTCSeconds())}`;
  const text = cut(`< M:${r.source} > ${oneLine(r.message)}${oneLine(r.extras)}`, 2048);
  return Buffer.from(`<${3 * 8 + PRIORITY[r.tag]}>${stamp} ${ident}[${pid}]: ${text}`);
}

/** ethanlog's record (libethanlog): RS, then FS-separated L<level> T<sec>.<nsec> (hex) S<source> P<pid> (hex) M<msg>, RS; at most 512 bytes. */
export function ethanlogRecord(r: LogRecord, pid: number, ns: bigint = process.hrtime.bigint()): Buffer {
  const hex8 = (n: bigint): string => n.toString(16).padStart(8, '0');
  const head = `\x1e\x1fL${ETHAN_LEVEL[r.tag]}\x1fT${hex8(ns / 1_000_000_000n)}.${hex8(ns % 1_000_000_000n)}\x1fS${cut(r.source, 64)}\x1fP${pid.toString(16)}\x1fM`;
  const room = 512 - Buffer.byteLength(head) - 1;
  return Buffer.from(`${head}${cut(oneLine(r.message) + oneLine(r.extras), room)}\x1e`);
}
