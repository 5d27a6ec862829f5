// The `ionmemory` plugin: Dobby's per-heap ION memory limits. preStart puts the container in its own
// directory of the vendor v1 `ion` cgroup controller and writes, to every `ion.<heap>.limit_in_bytes`
// the controller has there, that heap's limit or defaultLimit (18446744073709551615: none), as Dobby
// does; a failed write fails the hook. A host without the ion controller (every cgroup v2 host) gets
// a warning and the container runs without the limits. postStop removes the directory.

import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findVendorController, joinContainerCgroup, removeContainerCgroup } from '../../drivers/cgroup/vendor-controller.ts';
import { containerError, dataOf } from '../data-reader.ts';
import { HookHint, type DobbyPlugin } from '../types.ts';
import { parseIonMemoryData } from './data.ts';

export const IONMEMORY_PLUGIN = 'ionmemory';
const CONTROLLER = 'ion';
const HEAP_FILE = /^ion\.(.+)\.limit_in_bytes$/;

export interface IonMemoryPluginOptions {
  /** Where the host's mounts are listed (default /proc/self/mountinfo): the ion controller is found there. */
  readonly mountinfo?: string;
}

export function createIonMemoryPlugin(options: IonMemoryPluginOptions = {}): DobbyPlugin {
  const locate = () => findVendorController(CONTROLLER, options.mountinfo);

  return {
    name: IONMEMORY_PLUGIN,
    hookHints: HookHint.PreStartSync | HookHint.PostStopSync,
    checkData: (data) => parseIonMemoryData(data).warnings,
    async preStart(ctx) {
      const data = dataOf(ctx, parseIonMemoryData);
      const where = await locate();
      if (where?.kind !== 'v1') {
        ctx.logger.warn(`ionmemory: this host has no ion cgroup controller${where === null ? '' : ' (cgroup v2 has none)'}; the ION heap limits are not applied`);
        return;
      }
      try {
        const dir = await joinContainerCgroup(where.mountPoint, ctx.id, ctx.pid);
        const limits = new Map(data.heaps.map((h) => [h.name, h.limit]));
        const written: Record<string, string> = {};
        for (const entry of await readdir(dir, { withFileTypes: true })) {
          const heap = HEAP_FILE.exec(entry.name)?.[1];
          if (heap === undefined || !entry.isFile()) continue;
          const limit = String(limits.get(heap) ?? data.defaultLimit);
          await writeFile(join(dir, entry.name), limit);
          written[heap] = limit;
          limits.delete(heap);
        }
        if (limits.size > 0) ctx.logger.warn({ heaps: [...limits.keys()] }, `ionmemory: this host has no ION heap named ${[...limits.keys()].join(', ')}; those limits are not applied`);
        ctx.logger.debug({ dir, limits: written }, 'ION heap limits set');
      } catch (err) {
        throw containerError(ctx.id, err);
      }
    },
    async postStop(ctx) {
      const where = await locate();
      if (where?.kind === 'v1') await removeContainerCgroup(where.mountPoint, ctx.id);
    },
  };
}
