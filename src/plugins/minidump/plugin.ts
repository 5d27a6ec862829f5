// The `minidump` plugin (Dobby's Minidump): breakpad in the container writes a minidump into a file
// it is handed as an fd (`BREAKPAD_FD`), and after the container ends the dump is copied to the
// host's `destinationPath` as `<id><#=#><local time>.dmp`.
//
// Dobby hands over a memfd; here the buffer is an unnamed-to-the-container file in the daemon's
// state dir (`<workDir>/<id>.buffer`), so a daemon restarted while the container runs still finds
// and collects the dump at postStop. postConstruction (Dobby's preCreation) makes it and passes it
// in; postStop (Dobby's postHalt) copies a non-empty `MDMP` buffer out; postStop and
// preDestruction close and remove the buffer.

import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dataOf, readDataObject, type Parsed } from '../data-reader.ts';
import { HookHint, type DobbyPlugin } from '../types.ts';

export const MINIDUMP_PLUGIN = 'minidump';

/** The env variable breakpad reads its fd number from. */
export const BREAKPAD_FD_ENV = 'BREAKPAD_FD';

/** Dobby's cap on the dump file's name (without `.dmp`), and the separator between its parts. */
const NAME_LENGTH = 44;
const SEPARATOR = '<#=#>';

export interface MinidumpData {
  /** Host directory the dumps are copied to; Dobby does not create it. */
  readonly destinationPath: string;
}

export interface MinidumpPluginOptions {
  /** Where the per-container buffers live (a directory of the daemon's state dir). */
  readonly workDir: string;
}

export function parseMinidumpData(data: unknown): Parsed<MinidumpData> {
  const { root, warnings } = readDataObject(MINIDUMP_PLUGIN, data, ['destinationPath'], 'give {"destinationPath": "/opt/minidumps"}, the host directory for the dumps');
  return { data: { destinationPath: root.hostPath('destinationPath', 'the host directory the dumps are copied to') }, warnings };
}

/** `YYYY-MM-DDTHH:MM:SS` in the daemon's local time (strftime's `%FT%T`). */
export function localTimestamp(at: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${at.getFullYear()}-${p(at.getMonth() + 1)}-${p(at.getDate())}T${p(at.getHours())}:${p(at.getMinutes())}:${p(at.getSeconds())}`;
}

/** Dobby's dump file name: the id cut so that id, separator and time fit in 44 characters. */
export function dumpFileName(id: string, at: Date): string {
  const time = localTimestamp(at);
  const room = Math.max(1, NAME_LENGTH - time.length - SEPARATOR.length);
  return `${id.slice(0, room)}${SEPARATOR}${time}.dmp`;
}

export function createMinidumpPlugin(options: MinidumpPluginOptions): DobbyPlugin {
  const open = new Map<string, number>();
  const bufferOf = (id: string): string => join(options.workDir, `${id}.buffer`);

  const release = async (id: string): Promise<void> => {
    const fd = open.get(id);
    open.delete(id);
    if (fd !== undefined) closeSync(fd);
    await rm(bufferOf(id), { force: true });
  };

  return {
    name: MINIDUMP_PLUGIN,
    hookHints: HookHint.PostConstructionSync | HookHint.PostStopSync | HookHint.PreDestructionSync,
    // The dump buffer is a file of the daemon's own.
    teardownBesideRuntime: true,
    checkData: (data) => parseMinidumpData(data).warnings,

    async postConstruction(ctx, startState) {
      dataOf(ctx, parseMinidumpData);
      await release(ctx.id);
      await mkdir(options.workDir, { recursive: true, mode: 0o700 });
      // Read-write, truncated, close-on-exec (Node's default): the runtime's monitor dups it into the container.
      const fd = openSync(bufferOf(ctx.id), 'w+', 0o600);
      open.set(ctx.id, fd);
      try {
        const inContainer = startState.addFileDescriptor(MINIDUMP_PLUGIN, fd);
        startState.addEnvironmentVariable(`${BREAKPAD_FD_ENV}=${inContainer}`);
      } catch (err) {
        await release(ctx.id);
        throw err;
      }
    },

    async postStop(ctx) {
      const { destinationPath } = dataOf(ctx, parseMinidumpData);
      try {
        const dump = await readFile(bufferOf(ctx.id)).catch((err: unknown) => {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
          throw err;
        });
        if (dump === null || dump.length === 0) return true;
        if (dump.subarray(0, 4).toString('latin1') !== 'MDMP') {
          ctx.logger.warn({ bytes: dump.length }, `the container wrote ${dump.length} bytes to ${BREAKPAD_FD_ENV} that are not a minidump (no MDMP header); not copied`);
          return false;
        }
        const target = join(destinationPath, dumpFileName(ctx.id, new Date()));
        await writeFile(target, dump, { flag: 'wx', mode: 0o666 });
        ctx.logger.info({ file: target, bytes: dump.length }, 'minidump copied to the host');
        return true;
      } finally {
        await release(ctx.id);
      }
    },

    async preDestruction(ctx) {
      await release(ctx.id);
    },
  };
}
