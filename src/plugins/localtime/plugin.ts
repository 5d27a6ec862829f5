// The `localtime` plugin: the container sees the host's time zone. Dobby copies the host's
// /etc/localtime symlink into the rootfs; here the zone file that link points at is bind-mounted
// read-only at the same path instead, so the caller's rootfs is never written and the zone works
// whether or not the rootfs has /usr/share/zoneinfo. `setTZ` names a host file whose first line
// becomes TZ. Both are read at postConstruction and checked before anything is added; a missing
// mount point is made in the rootfs.

import { open, readFile, realpath, stat } from 'node:fs/promises';
import { DobbyError } from '../../errors.ts';
import { ensureMountPoint } from '../mount-point.ts';
import { forContainer } from '../plugin-data.ts';
import { HookHint, type DobbyPlugin } from '../types.ts';
import { parseLocalTimeData } from './data.ts';

export const LOCALTIME_PLUGIN = 'localtime';

/** Zone files (tzfile(5)) start with this magic: only such a file is mounted, never another host file. */
const TZIF_MAGIC = 'TZif';
/** What a TZ value is made of: zone names, POSIX rules (`<+0530>-5:30`, `EST5EDT,M3.2.0,M11.1.0`), `:path`. */
const TZ_VALUE = /^[A-Za-z0-9_+\-:,./<>]{0,256}$/;

async function isZoneFile(path: string): Promise<boolean> {
  const handle = await open(path, 'r').catch(() => null);
  if (handle === null) return false;
  try {
    const { bytesRead, buffer } = await handle.read(Buffer.alloc(4), 0, 4, 0);
    return bytesRead === 4 && buffer.toString('latin1') === TZIF_MAGIC;
  } finally {
    await handle.close();
  }
}

function hostProblem(id: string, field: string, message: string): DobbyError {
  return new DobbyError('HOST_UNSUITABLE', `container '${id}': localtime.data.${field} ${message}`, { containerId: id });
}

export function createLocalTimePlugin(): DobbyPlugin {
  return {
    name: LOCALTIME_PLUGIN,
    hookHints: HookHint.PostConstructionSync,
    checkData: (data) => parseLocalTimeData(data).warnings,
    async postConstruction(ctx, startState) {
      const { data } = forContainer(ctx.id, () => parseLocalTimeData(ctx.data));
      const zone = await realpath(data.path).catch(() => null);
      const zoneStat = zone === null ? null : await stat(zone).catch(() => null);
      if (zone === null || zoneStat === null || !zoneStat.isFile() || !(await isZoneFile(zone))) {
        throw hostProblem(ctx.id, 'path', `is ${data.path}, which ${zone === null ? 'does not exist (or is a broken link)' : `leads to ${zone}, not a zone file (TZif)`} on the host`);
      }
      let tz: string | null = null;
      if (data.setTZ !== null) {
        const text = await readFile(data.setTZ, 'utf8').catch((err: unknown) => {
          throw hostProblem(ctx.id, 'setTZ', `is ${data.setTZ}, which cannot be read: ${(err as Error).message}`);
        });
        tz = text.split('\n', 1)[0]!.replace(/\r$/, '').trim();
        if (!TZ_VALUE.test(tz)) throw hostProblem(ctx.id, 'setTZ', `is ${data.setTZ}, whose first line is not a TZ value (a zone name like Europe/London or a rule like CET-1CEST)`);
      }
      await ensureMountPoint(ctx.rootfs, data.path, 'file');
      startState.addMount({ source: zone, destination: data.path, type: 'bind', options: ['bind', 'ro', 'nosuid', 'nodev', 'noexec'] });
      if (tz !== null) startState.addEnvironmentVariable(`TZ=${tz}`);
      ctx.logger.debug({ zone, destination: data.path, tz }, 'host time zone mounted');
    },
  };
}
