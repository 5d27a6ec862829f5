// Writes and removes the launch configs dobbyd owns (`<state dir>/configs/<id>.json`): the config one
// start of a bundle runs with when it differs from the bundle's own config.json.

import { lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertValidId } from '../../container-id.ts';
import { DobbyError } from '../../errors.ts';
import { inOwnDir } from '../own-dir.ts';
import { removeFile } from '../remove-file.ts';
import { replaceSmallFile, statOrNull } from '../small-file.ts';
import { readBundleConfig } from './bundle-config.ts';
import { DOBBY_INIT, deriveLaunchConfig, type JsonObject, type LaunchAdditions, type LaunchOverrides } from './launch-config.ts';

/** Debian's static tini: forwards signals, reaps zombies, exits 128+N when killed by signal N. */
export const DEFAULT_CONTAINER_INIT = '/usr/bin/tini-static';

export interface LaunchConfigsOptions {
  /** Where the launch configs live (created 0700 on first use). */
  readonly dir: string;
  /** dobbyd's init, used where the host has no DobbyInit. */
  readonly containerInit?: string;
  /**
   * The host's DobbyInit, or null for "the host has none". When absent, /usr/libexec/DobbyInit is
   * looked for at each start. Tests pass null to run as on a host without DobbyInit.
   */
  readonly hostDobbyInit?: string | null;
  /** The pids limit a bundle whose config has none runs with (Dobby's settings `pids`); default none. */
  readonly defaultPidsLimit?: number | null;
}

export interface PreparedLaunch {
  /** The launch config file, or null when the bundle's config.json is used as it is. */
  readonly configPath: string | null;
  /** The config the container runs with. */
  readonly config: JsonObject;
  readonly rootfs: string;
  readonly notes: readonly string[];
  /**
   * Settles once the launch config file is in place (it is written while the start goes on: the
   * runtime gets the config from memory, the file is for later readers); a rejection is a
   * DobbyError, with no file left. Never unhandled.
   */
  readonly written: Promise<void>;
}

/** Synchronous, as the bundle's config is read (small-file.ts says why). */
async function exists(path: string): Promise<boolean> {
  try {
    return lstatSync(path, { throwIfNoEntry: false }) !== undefined;
  } catch {
    return false;
  }
}

export class LaunchConfigs {
  readonly dir: string;
  readonly #containerInit: string;
  readonly #hostDobbyInit: string | null | undefined;
  readonly #defaultPidsLimit: number | null;

  constructor(options: LaunchConfigsOptions) {
    this.dir = options.dir;
    this.#containerInit = options.containerInit ?? DEFAULT_CONTAINER_INIT;
    this.#hostDobbyInit = options.hostDobbyInit;
    this.#defaultPidsLimit = options.defaultPidsLimit ?? null;
  }

  pathOf(id: string): string {
    assertValidId(id);
    return join(this.dir, `${id}.json`);
  }

  /**
   * Reads the bundle, derives the config this start runs with and, when it differs from the
   * bundle's, writes it (see `written`). Leaves no file behind when it fails.
   */
  async prepare(id: string, bundle: string, overrides: LaunchOverrides = {}, additions?: LaunchAdditions): Promise<PreparedLaunch> {
    const path = this.pathOf(id);
    // The bundle's config and the host's DobbyInit at once; then what depends on either, at once.
    const [read, hostDobbyInit] = await Promise.all([
      readBundleConfig(bundle, id),
      this.#hostDobbyInit !== undefined ? this.#hostDobbyInit : exists(DOBBY_INIT).then((found) => (found ? DOBBY_INIT : null)),
    ]);
    const [rootfsHasDobbyInit, hostDobbyInitIsOurs] = await Promise.all([
      exists(join(read.rootfs, DOBBY_INIT)),
      hostDobbyInit !== null && this.#isOurInit(hostDobbyInit),
      overrides.displaySocket !== undefined && overrides.displaySocket !== '' ? checkDisplaySocket(id, overrides.displaySocket) : undefined,
    ]);
    const derived = deriveLaunchConfig({
      id,
      config: read.config,
      overrides,
      ...(additions === undefined ? {} : { additions }),
      defaultPidsLimit: this.#defaultPidsLimit,
      init: {
        hostDobbyInit,
        containerInit: this.#containerInit,
        rootfsHasDobbyInit,
        hostDobbyInitIsOurs,
      },
    });
    if (!derived.changed) {
      const written = removeFile(path);
      written.catch(() => undefined);
      return { configPath: null, config: derived.config, rootfs: read.rootfs, notes: derived.notes, written };
    }
    const written = this.#write(id, path, derived.config);
    written.catch(() => undefined);
    return { configPath: path, config: derived.config, rootfs: read.rootfs, notes: derived.notes, written };
  }

  /** Written whole or not at all: a reader must never see half a config. */
  async #write(id: string, path: string, config: JsonObject): Promise<void> {
    try {
      await inOwnDir(this.dir, { mode: 0o700 }, async () => replaceSmallFile(path, JSON.stringify(config, null, 2)));
    } catch (err) {
      throw new DobbyError('INTERNAL', `could not write the launch config of '${id}' (${path}): ${String(err)}`, { containerId: id, cause: err });
    }
  }

  readonly #sameAsOurs = new Map<string, boolean>();

  /** Compared once per file version (path, size, mtime): a host may install tini as its DobbyInit. */
  async #isOurInit(path: string): Promise<boolean> {
    const theirs = statOrNull(path);
    const ours = statOrNull(this.#containerInit);
    if (theirs === null || ours === null) return false;
    if (theirs.dev === ours.dev && theirs.ino === ours.ino) return true;
    if (theirs.size !== ours.size) return false;
    const key = `${path}:${theirs.size}:${theirs.mtimeMs}:${ours.mtimeMs}`;
    let same = this.#sameAsOurs.get(key);
    if (same === undefined) {
      const [a, b] = [readFileSync(path), readFileSync(this.#containerInit)];
      same = a.equals(b);
      this.#sameAsOurs.set(key, same);
    }
    return same;
  }

  async remove(id: string): Promise<void> {
    await removeFile(this.pathOf(id));
  }
}

async function checkDisplaySocket(id: string, path: string): Promise<void> {
  if (!path.startsWith('/')) {
    throw new DobbyError('INVALID_ARGUMENT', `the display socket '${path}' of '${id}' must be an absolute host path`, { containerId: id });
  }
  const info = statOrNull(path);
  if (info === null || !info.isSocket()) {
    throw new DobbyError('INVALID_ARGUMENT', `the display socket '${path}' of '${id}' ${info === null ? 'does not exist' : 'is not a socket'}; give the westeros (Wayland) socket to bind-mount at /tmp/westeros`, {
      containerId: id,
    });
  }
}
