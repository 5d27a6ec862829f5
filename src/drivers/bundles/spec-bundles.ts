// Bundles dobbyd makes from Dobby specs: a private directory per container with config.json and a
// generated rootfs skeleton, removed again when the container is gone.

import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { crypto } from '../../builtins.ts';
import { assertValidId } from '../../container-id.ts';
import { DobbyError } from '../../errors.ts';
import { inOwnDir } from '../own-dir.ts';
import { forgetOwnConfig, writeOwnConfig } from './bundle-config.ts';
import {
  parseSpec,
  readHostFacts,
  specErrorsToDobbyError,
  specToOci,
  validateOciConfig,
  writeRootfs,
  type SpecToOciOptions,
} from '../../spec/index.ts';

export interface SpecBundle {
  readonly bundle: string;
  /** The spec as compact JSON, for GetSpec. */
  readonly spec: string;
  readonly warnings: readonly string[];
}

export interface SpecBundlesOptions {
  /** Parent of every generated bundle; its path must be traversable by the containers' mapped users. */
  readonly dir: string;
  /** The container's init on the host (Debian's static tini), seen as /usr/libexec/DobbyInit inside. */
  readonly initPath: string;
  /** What the daemon's settings file decides (env, gpu/vpu, default plugins, pids limit). */
  readonly settings?: Partial<Omit<SpecToOciOptions, 'id' | 'rootfsPath' | 'initPath'>>;
}

export class SpecBundles {
  readonly #options: SpecBundlesOptions;

  constructor(options: SpecBundlesOptions) {
    this.#options = options;
  }

  /** Parses, converts and validates the spec, then writes its bundle; nothing is left behind on failure. */
  async create(id: string, specText: string): Promise<SpecBundle> {
    // The id becomes a path component: check it before it is joined into one.
    assertValidId(id);
    const parsed = parseSpec(specText);
    if (!parsed.ok) throw specErrorsToDobbyError(parsed.errors, id);
    const facts = readHostFacts();
    // Dobby's name: <id>.<random 10000-99999>, so a restarted container never reuses a half-removed dir.
    const bundle = join(this.#options.dir, `${id}.${crypto().randomInt(10_000, 100_000)}`);
    const converted = specToOci(parsed.value, { ...facts, ...this.#options.settings, id, rootfsPath: join(bundle, 'rootfs'), initPath: this.#options.initPath });
    if (!converted.ok) throw specErrorsToDobbyError(converted.errors, id);
    const problems = validateOciConfig(converted.value.config);
    if (problems.length > 0) {
      throw new DobbyError('INVALID_ARGUMENT', `the config made from the spec of '${id}' is not valid OCI: ${problems.slice(0, 5).join('; ')}`, {
        containerId: id,
      });
    }
    try {
      // The container's root is an unprivileged host uid under its user namespace: it must reach the rootfs.
      await inOwnDir(this.#options.dir, { mode: 0o755, chmod: true }, () => mkdir(bundle, { mode: 0o755 }));
      await writeRootfs(converted.value.rootfs, join(bundle, 'rootfs'), { fresh: true });
      // Dobby writes the spec's plugins into config.json (rdkPlugins, and `plugins` as legacyPlugins): the
      // console sink and the plugin hooks read them there, as for bundles.
      const { rdkPlugins, legacyPlugins } = converted.value.plugins;
      const config = {
        ...converted.value.config,
        ...(Object.keys(rdkPlugins).length === 0 ? {} : { rdkPlugins }),
        ...(Object.keys(legacyPlugins).length === 0 ? {} : { legacyPlugins }),
      };
      await writeOwnConfig(join(bundle, 'config.json'), JSON.stringify(config, null, 2));
    } catch (err) {
      forgetOwnConfig(join(bundle, 'config.json'));
      await rm(bundle, { recursive: true, force: true });
      throw err instanceof DobbyError ? err : new DobbyError('BUNDLE_INVALID', `could not write the bundle of '${id}': ${String(err)}`, { containerId: id, cause: err });
    }
    return { bundle, spec: JSON.stringify(JSON.parse(specText)), warnings: [...parsed.warnings, ...converted.warnings] };
  }

  async remove(bundle: string): Promise<void> {
    if (!bundle.startsWith(`${this.#options.dir}/`)) return;
    forgetOwnConfig(join(bundle, 'config.json'));
    await rm(bundle, { recursive: true, force: true });
  }
}

