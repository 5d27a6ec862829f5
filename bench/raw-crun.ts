// The yardstick: what a shell user pays to start a container and see it running with raw crun.

import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

export function runQuiet(file: string, args: readonly string[]): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    // Detached containers inherit stdio: only stdout of short-lived verbs is piped.
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout }));
  });
}

function runDetached(file: string, args: readonly string[]): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) => resolve(code));
  });
}

/** `crun run --detach` then `crun state` until it says running; returns milliseconds. */
export async function rawStart(crun: string, root: string, bundle: string, id: string): Promise<number> {
  const t0 = performance.now();
  const code = await runDetached(crun, ['--root', root, 'run', '--detach', '--bundle', bundle, id]);
  if (code !== 0) throw new Error(`crun run --detach ${id} exited ${code}`);
  for (;;) {
    const state = await runQuiet(crun, ['--root', root, 'state', id]);
    if (state.code === 0 && /"status":\s*"running"/.test(state.stdout)) break;
  }
  return performance.now() - t0;
}

export async function rawDelete(crun: string, root: string, id: string): Promise<void> {
  await runQuiet(crun, ['--root', root, 'delete', '--force', id]);
}

/** Ten raw starts at once; milliseconds until all ten are running. */
export async function rawStartMany(crun: string, root: string, bundles: readonly string[], ids: readonly string[]): Promise<number> {
  const t0 = performance.now();
  await Promise.all(ids.map((id, i) => rawStart(crun, root, bundles[i] as string, id)));
  return performance.now() - t0;
}
