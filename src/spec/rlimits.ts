// Resource limits in the spec extension `resources.rlimits`: Docker's ulimit names and `soft[:hard]` rules.
//
// `{"nofile": "1024:4096", "core": 0, "nproc": {"soft": 100, "hard": 200}}`. Names are Docker's (case-insensitive,
// an `RLIMIT_` prefix is accepted too); `as` is refused as Docker refuses it; soft must not exceed hard; values are
// decimal integers — a bad hard value is an error, not 0 (Docker's pkg/ulimit bug).

import type { Issues } from './result.ts';
import type { SpecRlimit } from './types.ts';
import { childPath, has, isObject, own, quote, readInteger, readObject, warnUnknownKeys, wrongType } from './json-read.ts';

/** Docker's ulimit names (pkg/ulimit), `as` left out on purpose, → the OCI rlimit type. */
export const RLIMIT_NAMES: Readonly<Record<string, string>> = {
  core: 'RLIMIT_CORE', cpu: 'RLIMIT_CPU', data: 'RLIMIT_DATA', fsize: 'RLIMIT_FSIZE', locks: 'RLIMIT_LOCKS',
  memlock: 'RLIMIT_MEMLOCK', msgqueue: 'RLIMIT_MSGQUEUE', nice: 'RLIMIT_NICE', nofile: 'RLIMIT_NOFILE',
  nproc: 'RLIMIT_NPROC', rss: 'RLIMIT_RSS', rtprio: 'RLIMIT_RTPRIO', rttime: 'RLIMIT_RTTIME',
  sigpending: 'RLIMIT_SIGPENDING', stack: 'RLIMIT_STACK',
};

/** Above this a JSON number is no longer exact; RLIM_INFINITY (2^64-1) cannot be written at all. */
const MAX_VALUE = Number.MAX_SAFE_INTEGER;

const FORMS = 'an integer (soft = hard), "soft:hard" like "1024:4096", or {"soft": 1024, "hard": 4096}';

/** `NOFILE`, `rlimit_nofile`, `nofile` → `nofile`; null for unknown names (and for `as`). */
export function normaliseRlimitName(name: string): string | null {
  const lower = name.toLowerCase();
  const bare = lower.startsWith('rlimit_') ? lower.slice('rlimit_'.length) : lower;
  return Object.hasOwn(RLIMIT_NAMES, bare) ? bare : null;
}

function readNumberText(issues: Issues, path: string, part: string, which: 'soft' | 'hard'): number | undefined {
  if (!/^\d{1,16}$/.test(part) || Number(part) > MAX_VALUE) {
    issues.error('INVALID_VALUE', path, `the ${which} value ${quote(part, 30)} is not a number 0..${MAX_VALUE}; write ${FORMS}`);
    return undefined;
  }
  return Number(part);
}

function readPair(issues: Issues, path: string, value: unknown): { soft: number; hard: number } | undefined {
  const range = { min: 0, max: MAX_VALUE, hint: `limits are 0..${MAX_VALUE} ("unlimited" cannot be written in an OCI config)` };
  if (typeof value === 'number') {
    const n = readInteger(issues, path, value, range);
    return n === undefined ? undefined : { soft: n, hard: n };
  }
  if (typeof value === 'string') {
    const parts = value.trim().split(':');
    if (parts.length > 2) {
      issues.error('INVALID_VALUE', path, `${quote(value, 40)} has ${parts.length} values; write ${FORMS}`);
      return undefined;
    }
    const soft = readNumberText(issues, path, parts[0]!.trim(), 'soft');
    const hard = parts.length === 2 ? readNumberText(issues, path, parts[1]!.trim(), 'hard') : soft;
    return soft === undefined || hard === undefined ? undefined : { soft, hard };
  }
  if (isObject(value)) {
    warnUnknownKeys(issues, path, value, ['soft', 'hard']);
    if (!has(value, 'soft')) {
      issues.error('MISSING', childPath(path, 'soft'), 'required; give the soft limit');
      return undefined;
    }
    const soft = readInteger(issues, childPath(path, 'soft'), own(value, 'soft'), range);
    const hard = has(value, 'hard') ? readInteger(issues, childPath(path, 'hard'), own(value, 'hard'), range) : soft;
    return soft === undefined || hard === undefined ? undefined : { soft, hard };
  }
  wrongType(issues, path, FORMS, value);
  return undefined;
}

/** Reads `resources.rlimits`; every bad entry is reported under `resources.rlimits.<name>`. */
export function parseRlimits(issues: Issues, path: string, value: unknown): SpecRlimit[] | undefined {
  const obj = readObject(issues, path, value, '{"nofile": "1024:4096", "core": 0}');
  if (obj === undefined) return undefined;
  const out: SpecRlimit[] = [];
  let bad = false;
  for (const key of Object.keys(obj)) {
    const where = childPath(path, key);
    const name = normaliseRlimitName(key);
    if (name === null) {
      bad = true;
      issues.error('UNKNOWN_NAME', where, key.toLowerCase() === 'as' || key.toLowerCase() === 'rlimit_as'
        ? "'as' (address space) is not supported, as in Docker: it breaks programs that reserve address space; use memLimit"
        : `unknown limit ${quote(key, 30)}; use one of ${Object.keys(RLIMIT_NAMES).join(', ')}`);
      continue;
    }
    const type = RLIMIT_NAMES[name]!;
    const earlier = out.find((r) => r.type === type);
    if (earlier !== undefined) {
      bad = true;
      issues.error('INVALID_VALUE', where, `${quote(key, 30)} sets ${type} again (already set as '${earlier.name}'); give it once`);
      continue;
    }
    const pair = readPair(issues, where, own(obj, key));
    if (pair === undefined) {
      bad = true;
      continue;
    }
    if (pair.soft > pair.hard) {
      bad = true;
      issues.error('INVALID_VALUE', where, `soft limit ${pair.soft} is above the hard limit ${pair.hard}; soft must be <= hard`);
      continue;
    }
    out.push({ type, name: key, ...pair });
  }
  return bad ? undefined : out;
}
