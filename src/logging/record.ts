// One pino line as Dobby's log targets see it: Dobby's level (with MILESTONE), a source, the message and the rest.

/** Dobby's levels, as its console tags show them. */
export type DobbyTag = 'FTL' | 'ERR' | 'WRN' | 'MIL' | 'NFO' | 'DBG';

export interface LogRecord {
  readonly tag: DobbyTag;
  /** Where it comes from: the component, driver or plugin, with the container id. */
  readonly source: string;
  readonly message: string;
  /** The other fields, rendered `key=value` (errors by their message). */
  readonly extras: string;
  readonly containerId: string | null;
}

/** Set on a log call (`logger.info({ milestone: true }, ...)`) for Dobby's MILESTONE level: start-up, shutdown. */
export const MILESTONE = { milestone: true } as const;

/** syslog/journald priority of each tag (Dobby's mapping: FATAL 2 … DEBUG 7, MILESTONE notice 5). */
export const PRIORITY: Readonly<Record<DobbyTag, number>> = { FTL: 2, ERR: 3, WRN: 4, MIL: 5, NFO: 6, DBG: 7 };

/** ethanlog's level numbers (ethanlog.h): FATAL 1 … DEBUG 5, MILESTONE 6. */
export const ETHAN_LEVEL: Readonly<Record<DobbyTag, number>> = { FTL: 1, ERR: 2, WRN: 3, NFO: 4, DBG: 5, MIL: 6 };

const OWN_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'milestone', 'component', 'driver', 'plugin', 'containerId']);

function tagOf(level: number, milestone: boolean): DobbyTag {
  if (level >= 60) return 'FTL';
  if (level >= 50) return 'ERR';
  if (level >= 40) return 'WRN';
  if (level >= 30) return milestone ? 'MIL' : 'NFO';
  return 'DBG';
}

function render(value: unknown): string {
  if (typeof value === 'string') return /[\s"=]/.test(value) || value === '' ? JSON.stringify(value) : value;
  if (typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string') {
    // pino's serialised error: its message (and code) say what happened; the stack is for --log-format json.
    const e = value as { message: string; code?: unknown };
    return JSON.stringify(typeof e.code === 'string' ? `${e.code}: ${e.message}` : e.message);
  }
  return JSON.stringify(value) ?? String(value);
}

/** Reads a pino JSON line; a line that is not one (should not happen) is kept as an INFO message. */
export function parseLogLine(line: string): LogRecord {
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return { tag: 'NFO', source: 'daemon', message: line.trimEnd(), extras: '', containerId: null };
  }
  const str = (k: string): string | null => (typeof obj[k] === 'string' ? obj[k] : null);
  const containerId = str('containerId');
  const origin = str('component') ?? str('driver') ?? str('plugin') ?? 'daemon';
  const extras: string[] = [];
  for (const [k, v] of Object.entries(obj)) if (!OWN_FIELDS.has(k) && v !== undefined) extras.push(`${k}=${render(v)}`);
  return {
    tag: tagOf(typeof obj['level'] === 'number' ? obj['level'] : 30, obj['milestone'] === true),
    source: containerId === null ? origin : `${origin}:${containerId}`,
    message: str('msg') ?? '',
    extras: extras.length === 0 ? '' : ` (${extras.join(' ')})`,
    containerId,
  };
}
