// Whose the storage plugin's mounts are: the container's user mapped to host ids (from the
// bundle's config.json, as Dobby reads process.user through uidMappings/gidMappings), and host
// user and group names looked up in the host's /etc/passwd and /etc/group.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DobbyError } from '../../errors.ts';

export interface HostIds {
  readonly uid: number;
  readonly gid: number;
}

interface IdMapping {
  readonly containerID: number;
  readonly hostID: number;
  readonly size: number;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function mappings(linux: unknown, key: string): IdMapping[] {
  const list = isRecord(linux) ? linux[key] : undefined;
  if (!Array.isArray(list)) return [];
  return list.filter((m): m is IdMapping => isRecord(m) && [m['containerID'], m['hostID'], m['size']].every((n) => typeof n === 'number'));
}

/** `id` seen from the host; an id no mapping covers is kept as it is (with a note). */
export function mapToHost(id: number, maps: readonly IdMapping[], notes: string[], what: string): number {
  if (maps.length === 0) return id;
  const m = maps.find((x) => id >= x.containerID && id < x.containerID + x.size);
  if (m !== undefined) return m.hostID + (id - m.containerID);
  notes.push(`the container's ${what} ${id} is not in its ${what} mappings; ${id} is used on the host`);
  return id;
}

/** The host ids of the container's user (process.user), read from `<bundle>/config.json`. */
export async function containerOwner(bundle: string | undefined, notes: string[]): Promise<HostIds> {
  if (bundle === undefined) {
    notes.push('no bundle to read the container\'s user from; its mounts are owned by root');
    return { uid: 0, gid: 0 };
  }
  const config: unknown = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8'));
  const process = isRecord(config) ? config['process'] : undefined;
  const user = isRecord(process) ? process['user'] : undefined;
  const uid = isRecord(user) && typeof user['uid'] === 'number' ? user['uid'] : 0;
  const gid = isRecord(user) && typeof user['gid'] === 'number' ? user['gid'] : 0;
  const linux = isRecord(config) ? config['linux'] : undefined;
  return { uid: mapToHost(uid, mappings(linux, 'uidMappings'), notes, 'uid'), gid: mapToHost(gid, mappings(linux, 'gidMappings'), notes, 'gid') };
}

/** Looks a name (or a number) up in an /etc/passwd- or /etc/group-style file; null when absent. */
export async function lookUpId(file: string, name: string): Promise<number | null> {
  if (/^\d+$/.test(name)) return Number(name);
  const text = await readFile(file, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name && fields[2] !== undefined && /^\d+$/.test(fields[2])) return Number(fields[2]);
  }
  return null;
}

export interface OwnerFiles {
  readonly passwd: string;
  readonly group: string;
}

export const HOST_OWNER_FILES: OwnerFiles = { passwd: '/etc/passwd', group: '/etc/group' };

/** mountOwner's user/group resolved on the host; the container's own ids where not given. */
export async function resolveOwner(user: string | null, group: string | null, fallback: HostIds, files: OwnerFiles, field: string): Promise<HostIds> {
  const uid = user === null ? fallback.uid : await lookUpId(files.passwd, user);
  if (uid === null) throw new DobbyError('INVALID_ARGUMENT', `${field}.user '${user}' is not a user of this host (${files.passwd})`);
  const gid = group === null ? fallback.gid : await lookUpId(files.group, group);
  if (gid === null) throw new DobbyError('INVALID_ARGUMENT', `${field}.group '${group}' is not a group of this host (${files.group})`);
  return { uid, gid };
}
