// Start-up after a crash: a container still under its monitor is re-adopted (and its id stays taken), one whose
// monitor died too is killed and cleaned up, as Dobby cleans up every leftover it cannot control.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../../src/drivers/process.ts';
import { call } from '../api/harness.ts';
import { makeBundle } from '../helpers/bundle.ts';
import { startDobbyd, type DobbydProcess } from '../helpers/dobbyd-process.ts';
import { makeScratch } from '../helpers/scratch.ts';

const scratch = makeScratch();
const stateDir = join(scratch.dir, 'daemon');
let daemon: DobbydProcess | undefined;
after(async () => void (await daemon?.stop()));

const crunList = async (): Promise<string[]> =>
  (await run('crun', ['--root', join(stateDir, 'runtime'), 'list', '-q'])).stdout.split('\n').filter((l) => l !== '');

/** Gone, or a zombie nobody reaps (its monitor is dead): either way it no longer runs. */
function runs(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function killAndWait(pid: number): Promise<void> {
  process.kill(pid, 'SIGKILL');
  while (runs(pid)) await sleep(20);
}

test('a leftover under a live monitor is re-adopted; one whose monitor is gone is killed and removed', async () => {
  const bundle = await makeBundle(join(scratch.bundlesDir, 'sleeper'), { args: ['sleep', '1000'], init: true });
  daemon = await startDobbyd(stateDir);
  const kept = scratch.id('kept');
  const orphan = scratch.id('orphan');
  for (const id of [kept, orphan]) assert.match(await call(daemon.address, 'ctrl1', 'StartFromBundle', 'ssah', id, bundle, '0'), /^i \d+$/);
  const orphanPid = JSON.parse((await run('crun', ['--root', join(stateDir, 'runtime'), 'state', orphan])).stdout) as { pid: number };
  const conmonPid = Number(readFileSync(join(stateDir, 'monitor', 'pids', `${orphan}.conmon.pid`), 'utf8').trim());
  // The daemon crashes; then the orphan's monitor dies too.
  await killAndWait(daemon.pid);
  await killAndWait(conmonPid);
  assert.ok(runs(orphanPid.pid), 'the container outlived its monitor');

  daemon = await startDobbyd(stateDir);
  // The clean-up runs after the daemon serves, and the daemon lists the orphan only between its adoption
  // and the end of its teardown (crun delete comes before that end): wait until neither crun nor the
  // daemon knows it, then check what is left on the host.
  const address = daemon.address;
  const listed = (): Promise<string> => call(address, 'ctrl1', 'List');
  while ((await crunList()).includes(orphan) || (await listed()).includes(orphan)) await sleep(50);
  assert.equal(runs(orphanPid.pid), false, 'the orphan was killed');
  assert.deepEqual(await crunList(), [kept]);
  const list = await listed();
  assert.ok(list.includes(kept) && !list.includes(orphan), list);
  // Dobby's answer to a start with a taken id: -1.
  assert.equal(await call(daemon.address, 'ctrl1', 'StartFromBundle', 'ssah', kept, bundle, '0'), 'i -1');
  assert.equal(await daemon.stop(), 0);
  assert.deepEqual(await crunList(), []);
});
