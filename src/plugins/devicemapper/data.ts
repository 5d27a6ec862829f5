// The devicemapper plugin's data (Dobby's rdkPlugins.devicemapper.data): the host device nodes whose
// numbers may differ from those the container's config was written with.

import { isAbsolute, normalize } from 'node:path';
import { readDataObject, type Parsed } from '../data-reader.ts';

export interface DeviceMapperData {
  /** Absolute, normalised; the same path on the host and in `linux.devices`. */
  readonly devices: readonly string[];
}

export function parseDeviceMapperData(input: unknown): Parsed<DeviceMapperData> {
  const { root, warnings } = readDataObject('devicemapper', input, ['devices'], 'give {"devices": ["/dev/<node>", ...]}');
  const devices = root.strings('devices').map((path, i) => {
    if (!isAbsolute(path)) throw root.error(`devices[${i}]`, `is ${JSON.stringify(path)}; it must be the absolute path of a host device node, as in linux.devices`);
    return normalize(path);
  });
  return { data: { devices }, warnings };
}
