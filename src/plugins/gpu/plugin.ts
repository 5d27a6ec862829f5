// The `gpu` plugin: Dobby's GPU memory limit. postConstruction checks that the GPU device nodes the
// daemon's settings name (`gpu.devNodes`) are on this host, so a required plugin fails the start of a
// container that would find no GPU (an optional one is carried on with a warning); spec conversion
// maps those nodes, their cgroup device rules and the settings' groups into spec containers.
// preStart puts the container in its own directory of the vendor v1 `gpu` cgroup controller and
// writes the limit to gpu.limit_in_bytes, as Dobby does (a write failure is only logged, as there);
// a cgroup v2 host has no gpu controller: a warning, the container runs without the limit. postStop
// removes the directory.

import { DobbyError } from '../../errors.ts';
import { findVendorController, joinContainerCgroup, removeContainerCgroup } from '../../drivers/cgroup/vendor-controller.ts';
import { resolveDevNodes } from '../../settings/hardware.ts';
import { forContainer } from '../plugin-data.ts';
import { HookHint, type DobbyPlugin } from '../types.ts';
import { parseGpuData } from './data.ts';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const GPU_PLUGIN = 'gpu';
const CONTROLLER = 'gpu';

export interface GpuPluginOptions {
  /** The settings' `gpu.devNodes` (paths or globs); none named: nothing to check. */
  readonly devNodes?: readonly string[];
  /** Where the host's mounts are listed (default /proc/self/mountinfo): the gpu controller is found there. */
  readonly mountinfo?: string;
}

export function createGpuPlugin(options: GpuPluginOptions = {}): DobbyPlugin {
  const devNodes = options.devNodes ?? [];
  const locate = () => findVendorController(CONTROLLER, options.mountinfo);

  return {
    name: GPU_PLUGIN,
    hookHints: HookHint.PostConstructionSync | HookHint.PreStartSync | HookHint.PostStopSync,
    checkData: (data) => parseGpuData(data).warnings,
    postConstruction(ctx) {
      forContainer(ctx.id, () => parseGpuData(ctx.data));
      if (devNodes.length > 0 && resolveDevNodes(devNodes).length === 0) {
        throw new DobbyError('HOST_UNSUITABLE', `container '${ctx.id}': no GPU on this host: the settings' gpu.devNodes (${devNodes.join(', ')}) ` +
          'name no character device here', { containerId: ctx.id });
      }
    },
    async preStart(ctx) {
      const { memory } = forContainer(ctx.id, () => parseGpuData(ctx.data)).data;
      const where = await locate();
      if (where === null) {
        throw new DobbyError('HOST_UNSUITABLE', `container '${ctx.id}': this host has no gpu cgroup controller (no cgroup mount with the gpu option), ` +
          `so the GPU memory limit ${memory} cannot be set`, { containerId: ctx.id });
      }
      if (where.kind === 'v2-only') {
        ctx.logger.warn({ memory }, 'gpu: this host has cgroup v2 only, which has no gpu controller; the GPU memory limit is not applied');
        return;
      }
      const dir = await joinContainerCgroup(where.mountPoint, ctx.id, ctx.pid);
      await writeFile(join(dir, 'gpu.limit_in_bytes'), String(memory)).catch((err: unknown) => {
        ctx.logger.warn({ err, dir, memory }, 'gpu: could not write gpu.limit_in_bytes; the container runs without the GPU memory limit');
      });
      ctx.logger.debug({ dir, memory }, 'GPU memory limit set');
    },
    async postStop(ctx) {
      const where = await locate();
      if (where?.kind === 'v1') await removeContainerCgroup(where.mountPoint, ctx.id);
    },
  };
}
