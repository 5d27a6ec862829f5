// A per-test-file scratch area under /tmp for real-runtime tests, torn down even when tests fail.

import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../../src/drivers/process.ts';

export type Flavour = 'crun' | 'runc';

export interface RuntimeDirs {
  /** The runtime's `--root`. */
  readonly runtimeRoot: string;
  /** The monitor's state dir (exits/, pids/, …). */
  readonly stateDir: string;
}

export interface Scratch {
  readonly dir: string;
  readonly bundlesDir: string;
  readonly logsDir: string;
  /** Separate roots per runtime so cleanup knows which binary to delete with. */
  dirs(flavour: Flavour): RuntimeDirs;
  /** A fresh container id: `dt-<random>-<n>[-label]`. */
  id(label?: string): string;
  /** Deletes every container, kills every conmon left, removes the dir. Idempotent. */
  cleanup(): Promise<void>;
}

/** Makes the scratch dir and registers its cleanup with node:test's `after` (unless told not to). */
export function makeScratch(options: { register?: boolean } = {}): Scratch {
  const tag = randomBytes(4).toString('hex');
  const dir = join('/tmp', `dobby-test-${process.pid}-${tag}`);
  const bundlesDir = join(dir, 'bundles');
  const logsDir = join(dir, 'logs');
  mkdirSync(bundlesDir, { recursive: true });
  mkdirSync(logsDir, { recursive: true });
  let counter = 0;
  let cleaned: Promise<void> | null = null;
  const dirs = (flavour: Flavour): RuntimeDirs => {
    const d = { runtimeRoot: join(dir, flavour, 'root'), stateDir: join(dir, flavour, 'state') };
    mkdirSync(d.runtimeRoot, { recursive: true });
    mkdirSync(d.stateDir, { recursive: true });
    return d;
  };
  const scratch: Scratch = {
    dir, bundlesDir, logsDir, dirs,
    id: (label) => `dt-${tag}-${++counter}${label === undefined ? '' : `-${label}`}`,
    cleanup: () => (cleaned ??= cleanUp(dir)),
  };
  if (options.register !== false) after(() => scratch.cleanup());
  return scratch;
}

async function cleanUp(dir: string): Promise<void> {
  for (const flavour of ['crun', 'runc'] as const) {
    const root = join(dir, flavour, 'root');
    await cleanRuntime(flavour, root, join(dir, flavour, 'state', 'pids'));
  }
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** Force-deletes every container under a runtime root and kills the conmons whose pid files are in `pidsDir`. */
export async function cleanRuntime(flavour: Flavour, root: string, pidsDir: string): Promise<void> {
  const ids = await listDirs(root);
  await Promise.all(ids.map((id) => run(flavour, ['--root', root, 'delete', '--force', id]).catch(() => undefined)));
  await killConmons(pidsDir);
}

/** Only the conmons this scratch started: by their pid files, and only if the pid still is conmon. */
async function killConmons(pidsDir: string): Promise<void> {
  const names = (await readdir(pidsDir).catch(() => [] as string[])).filter((n) => n.endsWith('.conmon.pid'));
  const pids: number[] = [];
  for (const name of names) {
    const pid = Number((await readFile(join(pidsDir, name), 'utf8').catch(() => '')).trim());
    if (Number.isInteger(pid) && pid > 0 && (await isConmon(pid))) pids.push(pid);
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (let i = 0; i < 100 && pids.length > 0; i++) {
    const alive = await Promise.all(pids.map(isConmon));
    if (!alive.includes(true)) break;
    await sleep(10);
  }
}

async function isConmon(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const close = stat.lastIndexOf(')');
  return stat.startsWith(`${pid} (conmon)`) && stat.slice(close + 2, close + 3) !== 'Z';
}

async function listDirs(path: string): Promise<string[]> {
  const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory()).map((e) => e.name);
}
