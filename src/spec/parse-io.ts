// Spec fields about the container's surroundings: console, network, dbus, syslog, etc.

import type { Issues } from './result.ts';
import type { DbusBus, DobbySpec, NetworkMode, SpecEtc } from './types.ts';
import {
  childPath, isObject, own, quote, readBoolean, readInteger, readString, readStringArray, warnUnknownKeys,
  wrongType,
} from './json-read.ts';

/** null, or an object without a path: output goes nowhere (logging plugin with the devnull sink), as in Dobby. */
export function parseConsole(issues: Issues, value: unknown): DobbySpec['console'] | undefined {
  if (value === null) return { sink: 'devnull' };
  if (!isObject(value)) {
    wrongType(issues, 'console', 'null or an object like {"path": "/tmp/app.log", "limit": 65536}', value);
    return undefined;
  }
  warnUnknownKeys(issues, 'console', value, ['path', 'limit']);
  const rawPath = own(value, 'path');
  const rawLimit = own(value, 'limit');
  const limit = rawLimit === undefined || rawLimit === null
    ? -1
    : readInteger(issues, 'console.limit', rawLimit, {
      min: -1, max: Number.MAX_SAFE_INTEGER, hint: 'give the log size cap in bytes, or -1 for no cap',
    });
  if (rawPath === undefined || rawPath === null) {
    issues.warn('console: no path given, so the console output is discarded');
    return limit === undefined ? undefined : { sink: 'devnull' };
  }
  const path = readString(issues, 'console.path', rawPath, 'an absolute host path');
  if (path !== undefined && !path.startsWith('/')) {
    issues.error('INVALID_VALUE', 'console.path', `${quote(path)} is not absolute; give the host file to write the console to`);
    return undefined;
  }
  if (path === undefined || limit === undefined) return undefined;
  return { sink: 'file', path, limit };
}

const NETWORKS = ['nat', 'open', 'private'];

/** null is Dobby's quirk (no plugin, no namespace: host networking); kept, and warned about at conversion. */
export function parseNetwork(issues: Issues, value: unknown): NetworkMode | undefined {
  if (value === null) return 'host';
  if (typeof value === 'string' && NETWORKS.includes(value)) return value as NetworkMode;
  if (typeof value === 'string') {
    issues.error('INVALID_VALUE', 'network', `${quote(value)} is not a network type; use "nat", "open" or "private"`);
  } else {
    wrongType(issues, 'network', '"nat", "open", "private" or null', value);
  }
  return undefined;
}

const BUSES: readonly DbusBus[] = ['system', 'ai-public', 'ai-private'];

export function parseDbus(issues: Issues, value: unknown): DobbySpec['dbus'] | undefined {
  if (!isObject(value)) {
    wrongType(issues, 'dbus', 'an object like {"system": "system", "session": "ai-public"}', value);
    return undefined;
  }
  warnUnknownKeys(issues, 'dbus', value, ['system', 'session', 'debug']);
  const out: { system?: DbusBus; session?: DbusBus; debug?: DbusBus } = {};
  let bad = false;
  for (const key of ['system', 'session', 'debug'] as const) {
    const raw = own(value, key);
    if (raw === undefined || raw === null) continue;
    if (typeof raw === 'string' && (BUSES as readonly string[]).includes(raw)) out[key] = raw as DbusBus;
    else {
      bad = true;
      if (typeof raw === 'string') {
        issues.error('INVALID_VALUE', childPath('dbus', key), `${quote(raw)} is not a bus; use "system", "ai-public" or "ai-private"`);
      } else {
        wrongType(issues, childPath('dbus', key), '"system", "ai-public", "ai-private" or null', raw);
      }
    }
  }
  return bad ? undefined : out;
}

export function parseSyslog(issues: Issues, value: unknown): boolean | undefined {
  return readBoolean(issues, 'syslog', value, false);
}

const ETC_KEYS = { services: 'services', hosts: 'hosts', passwd: 'passwd', group: 'group', 'ld-preload': 'ldPreload' } as const;

/** Each key is a list of lines for one file in the generated rootfs's /etc. */
export function parseEtc(issues: Issues, value: unknown): SpecEtc | undefined {
  if (!isObject(value)) {
    wrongType(issues, 'etc', 'an object like {"hosts": ["127.0.0.1 localhost"]}', value);
    return undefined;
  }
  warnUnknownKeys(issues, 'etc', value, Object.keys(ETC_KEYS));
  const out: { -readonly [K in keyof SpecEtc]: string[] } = { services: [], hosts: [], passwd: [], group: [], ldPreload: [] };
  let bad = false;
  for (const [key, field] of Object.entries(ETC_KEYS)) {
    const raw = own(value, key);
    if (raw === undefined || raw === null) continue;
    const lines = readStringArray(issues, childPath('etc', key), raw);
    if (lines === undefined) bad = true;
    else out[field] = lines;
  }
  return bad ? undefined : out;
}

export const EMPTY_ETC: SpecEtc = { services: [], hosts: [], passwd: [], group: [], ldPreload: [] };
