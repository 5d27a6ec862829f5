// The fake runtime + monitor pair behaves like crun + conmon, deterministically, and reports leaks.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DobbyError } from '../../src/errors.ts';
import type { MonitorExit } from '../../src/drivers/monitor/types.ts';
import { createFakes } from '../../src/drivers/monitor/fake-monitor.ts';
import type { FakeHostOptions } from '../../src/drivers/runtime/fake-host.ts';

function world(options: FakeHostOptions = {}) {
  const fakes = createFakes(options);
  const exits: MonitorExit[] = [];
  fakes.monitor.exits$.subscribe((e) => exits.push(e));
  const create = (id: string, fds: number[] = []) => fakes.monitor.create({ id, bundle: `/bundles/${id}`, logPath: `/logs/${id}`, fds });
  const tidy = async (id: string) => {
    await fakes.runtime.delete(id, { force: true });
    await fakes.monitor.release(id);
  };
  return { ...fakes, exits, create, tidy };
}

/** Lets queued microtasks (the fake's exit records) run. */
const settle = () => new Promise<void>((r) => setImmediate(r));

describe('lifecycle', () => {
  test('created → running → paused → running → stopped by TERM (143), then deleted and released', async () => {
    const { runtime, monitor, host, exits, create } = world();
    const created = await create('a', [7, 8]);
    assert.deepEqual(await runtime.state('a'), { id: 'a', status: 'created', pid: created.pid, bundle: '/bundles/a' });
    assert.equal(await monitor.monitorPid('a'), created.monitorPid);
    assert.deepEqual(host.allocations().fds, [7, 8]);
    await runtime.start('a');
    assert.equal((await runtime.state('a'))?.status, 'running');
    await runtime.pause('a');
    await runtime.pause('a'); // idempotent, as crun
    assert.equal((await runtime.state('a'))?.status, 'paused');
    await runtime.resume('a');
    await runtime.kill('a', 'SIGTERM');
    await settle();
    assert.deepEqual(exits, [{ id: 'a', code: 143, oomKilled: false }]);
    assert.deepEqual(await runtime.state('a'), { id: 'a', status: 'stopped', pid: 0, bundle: '/bundles/a' });
    assert.deepEqual(await monitor.readExit('a'), { id: 'a', code: 143, oomKilled: false });
    assert.equal(await monitor.monitorPid('a'), null);
    assert.deepEqual(host.allocations().fds, []);
    await runtime.delete('a');
    assert.equal(await runtime.state('a'), null);
    assert.throws(() => host.assertClean(), /records=\["a"\]/);
    await monitor.release('a');
    host.assertClean();
  });

  test('a process ignoring SIGTERM only goes with SIGKILL (137)', async () => {
    const { runtime, host, exits, create, tidy } = world();
    host.setBehaviour('b', { ignoresSigterm: true });
    await create('b');
    await runtime.start('b');
    await runtime.kill('b', 'TERM');
    await settle();
    assert.equal(exits.length, 0);
    await runtime.kill('b', 9, { all: true });
    await settle();
    assert.deepEqual(exits, [{ id: 'b', code: 137, oomKilled: false }]);
    await assert.rejects(runtime.kill('b', 'KILL'), (err: DobbyError) => err.code === 'RUNTIME_FAILED' && /No such process/.test(err.stderr ?? ''));
    await tidy('b');
    host.assertClean();
  });

  test('signals to a paused container wait for resume, SIGKILL included (v1 freezer); delete --force does not', async () => {
    const { runtime, exits, create, host, tidy } = world();
    await create('c');
    await runtime.start('c');
    await runtime.pause('c');
    await runtime.kill('c', 'KILL');
    await settle();
    assert.equal(exits.length, 0);
    await runtime.resume('c');
    await settle();
    assert.deepEqual(exits.map((e) => e.code), [137]);
    await tidy('c');

    await create('d');
    await runtime.start('d');
    await runtime.pause('d');
    await runtime.delete('d', { force: true });
    await settle();
    assert.deepEqual(exits.map((e) => e.code), [137, 137]);
    await host.release('d');
    host.assertClean();
  });

  test('a created container ignores TERM (pid 1 without handlers) and dies of KILL or delete', async () => {
    const { runtime, exits, create, host } = world();
    await create('e');
    await runtime.kill('e', 'TERM');
    await settle();
    assert.equal(exits.length, 0);
    await runtime.delete('e');
    await settle();
    assert.deepEqual(exits, [{ id: 'e', code: 137, oomKilled: false }]);
    await host.release('e');
    host.assertClean();
  });

  test('a process can exit on its own after start, or be OOM-killed', async () => {
    const { runtime, monitor, exits, create, host, tidy } = world({ behaviour: (id) => (id === 'f' ? { exitOnStart: { code: 7 } } : {}) });
    await create('f');
    await runtime.start('f');
    await settle();
    assert.deepEqual(exits, [{ id: 'f', code: 7, oomKilled: false }]);
    await create('g');
    await runtime.start('g');
    host.oomKill('g');
    await settle();
    assert.deepEqual(exits[1], { id: 'g', code: 137, oomKilled: true });
    assert.equal(await monitor.oomKillCount('g'), 1);
    await tidy('f');
    await tidy('g');
    host.assertClean();
  });

  test('delete refuses a running container unless forced; verbs on a stopped or unknown one fail like crun', async () => {
    const { runtime, create, host, tidy } = world();
    await create('h');
    await runtime.start('h');
    await assert.rejects(runtime.delete('h'), /not in `created` or `stopped` state/);
    await assert.rejects(runtime.start('h'), { code: 'RUNTIME_FAILED', verb: 'start' });
    await assert.rejects(runtime.kill('nope', 'TERM'), (err: DobbyError) => /No such file or directory/.test(err.stderr ?? ''));
    await assert.rejects(create('h'), /already exists/);
    await tidy('h');
    await assert.rejects(runtime.pause('h'), { code: 'RUNTIME_FAILED' });
    await runtime.delete('h', { force: true });
    assert.deepEqual(await runtime.list(), []);
    host.assertClean();
  });

  test('exec: detached gives a pid held until the container dies; foreground answers from the behaviour', async () => {
    const { runtime, create, host, tidy } = world();
    host.setBehaviour('i', { exec: (o) => ({ exitCode: 3, stdout: o.args.join(' ') }) });
    const { pid } = await create('i');
    await assert.rejects(runtime.exec('i', { args: ['/bin/true'] }), /not running/);
    await runtime.start('i');
    const detached = await runtime.exec('i', { args: ['/bin/sleep', '9'], detach: true });
    assert.ok(detached.pid !== null);
    assert.deepEqual(host.allocations().pids, [pid, detached.pid].sort((a, b) => a - b));
    assert.deepEqual(await runtime.exec('i', { args: ['echo', 'x'] }), { pid: null, exitCode: 3, stdout: 'echo x', stderr: '' });
    await tidy('i');
    host.assertClean();
  });
});

describe('failure injection and timing', () => {
  test('failNext fails one call with a typed error and changes nothing', async () => {
    const { runtime, create, host, tidy } = world();
    host.failNext('create');
    await assert.rejects(create('j'), { code: 'MONITOR_FAILED', verb: 'create' });
    host.assertClean();
    await create('j');
    host.failNext('start');
    await assert.rejects(runtime.start('j'), (err: DobbyError) => err instanceof DobbyError && err.code === 'RUNTIME_FAILED' && err.containerId === 'j');
    assert.equal((await runtime.state('j'))?.status, 'created');
    await runtime.start('j');
    assert.equal((await runtime.state('j'))?.status, 'running');
    await tidy('j');
  });

  test('failNext can target one id, fail several times, and carry any error', async () => {
    const { runtime, create, host, tidy } = world();
    await create('k');
    await create('l');
    const boom = new Error('boom');
    host.failNext('start', boom, { id: 'l', times: 2 });
    await runtime.start('k');
    await assert.rejects(runtime.start('l'), boom);
    await assert.rejects(runtime.start('l'), boom);
    await runtime.start('l');
    host.failNext('kill');
    host.clearFailures();
    await runtime.kill('l', 'TERM');
    await tidy('k');
    await tidy('l');
    host.assertClean();
  });

  test('without latency every call settles on microtasks; the call log records them in order', async () => {
    const { runtime, create, host, tidy } = world();
    let timerFired = false;
    const timer = setTimeout(() => { timerFired = true; }, 0);
    await create('m');
    await runtime.start('m');
    await runtime.kill('m', 'TERM');
    assert.equal(timerFired, false);
    clearTimeout(timer);
    assert.deepEqual(host.calls.map((c) => c.verb), ['create', 'start', 'kill']);
    await tidy('m');
  });

  test('latency and exit delay are honoured', async () => {
    const { runtime, exits, create, tidy } = world({ latencyMs: { start: 30 }, exitDelayMs: 30 });
    await create('n');
    const t0 = performance.now();
    await runtime.start('n');
    assert.ok(performance.now() - t0 >= 25);
    await runtime.kill('n', 'KILL');
    await settle();
    assert.equal(exits.length, 0);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(exits.map((e) => e.code), [137]);
    await tidy('n');
  });

  test('a gate holds every call until released (for fast-check schedulers)', async () => {
    const waiting: Array<() => void> = [];
    const { runtime, create, host, tidy } = world({ gate: () => new Promise<void>((r) => waiting.push(r)) });
    const creating = create('o');
    await settle();
    assert.equal(waiting.length, 1);
    assert.equal(host.peek('o'), null);
    waiting.shift()!();
    await creating;
    assert.equal(host.peek('o')?.status, 'created');
    const deleting = tidy('o');
    for (let i = 0; i < 2; i++) {
      await settle();
      waiting.shift()!();
    }
    await deleting;
    host.assertClean();
  });
});
