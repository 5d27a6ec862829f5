// Restart on crash through the manager, on the fake runtime (fast, many cases): one restart per
// crash with the same descriptor, bundle and fds; events in order; clean exits, stops during the
// backoff, exhausted attempts and the shutdown each leave nothing behind.

import assert from 'node:assert/strict';
import { existsSync, fstatSync, mkdtempSync, openSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LifecycleEvent } from '../../src/bus.ts';
import { SpecBundles } from '../../src/drivers/bundles/spec-bundles.ts';
import { createFakes, type Fakes } from '../../src/drivers/monitor/fake-monitor.ts';
import { MemoryContainerRecords } from '../../src/drivers/records/container-records.ts';
import { silentLogger } from '../../src/log.ts';
import { createContainerManager, type Manager } from '../../src/manager.ts';
import type { RestartPolicy } from '../../src/machines/restart-policy.ts';

const dir = mkdtempSync(join(tmpdir(), 'dobby-restart-fake-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const FAST: RestartPolicy = { maxAttempts: 10, resetAfterMs: 300_000, initialDelayMs: 5, maxDelayMs: 40 };

async function until(condition: () => boolean, what: string, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(2);
  }
}

interface Rig {
  readonly manager: Manager;
  readonly fakes: Fakes;
  readonly records: MemoryContainerRecords;
  readonly events: LifecycleEvent[];
  readonly bundles: string;
  types(id: string): string[];
}

let rigs = 0;
function rig(policy: RestartPolicy = FAST): Rig {
  const fakes = createFakes();
  const records = new MemoryContainerRecords();
  const bundles = join(dir, `bundles-${++rigs}`);
  const manager = createContainerManager({
    runtime: fakes.runtime,
    monitor: fakes.monitor,
    cgroups: { pathsOf: async () => null, oomKillCount: async () => 0 },
    records,
    logger: silentLogger(),
    stateDir: join(dir, `state-${rigs}`),
    specBundles: new SpecBundles({ dir: bundles, initPath: '/usr/bin/tini-static' }),
    stopGraceMs: 20,
    killWaitMs: 50,
    restartPolicy: policy,
  });
  const events: LifecycleEvent[] = [];
  manager.events$.subscribe((e) => events.push(e));
  after(async () => {
    await manager.shutdown({ force: true, timeoutMs: 5_000 });
    manager.close();
  });
  return { manager, fakes, records, events, bundles, types: (id) => events.filter((e) => e.id === id).map((e) => e.type) };
}

const spec = (restartOnCrash: boolean | null): string =>
  JSON.stringify({ version: '1.0', args: ['sleep', '100'], user: { uid: 1000, gid: 1000 }, memLimit: 41943040, restartOnCrash });

async function nothingLeft(r: Rig, id: string, bundle: string): Promise<void> {
  await until(() => r.manager.findById(id) === undefined, `${id} gone`);
  await until(() => !existsSync(bundle), `${bundle} removed`);
  assert.deepEqual((await r.records.list()).filter((x) => x.id === id), [], `${id}: record left`);
  assert.ok(!r.fakes.host.allocations().containers.includes(id), `${id}: still in the runtime`);
}

/** Nothing at all is held on the fake host (every container of the rig gone). */
async function hostEmpty(r: Rig): Promise<void> {
  await until(() => r.manager.list().length === 0, 'every container gone');
  assert.deepEqual(await r.records.list(), []);
  const held = r.fakes.host.allocations();
  assert.deepEqual([held.containers, held.fds], [[], []]);
}

test('a crash restarts the container once, with the same descriptor, bundle and (copied) fds; events in order', async () => {
  const r = rig();
  const fd = openSync('/etc/hostname', 'r');
  const cd = await r.manager.startFromSpec({ id: 'crashy', spec: spec(true), fds: [fd] });
  // The D-Bus dispatcher closes the caller's fds once the start is answered.
  closeSync(fd);
  const bundle = r.manager.get(cd)?.bundle ?? '';
  assert.ok(existsSync(join(bundle, 'config.json')));
  assert.equal(r.manager.get(cd)?.restarts, 0);
  const firstFds = r.fakes.host.calls.filter((c) => c.verb === 'create').map((c) => (c.detail as { fds: number[] }).fds);
  assert.equal(firstFds.length, 1);
  assert.notEqual(firstFds[0]![0], fd, 'the container got our copy, not the caller fd');

  for (let crash = 1; crash <= 3; crash++) {
    r.fakes.host.exit('crashy', 3);
    await until(() => r.types('crashy').filter((t) => t === 'started').length === crash + 1, `restart ${crash}`);
    assert.equal(r.manager.get(cd)?.phase, 'running');
    assert.equal(r.manager.findById('crashy')?.descriptor, cd);
    assert.equal(r.manager.get(cd)?.bundle, bundle);
    assert.equal(r.manager.get(cd)?.restarts, crash);
    assert.ok(existsSync(join(bundle, 'config.json')), 'the bundle survived the crash');
  }
  const creates = r.fakes.host.calls.filter((c) => c.verb === 'create');
  assert.equal(creates.length, 4, 'one restart per crash');
  for (const c of creates) assert.deepEqual((c.detail as { fds: number[] }).fds, firstFds[0]);
  const copy = firstFds[0]![0]!;
  assert.ok(fstatSync(copy).isFile(), 'the copy stays open between restarts');
  const run = ['created', 'started', 'exited', 'deleted'];
  assert.deepEqual(r.types('crashy'), [...run, ...run, ...run, 'created', 'started']);
  for (const e of r.events) assert.equal(e.descriptor, cd);
  const exits = r.events.filter((e) => e.type === 'exited');
  assert.ok(exits.every((e) => e.type === 'exited' && e.status === 768));

  await r.manager.stop(cd, false);
  await nothingLeft(r, 'crashy', bundle);
  await hostEmpty(r);
  assert.throws(() => fstatSync(copy), /EBADF/, 'the fd copy is closed once the container is gone');
  assert.deepEqual(r.types('crashy').slice(-4), run, 'a stopped container is not restarted');
});

test('a clean exit (0), a container without restartOnCrash, and a stop are never restarted', async () => {
  const r = rig();
  const clean = await r.manager.startFromSpec({ id: 'clean', spec: spec(true) });
  const plain = await r.manager.startFromSpec({ id: 'plain', spec: spec(false) });
  const stopped = await r.manager.startFromSpec({ id: 'stopped', spec: spec(true) });
  const bundles = [clean, plain, stopped].map((cd) => r.manager.get(cd)?.bundle ?? '');
  assert.equal(r.manager.get(plain)?.restarts, undefined, 'no restart count for a container that does not restart');
  r.fakes.host.exit('clean', 0);
  r.fakes.host.exit('plain', 1);
  await r.manager.stop(stopped, false);
  for (const [i, id] of ['clean', 'plain', 'stopped'].entries()) await nothingLeft(r, id, bundles[i]!);
  await hostEmpty(r);
  await sleep(100);
  for (const id of ['clean', 'plain', 'stopped']) assert.deepEqual(r.types(id), ['created', 'started', 'exited', 'deleted'], id);
});

test('a stop during the backoff cancels the restart; the container is gone when the stop returns', async () => {
  const r = rig({ ...FAST, initialDelayMs: 60_000, maxDelayMs: 60_000 });
  const cd = await r.manager.startFromSpec({ id: 'waiting', spec: spec(true) });
  const bundle = r.manager.get(cd)?.bundle ?? '';
  r.fakes.host.exit('waiting', 2);
  await until(() => r.types('waiting').includes('deleted'), 'crash torn down');
  const summary = r.manager.get(cd);
  assert.equal(summary?.id, 'waiting', 'the descriptor stays taken through the backoff');
  assert.equal(summary?.bundle, bundle);
  assert.ok(existsSync(bundle));
  await assert.rejects(r.manager.pause(cd), /waiting to be restarted/);
  await assert.rejects(r.manager.startFromSpec({ id: 'waiting', spec: spec(true) }), /already exists/);
  await r.manager.stop(cd, false);
  assert.equal(r.manager.get(cd), undefined);
  assert.equal(existsSync(bundle), false, 'bundle removed before the stop returned');
  await nothingLeft(r, 'waiting', bundle);
  await hostEmpty(r);
  assert.deepEqual(r.types('waiting'), ['created', 'started', 'exited', 'deleted']);
});

test('attempts run out: the container goes for good with its bundle', async () => {
  const r = rig({ ...FAST, maxAttempts: 2 });
  r.fakes.host.setBehaviour('doomed', { exitOnStart: { code: 1, afterMs: 1 } });
  const cd = await r.manager.startFromSpec({ id: 'doomed', spec: spec(true) });
  const bundle = r.manager.get(cd)?.bundle ?? '';
  await nothingLeft(r, 'doomed', bundle);
  await hostEmpty(r);
  assert.equal(r.types('doomed').filter((t) => t === 'started').length, 3, 'first start + 2 restarts');
});

test('the shutdown cancels a pending restart and leaves nothing', async () => {
  const r = rig({ ...FAST, initialDelayMs: 60_000, maxDelayMs: 60_000 });
  const cd = await r.manager.startFromSpec({ id: 'shut', spec: spec(true) });
  const bundle = r.manager.get(cd)?.bundle ?? '';
  r.fakes.host.exit('shut', 9);
  await until(() => r.types('shut').includes('deleted'), 'crash torn down');
  assert.ok(r.manager.get(cd) !== undefined);
  await r.manager.shutdown({ timeoutMs: 5_000 });
  assert.equal(existsSync(bundle), false);
  await nothingLeft(r, 'shut', bundle);
  await hostEmpty(r);
});

test('a failed restart (the runtime refuses the create) gives up cleanly', async () => {
  const r = rig();
  const cd = await r.manager.startFromSpec({ id: 'refused', spec: spec(true) });
  const bundle = r.manager.get(cd)?.bundle ?? '';
  r.fakes.host.failNext('create', new Error('simulated create failure'), { id: 'refused' });
  r.fakes.host.exit('refused', 5);
  await nothingLeft(r, 'refused', bundle);
  await hostEmpty(r);
  assert.deepEqual(r.types('refused'), ['created', 'started', 'exited', 'deleted', 'start-failed', 'deleted']);
});
