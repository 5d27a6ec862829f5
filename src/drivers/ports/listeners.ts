// Finds a socket on the host already bound where a port's parent side would be (`ss`), so nat does not silently steal it.

import { runIn, type HostNetns } from './netns-exec.ts';
import { canonicalIp, normalise, transportOf, type Bind, type PortSpec } from '../../ports/port-spec.ts';

/** `127.0.0.1:80`, `[::1]:80`, `*:80`, `0.0.0.0%lo:53` → what the socket holds (null when the text is not an address). */
export function bindsOfLocalAddress(text: string): Bind[] | null {
  const colon = text.lastIndexOf(':');
  if (colon < 0) return null;
  let host = text.slice(0, colon).replace(/%[^\]]*/, '');
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === '*') return [{ family: 4, address: null }, { family: 6, address: null }];
  const ip = canonicalIp(host);
  if (ip === null) return null;
  if (ip.address === '0.0.0.0' || ip.address === '::') return [{ family: ip.family, address: null }];
  return [{ family: ip.family, address: ip.address }];
}

/** Parses `ss -Hln` lines into [local address text, binds]. */
export function parseSsListeners(stdout: string): [string, Bind[]][] {
  const out: [string, Bind[]][] = [];
  for (const line of stdout.split('\n')) {
    const cols = line.trim().split(/\s+/);
    const local = cols[3];
    if (local === undefined) continue;
    const binds = bindsOfLocalAddress(local);
    if (binds !== null) out.push([local, binds]);
  }
  return out;
}

/** The local address of a socket that already holds part of `spec`'s parent side, or null. */
export async function listeningOn(netns: HostNetns, spec: PortSpec): Promise<string | null> {
  const transport = transportOf(spec.proto);
  const result = await runIn(netns, 'ss', ['-Hln', transport === 'tcp' ? '-t' : '-u', `sport = :${spec.parentPort}`]);
  if (result.code !== 0) return null;
  const wanted = normalise(spec).binds;
  for (const [local, binds] of parseSsListeners(result.stdout)) {
    const overlap = binds.some((b) => wanted.some((w) => w.family === b.family && (w.address === null || b.address === null || w.address === b.address)));
    if (overlap) return local;
  }
  return null;
}
