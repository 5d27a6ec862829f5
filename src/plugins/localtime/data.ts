// The localtime plugin's data (Dobby's rdkPlugins.localtime.data, which may be absent): the host
// link to mirror and an optional host file whose first line becomes TZ.

import { isAbsolute, normalize } from 'node:path';
import { readPluginData } from '../plugin-data.ts';

/** Dobby's default: the host's /etc/localtime, seen at the same path inside. */
export const DEFAULT_LOCALTIME_PATH = '/etc/localtime';

export interface LocalTimeData {
  /** Absolute; the host's link and the path inside the container. */
  readonly path: string;
  /** A host file whose first line is the container's TZ; null for no TZ. */
  readonly setTZ: string | null;
}

function absolute(d: ReturnType<typeof readPluginData>, field: string, value: string): string {
  const path = normalize(value).replace(/(.)\/+$/, '$1');
  if (!isAbsolute(value) || path === '/') d.bad(field, `is ${JSON.stringify(value)}; it must be the absolute path of a file`);
  return path;
}

export function parseLocalTimeData(input: unknown): { readonly data: LocalTimeData; readonly warnings: readonly string[] } {
  const d = readPluginData('localtime', input, ['path', 'setTZ'], { optional: true, unknownHints: { settz: 'the field is setTZ' } });
  const path = absolute(d, 'path', d.string('path', DEFAULT_LOCALTIME_PATH, 'the path of the time zone link, e.g. "/etc/localtime"'));
  const tz = d.string('setTZ', undefined, 'the host file whose first line is the TZ value');
  return { data: { path, setTZ: tz === undefined ? null : absolute(d, 'setTZ', tz) }, warnings: d.warnings };
}
