// The `devicemapper` plugin: Dobby's fix for device nodes whose numbers change between boots. At
// postConstruction each host node the data names is looked at, and the container's `linux.devices`
// entry at that path takes its numbers now, with the first cgroup device rule that allowed the old
// ones (through the launch config; the bundle is not rewritten). Devices the config does not list
// are not added, as in Dobby. None of the nodes there at all fails the hook, as in Dobby.

import { stat } from 'node:fs/promises';
import { DobbyError } from '../../errors.ts';
import { majorOf, minorOf } from '../../settings/hardware.ts';
import { dataOf } from '../data-reader.ts';
import { HookHint, type DobbyPlugin } from '../types.ts';
import { parseDeviceMapperData } from './data.ts';

export const DEVICEMAPPER_PLUGIN = 'devicemapper';

export function createDeviceMapperPlugin(): DobbyPlugin {
  return {
    name: DEVICEMAPPER_PLUGIN,
    hookHints: HookHint.PostConstructionSync,
    checkData: (data) => parseDeviceMapperData(data).warnings,
    async postConstruction(ctx, startState) {
      const { devices } = dataOf(ctx, parseDeviceMapperData);
      if (devices.length === 0) return;
      let found = 0;
      for (const path of devices) {
        const info = await stat(path).catch(() => null);
        if (info === null || !(info.isCharacterDevice() || info.isBlockDevice())) {
          ctx.logger.warn({ path }, `devicemapper: ${path} is ${info === null ? 'not on this host' : 'not a device node'}; its numbers are left as the config has them`);
          continue;
        }
        found++;
        startState.renumberDevice({ path, major: majorOf(info.rdev), minor: minorOf(info.rdev) });
      }
      if (found === 0) {
        throw new DobbyError('HOST_UNSUITABLE', `container '${ctx.id}': devicemapper.data.devices (${devices.join(', ')}) names no device node on this host`, { containerId: ctx.id });
      }
    },
  };
}
