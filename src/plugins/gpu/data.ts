// The gpu plugin's data (Dobby's rdkPlugins.gpu.data): the container's GPU memory limit in bytes.

import { readPluginData } from '../plugin-data.ts';

export interface GpuData {
  /** Bytes, 1 to 2^31-1 (Dobby's int32; its hook fails on 0 or less, so we refuse that up front). */
  readonly memory: number;
}

export function parseGpuData(input: unknown): { readonly data: GpuData; readonly warnings: readonly string[] } {
  const d = readPluginData('gpu', input, ['memory']);
  const memory = d.integer('memory', 0, [1, 2147483647]);
  if (memory === 0) d.bad('memory', 'is missing; give the GPU memory limit in bytes (a spec\'s gpu.enable gives 67108864)');
  return { data: { memory }, warnings: d.warnings };
}
