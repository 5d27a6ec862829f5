// The ipc plugin's data (Dobby's rdkPlugins.ipc.data): which host bus each of the container's
// system, session and debug buses is, checked by a pure function.

import { isAbsolute } from 'node:path';
import { readPluginData } from '../plugin-data.ts';
import { socketPathOf } from './socket-path.ts';

export const IPC_BUSES = ['system', 'session', 'debug'] as const;
export type IpcBus = (typeof IPC_BUSES)[number];

/** A named host bus (the daemon's settings say where it is) or the path of a host socket. */
export type BusSource =
  | { readonly kind: 'system' | 'ai-public' | 'ai-private' }
  | { readonly kind: 'path'; readonly path: string };

export interface IpcData {
  /** The buses asked for, in Dobby's order (system, session, debug). */
  readonly buses: readonly { readonly bus: IpcBus; readonly source: BusSource }[];
}

const NAMED = new Set(['system', 'ai-public', 'ai-private']);
const HINT = '"system", "ai-public", "ai-private" or the absolute path of a host D-Bus socket';

export function parseIpcData(input: unknown): { readonly data: IpcData; readonly warnings: readonly string[] } {
  const d = readPluginData('ipc', input, IPC_BUSES);
  const buses = IPC_BUSES.flatMap((bus): IpcData['buses'][number][] => {
    const value = d.string(bus, undefined, HINT);
    if (value === undefined) return [];
    if (NAMED.has(value)) return [{ bus, source: { kind: value as 'system' | 'ai-public' | 'ai-private' } }];
    // A D-Bus address of a unix socket names the same thing as its path.
    const path = value.startsWith('unix:') ? (socketPathOf(value) ?? value) : value;
    if (!isAbsolute(path)) d.bad(bus, `is ${JSON.stringify(value)}; it must be ${HINT}`);
    return [{ bus, source: { kind: 'path' as const, path } }];
  });
  return { data: { buses }, warnings: d.warnings };
}
