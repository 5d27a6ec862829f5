// The `oomcrash` plugin (Dobby's OOMCrash): a host directory, also visible read-only inside the
// container at the same path, where an OOM-killed container leaves `oom_crashed_<id>.txt`.
//
// postConstruction (Dobby's postInstallation) makes the host directory and its mount point in the
// rootfs and adds the bind mount;
// postStop (Dobby's postHalt) writes the empty marker when the exit was an OOM kill and removes a
// stale one otherwise. The exit status the hook is given already says whether the kernel's OOM
// killer hit the container (conmon's flag or the cgroup's oom_kill count).

import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dataOf, readDataObject, type Parsed } from '../data-reader.ts';
import { ensureMountPoint } from '../mount-point.ts';
import { HookHint, type DobbyPlugin } from '../types.ts';

export const OOMCRASH_PLUGIN = 'oomcrash';

/** Dobby's bind options for the marker directory. */
const MOUNT_OPTIONS = ['bind', 'ro', 'nodev', 'nosuid', 'noexec'];

export interface OomCrashData {
  /** Host directory of the markers, mounted at the same path in the container. */
  readonly path: string;
}

export function parseOomCrashData(data: unknown): Parsed<OomCrashData> {
  const { root, warnings } = readDataObject(OOMCRASH_PLUGIN, data, ['path'], 'give {"path": "/opt/dobby/oom"}, the directory for the OOM markers');
  return { data: { path: root.containerPath('path', 'the host directory for the OOM markers, also mounted in the container') }, warnings };
}

export function oomMarkerPath(dir: string, id: string): string {
  return join(dir, `oom_crashed_${id}.txt`);
}

export function createOomCrashPlugin(): DobbyPlugin {
  return {
    name: OOMCRASH_PLUGIN,
    hookHints: HookHint.PostConstructionSync | HookHint.PostStopSync,
    // It judges the exit status it is given, not the container's cgroup.
    teardownBesideRuntime: true,
    checkData: (data) => parseOomCrashData(data).warnings,

    async postConstruction(ctx, startState) {
      const { path } = dataOf(ctx, parseOomCrashData);
      await mkdir(path, { recursive: true, mode: 0o755 });
      await ensureMountPoint(ctx.rootfs, path, 'directory');
      startState.addMount({ destination: path, type: 'bind', source: path, options: [...MOUNT_OPTIONS] });
    },

    async postStop(ctx) {
      // No exit to judge (the container never ran): leave any marker as it is.
      if (ctx.exit === null) return;
      const { path } = dataOf(ctx, parseOomCrashData);
      const marker = oomMarkerPath(path, ctx.id);
      if (ctx.exit.oomKilled) {
        // 'w' does not create the directory: a marker only where its directory still exists, as Dobby.
        await writeFile(marker, '', { mode: 0o644 }).catch((err: unknown) => {
          ctx.logger.warn({ err, marker }, 'the container was OOM-killed but its marker could not be written');
          throw err;
        });
        ctx.logger.warn({ marker }, 'the container was OOM-killed; marker written');
      } else {
        await rm(marker, { force: true });
      }
    },
  };
}
