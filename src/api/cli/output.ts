// What the CLI prints: DobbyTool's exact lines (errors on stdout as `error - …`), or one JSON object per result with --json.

import { WIRE_STATE_NAMES } from '../dbus/names.ts';

/** Exit statuses: DobbyTool always exits 0; dobby tells scripts what happened. */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2, UNREACHABLE: 3 } as const;

export interface Out {
  readonly json: boolean;
  /** A DobbyTool success line (text mode only). */
  line(text: string): void;
  /** A DobbyTool error line: `error - <text>` on stdout, or {"ok":false,"error":…}. */
  error(text: string): void;
  /** The JSON result of a successful command (JSON mode only). */
  result(data: Record<string, unknown>): void;
}

export function createOut(json: boolean, write: (text: string) => void = (t) => process.stdout.write(t)): Out {
  return {
    json,
    line: (text) => {
      if (!json) write(`${text}\n`);
    },
    error: (text) => write(json ? `${JSON.stringify({ ok: false, error: text.trimEnd() })}\n` : `error - ${text}\n`),
    result: (data) => {
      if (json) write(`${JSON.stringify({ ok: true, ...data }, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))}\n`);
    },
  };
}

/** DobbyTool's list state names (its client enum maps wire values to these; others print ERR!). */
export function stateName(wire: number): string {
  return WIRE_STATE_NAMES[wire] ?? 'ERR!';
}

/** DobbyTool's list table: header, separator, then ` %10d | %-32s | %s` per container. */
export function listTable(rows: readonly { descriptor: number; id: string; state: string }[]): string[] {
  if (rows.length === 0) return ['no containers'];
  return [
    ' descriptor | id                               | state',
    '------------|----------------------------------|-------------',
    ...rows.map((r) => ` ${String(r.descriptor).padStart(10)} | ${r.id.padEnd(32)} | ${r.state}`),
  ];
}

const ERRNO_TEXT: Readonly<Record<string, [number, string]>> = {
  ENOENT: [2, 'No such file or directory'],
  EACCES: [13, 'Permission denied'],
  ENOTDIR: [20, 'Not a directory'],
  ELOOP: [40, 'Too many levels of symbolic links'],
  ENAMETOOLONG: [36, 'File name too long'],
  EPERM: [1, 'Operation not permitted'],
  EIO: [5, 'Input/output error'],
};

/** `(<errno> - <strerror>)` as DobbyTool prints system errors. */
export function errnoText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code ?? '';
  const known = ERRNO_TEXT[code];
  if (known !== undefined) return `(${known[0]} - ${known[1]})`;
  const errno = Math.abs((err as NodeJS.ErrnoException | null)?.errno ?? 0);
  return `(${errno} - ${code === '' ? String(err) : code})`;
}
