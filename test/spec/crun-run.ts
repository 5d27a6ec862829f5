// Runs a Dobby spec under real crun, as dobbyd would convert it on this host, and returns what the container printed.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, mkdtemp, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSpec, readHostFacts, specToOci, validateOciConfig, writeRootfs } from '../../src/spec/index.ts';
import type { HostFacts, OciConfig, SpecError } from '../../src/spec/index.ts';

export const CRUN = '/usr/bin/crun';
export const TINI = '/usr/bin/tini-static';

/** Why crun tests cannot run here, or false when they can. */
export const crunSkip: string | false = process.getuid?.() !== 0 || !existsSync(CRUN) || !existsSync(TINI)
  ? 'needs root, crun and tini-static' : false;

export interface CrunRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly config: OciConfig;
  /** Warnings of parsing and converting. */
  readonly warnings: readonly string[];
}

/** Conversion errors instead of a run (a host-dependent refusal, e.g. a device driver this host lacks). */
export interface Refused {
  readonly refused: readonly SpecError[];
  readonly warnings: readonly string[];
}

/** A scratch dir for bundles and crun's state; `close` removes it. */
export interface CrunScratch {
  run(specText: string, options?: { args?: readonly string[]; facts?: Partial<HostFacts> }): Promise<CrunRun | Refused>;
  close(): Promise<void>;
}

export async function crunScratch(label: string): Promise<CrunScratch> {
  const dir = await mkdtemp(join(tmpdir(), `dobby-${label}-`));
  // The container's root is the spec's user on the host: it must be able to reach the rootfs.
  await chmod(dir, 0o755);
  const state = join(dir, 'state');
  let serial = 0;
  return {
    async run(specText, options = {}) {
      const id = `${label}-${process.pid}-${serial++}`;
      const bundle = join(dir, id);
      const parsed = parseSpec(specText);
      assert.ok(parsed.ok, parsed.ok ? '' : parsed.errors.map((e) => e.message).join('\n'));
      const spec = options.args === undefined ? parsed.value : { ...parsed.value, args: [...options.args] };
      const facts = { ...readHostFacts(), ...options.facts };
      const converted = specToOci(spec, { ...facts, id, rootfsPath: join(bundle, 'rootfs'), initPath: TINI });
      if (!converted.ok) return { refused: converted.errors, warnings: [...parsed.warnings, ...converted.warnings] };
      const { config, rootfs } = converted.value;
      assert.deepEqual(validateOciConfig(config), []);
      if (facts.initTargetExists !== true) {
        // Mounting at /usr/libexec/DobbyInit would make crun create that file on this host's /usr: mount the init
        // at the rootfs's top instead, for the tests only.
        const init = config.mounts.find((m) => m.destination === '/usr/libexec/DobbyInit')!;
        init.destination = '/.dobby-init';
        config.process.args[0] = '/.dobby-init';
        await writeRootfs({ ...rootfs, files: [...rootfs.files, { path: '.dobby-init', contents: '', mode: 0o644 }] }, join(bundle, 'rootfs'));
      } else {
        await writeRootfs(rootfs, join(bundle, 'rootfs'));
      }
      await writeFile(join(bundle, 'config.json'), JSON.stringify(config));
      const r = spawnSync(CRUN, ['--root', state, 'run', '-b', bundle, id], { encoding: 'utf8', timeout: 30_000 });
      spawnSync(CRUN, ['--root', state, 'delete', '-f', id], { encoding: 'utf8' });
      await removeCgroups(id);
      await rm(bundle, { recursive: true, force: true });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr, config, warnings: [...parsed.warnings, ...converted.warnings] };
    },
    close: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * crun 1.8.1 leaves the container's cgroups behind when it fails while setting them up (seen with a blkio.weight
 * this host lacks), and `delete` does not know the container then: remove this test's own, by id.
 */
async function removeCgroups(id: string): Promise<void> {
  const root = '/sys/fs/cgroup';
  const dirs = [join(root, id), ...readdirSync(root).map((c) => join(root, c, id))];
  for (const dir of dirs.filter((d) => existsSync(d))) await rmdir(dir).catch(() => undefined);
}

export function ran(r: CrunRun | Refused): CrunRun {
  assert.ok(!('refused' in r), 'refused' in r ? `not converted: ${r.refused.map((e) => e.message).join('\n')}` : '');
  return r;
}
