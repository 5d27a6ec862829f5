// The monitor's exit reporting on a hand-made state dir: inotify-driven, once per exit, never early.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConmonMonitor } from '../../src/drivers/monitor/conmon-monitor.ts';
import type { MonitorExit } from '../../src/drivers/monitor/types.ts';
import { createFakes } from '../../src/drivers/monitor/fake-monitor.ts';
import { makeScratch } from '../helpers/scratch.ts';

const scratch = makeScratch();

function setup() {
  const stateDir = join(scratch.dir, `watch-${scratch.id()}`);
  const monitor = new ConmonMonitor({ runtime: createFakes().runtime, stateDir });
  after(() => monitor.close());
  const seen: MonitorExit[] = [];
  monitor.exits$.subscribe((e) => seen.push(e));
  const ours = (id: string) => mkdirSync(join(stateDir, 'persist', id), { recursive: true });
  const exitFile = (id: string) => join(stateDir, 'exits', id);
  return { stateDir, monitor, seen, ours, exitFile };
}

async function until(check: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

test('an exit file created empty is reported once its content arrives, and only once', async () => {
  const { seen, ours, exitFile } = setup();
  ours('c1');
  writeFileSync(exitFile('c1'), '');
  await sleep(100);
  assert.deepEqual(seen, []);
  await writeFile(exitFile('c1'), '42');
  await until(() => seen.length > 0);
  await writeFile(exitFile('c1'), '42');
  await sleep(100);
  assert.deepEqual(seen, [{ id: 'c1', code: 42, oomKilled: false }]);
});

test('an atomic write (temp file, then rename) reports the real name only', async () => {
  const { seen, ours, exitFile } = setup();
  ours('c2');
  await writeFile(`${exitFile('c2')}.Xy12Zq`, '0');
  await rename(`${exitFile('c2')}.Xy12Zq`, exitFile('c2'));
  await until(() => seen.length > 0);
  await sleep(50);
  assert.deepEqual(seen, [{ id: 'c2', code: 0, oomKilled: false }]);
});

test('names without a persist dir are not ours and are ignored', async () => {
  const { seen, exitFile } = setup();
  await writeFile(exitFile('stranger'), '1');
  await sleep(100);
  assert.deepEqual(seen, []);
});

test("conmon's oom file marks the exit OOM-killed; release forgets the id so it can be reported again", async () => {
  const { stateDir, monitor, seen, ours, exitFile } = setup();
  ours('c3');
  writeFileSync(join(stateDir, 'persist', 'c3', 'oom'), '');
  await writeFile(exitFile('c3'), '137');
  await until(() => seen.length === 1);
  assert.deepEqual(seen[0], { id: 'c3', code: 137, oomKilled: true });
  assert.deepEqual(await monitor.readExit('c3'), { id: 'c3', code: 137, oomKilled: true });
  await monitor.release('c3');
  assert.equal(await monitor.readExit('c3'), null);
  ours('c3');
  await writeFile(exitFile('c3'), '0');
  await until(() => seen.length === 2);
  assert.deepEqual(seen[1], { id: 'c3', code: 0, oomKilled: false });
});

test('exits recorded before the first subscriber are reported when watching starts', async () => {
  const stateDir = join(scratch.dir, `watch-${scratch.id()}`);
  const monitor = new ConmonMonitor({ runtime: createFakes().runtime, stateDir });
  after(() => monitor.close());
  mkdirSync(join(stateDir, 'persist', 'early'), { recursive: true });
  writeFileSync(join(stateDir, 'exits', 'early'), '3');
  const seen: MonitorExit[] = [];
  monitor.exits$.subscribe((e) => seen.push(e));
  await until(() => seen.length > 0);
  assert.deepEqual(seen, [{ id: 'early', code: 3, oomKilled: false }]);
});

test('close completes exits$ and stops reporting', async () => {
  const { monitor, seen, ours, exitFile } = setup();
  let completed = false;
  monitor.exits$.subscribe({ complete: () => { completed = true; } });
  monitor.close();
  monitor.close();
  assert.equal(completed, true);
  ours('c4');
  await writeFile(exitFile('c4'), '0');
  await sleep(50);
  assert.deepEqual(seen, []);
});
