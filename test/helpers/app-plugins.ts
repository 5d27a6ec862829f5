// A real dobbyd on a private bus for the built-in app plugins' tests (ipc, localtime, rtscheduling):
// Dobby-format bundles and specs that write what the container sees into a host dir, the dobby CLI
// to start, inspect and stop them, and a look for anything a container left on the host.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { run, type RunResult } from '../../src/drivers/process.ts';
import { dobby } from '../api/harness.ts';
import { makeBundle, writeConfig, type BundleOptions } from './bundle.ts';
import { startDobbyd, type DobbydProcess } from './dobbyd-process.ts';
import { makeScratch, type Scratch } from './scratch.ts';

/** Where the container writes what it sees (a host dir bind-mounted read-write). */
export const OUT = '/out';

export interface PluginInfo {
  readonly name: string;
  readonly kind: string;
  readonly required: boolean;
  readonly skipped?: string;
  readonly hooks: readonly { readonly hook: string; readonly mode: string; readonly ok: boolean; readonly error?: string }[];
}

export interface AppPluginDaemon {
  readonly scratch: Scratch;
  daemon(): DobbydProcess;
  /** A busybox bundle under tini with the host's /usr (read-only), the cgroup fs and `/out`, running `script`. */
  bundle(id: string, script: string, rdkPlugins: Record<string, unknown>): Promise<string>;
  /** A spec running `script` as uid/gid 1000 (a user namespace, as Dobby's default) with `/out` mounted. */
  specFile(id: string, script: string, extra: Record<string, unknown>): Promise<string>;
  /** `dobby start ID PATH` (a bundle dir or a spec file). */
  start(id: string, path: string): Promise<RunResult>;
  /**
   * Waits for the container's script to write `/out/done`, then reads `/out/<name>` files. The wait
   * is long: under SCHED_RR with Dobby's real-time budget (1 ms of CPU per second) a short script
   * takes seconds.
   */
  seen(id: string): Promise<(name: string) => string>;
  /** The host path of the container's `/out/<name>`. */
  outFile(id: string, name: string): string;
  /** GetInfo's plugins through `dobby info`. */
  plugins(id: string): Promise<PluginInfo[]>;
  /** `dobby stop ID` (returns once the container is gone). */
  stop(id: string): Promise<void>;
  /** Everything of this container left on the host: mounts, cgroups, launch config, runtime state, listing. */
  leftovers(id: string): Promise<string[]>;
}

/** The dir the container's /out is (made writable for the spec's unprivileged user). */
function outDir(scratch: Scratch, id: string): string {
  return join(scratch.dir, 'out', id);
}

async function makeOut(scratch: Scratch, id: string): Promise<string> {
  const dir = outDir(scratch, id);
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o777);
  return dir;
}

const CGROUP_ROOT = '/sys/fs/cgroup';

export function cgroupsNamed(id: string): string[] {
  const roots = [CGROUP_ROOT, ...readdirSync(CGROUP_ROOT, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(CGROUP_ROOT, d.name))];
  return roots.map((root) => join(root, id)).filter((dir) => existsSync(dir));
}

export interface AppPluginDaemonOptions {
  /** Runs before the daemon starts; what it returns is added to the daemon's environment. */
  readonly setUp?: (scratch: Scratch) => Promise<NodeJS.ProcessEnv>;
  /** Runs after the daemon has stopped. */
  readonly tearDown?: () => Promise<void>;
  /** More dobbyd arguments (e.g. `--log-level info`). */
  readonly args?: readonly string[];
}

/** Starts one dobbyd for the test file (before) and stops it (after). */
export function appPluginDaemon(options: AppPluginDaemonOptions = {}): AppPluginDaemon {
  const scratch = makeScratch();
  const stateDir = join(scratch.dir, 'dobbyd');
  let daemon: DobbydProcess | undefined;
  before(async () => {
    const env = (await options.setUp?.(scratch)) ?? {};
    daemon = await startDobbyd(stateDir, options.args ?? [], { env });
  });
  after(async () => {
    await daemon?.stop(20_000);
    await options.tearDown?.();
  });
  const address = (): string => daemon!.address;

  return {
    scratch,
    daemon: () => daemon!,
    async bundle(id, script, rdkPlugins) {
      const out = await makeOut(scratch, id);
      const options: BundleOptions = { args: ['/bin/sh', '-c', script], init: true };
      const bundle = await makeBundle(join(scratch.bundlesDir, id), options);
      const rootfs = join(bundle, 'rootfs');
      // The host's tools (busctl, chrt) with Debian's merged-/usr lib links.
      await mkdir(join(rootfs, 'usr'));
      await symlink('usr/lib', join(rootfs, 'lib'));
      await symlink('usr/lib64', join(rootfs, 'lib64'));
      await writeConfig(bundle, options, (config) => {
        const mounts = config['mounts'] as unknown[];
        mounts.push(
          { destination: '/usr', type: 'bind', source: '/usr', options: ['rbind', 'ro', 'nosuid', 'nodev'] },
          { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'nosuid', 'noexec', 'nodev'] },
          { destination: OUT, type: 'bind', source: out, options: ['rbind', 'rw', 'nosuid', 'nodev'] },
        );
        config['ociVersion'] = '1.0.2-dobby';
        config['rdkPlugins'] = rdkPlugins;
      });
      return bundle;
    },
    async specFile(id, script, extra) {
      const out = await makeOut(scratch, id);
      const spec = {
        version: '1.0', args: ['/bin/sh', '-c', script], user: { uid: 1000, gid: 1000 }, memLimit: 41943040,
        mounts: [{ source: out, destination: OUT, type: 'bind', options: ['rbind', 'rw', 'nosuid', 'nodev'] }],
        ...extra,
      };
      const path = join(scratch.dir, `${id}.spec.json`);
      await writeFile(path, JSON.stringify(spec));
      return path;
    },
    start: (id, path) => dobby(address(), ['start', id, path], 60_000),
    async seen(id) {
      const dir = outDir(scratch, id);
      for (let i = 0; i < 1200 && !existsSync(join(dir, 'done')); i++) await sleep(50);
      if (!existsSync(join(dir, 'done'))) {
        throw new Error(`the container '${id}' did not finish its script within 60 s; it wrote: ${readdirSync(dir).join(', ')}; dobbyd: ${daemon!.stderr().slice(-2000)}`);
      }
      return (name) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), 'utf8') : `(no ${name})`);
    },
    outFile: (id, name) => join(outDir(scratch, id), name),
    async plugins(id) {
      const info = await dobby(address(), ['info', id]);
      if (info.code !== 0) throw new Error(`dobby info ${id} failed: ${info.stderr}`);
      return (JSON.parse(info.stdout) as { plugins: PluginInfo[] }).plugins;
    },
    async stop(id) {
      const r = await dobby(address(), ['stop', id], 60_000);
      if (r.code !== 0) throw new Error(`dobby stop ${id} failed: ${r.stderr}${r.stdout}`);
    },
    async leftovers(id) {
      const left: string[] = [];
      const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
      left.push(...mountinfo.split('\n').filter((l) => l.includes(id)).map((l) => `mount: ${l}`));
      left.push(...cgroupsNamed(id).map((d) => `cgroup: ${d}`));
      const config = join(stateDir, 'configs', `${id}.json`);
      if (existsSync(config)) left.push(`launch config: ${config}`);
      const state = await run('crun', ['--root', join(stateDir, 'runtime'), 'state', id]);
      if (state.code === 0) left.push(`runtime state: ${state.stdout}`);
      const list = await dobby(address(), ['list']);
      if (list.stdout.includes(id)) left.push(`listed: ${list.stdout}`);
      const bundles = join(stateDir, 'bundles');
      if (existsSync(bundles)) left.push(...readdirSync(bundles).filter((n) => n.startsWith(id)).map((n) => `spec bundle: ${n}`));
      return left;
    },
  };
}

/** A daemon warning line naming the container, for checks on what a start logged. */
export function warningsAbout(daemon: DobbydProcess, id: string): string {
  return daemon.stderr().split('\n').filter((l) => l.includes(id)).join('\n');
}
