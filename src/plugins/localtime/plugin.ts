// The `localtime` plugin: the container sees the host's time zone. Dobby copies the host's
// /etc/localtime symlink into the rootfs; here the zone file that link points at is bind-mounted
// read-only at the same path instead, so the caller's rootfs is never written and the zone works
// whether or not the rootfs has /usr/share/zoneinfo. `setTZ` names a host file whose first line
// becomes TZ. Both are read at postConstruction and checked before anything is added; a missing
// mount point is made in the rootfs.

import { readFile, realpath, stat } from 'node:fs/promises';
import { DobbyError } from '../../errors.ts';
import { ensureMountPoint } from '../mount-point.ts';
import { forContainer } from '../plugin-data.ts';
import { HookHint, type DobbyPlugin } from '../types.ts';
import { parseLocalTimeData } from './data.ts';

export const LOCALTIME_PLUGIN = 'localtime';

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
      if (zone === null || zoneStat === null || !zoneStat.isFile()) {
        throw hostProblem(ctx.id, 'path', `is ${data.path}, which ${zone === null ? 'does not exist (or is a broken link)' : `leads to ${zone}, not a zone file`} on the host`);
      }
      let tz: string | null = null;
      if (data.setTZ !== null) {
        const text = await readFile(data.setTZ, 'utf8').catch((err: unknown) => {
          throw hostProblem(ctx.id, 'setTZ', `is ${data.setTZ}, which cannot be read: ${(err as Error).message}`);
        });
        tz = text.split('\n', 1)[0]!.replace(/\r$/, '');
        if (tz.includes('\0')) throw hostProblem(ctx.id, 'setTZ', `is ${data.setTZ}, whose first line is not text`);
      }
      await ensureMountPoint(ctx.rootfs, data.path, 'file');
      startState.addMount({ source: zone, destination: data.path, type: 'bind', options: ['bind', 'ro', 'nosuid', 'nodev', 'noexec'] });
      if (tz !== null) startState.addEnvironmentVariable(`TZ=${tz}`);
      ctx.logger.debug({ zone, destination: data.path, tz }, 'host time zone mounted');
    },
  };
}
