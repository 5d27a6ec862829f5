// The whole lifecycle core over real crun and runc + conmon: exits, stops, OOM, pause, exec, bad input.

import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DobbyError } from '../../src/errors.ts';
import { makeBundle, writeConfig, type BundleOptions } from '../helpers/bundle.ts';
import { realManager } from '../helpers/manager.ts';
import { makeScratch, type Flavour } from '../helpers/scratch.ts';

const scratch = makeScratch();

/** A counter that a frozen container cannot advance. */
const COUNTER = ['/bin/sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done'];

async function readInside(pid: number, path: string): Promise<string> {
  return (await readFile(`/proc/${pid}/root${path}`, 'utf8')).trim();
}

async function eventually<T>(probe: () => Promise<T | undefined>, ms = 5_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(25);
  }
}

async function conmonPidsOf(stateDir: string): Promise<string[]> {
  return (await readdir(join(stateDir, 'pids')).catch(() => [] as string[])).filter((n) => n.endsWith('.conmon.pid'));
}

for (const flavour of ['crun', 'runc'] as const satisfies readonly Flavour[]) {
  describe(`lifecycle over ${flavour} + conmon`, { concurrency: 3 }, () => {
    const real = realManager(scratch, flavour, { stopGraceMs: 800 });
    const { manager } = real;

    const bundle = async (options: BundleOptions, id = scratch.id(flavour)) => ({
      id,
      bundle: await makeBundle(join(scratch.bundlesDir, id), { init: true, ...options }),
    });

    test('a container that exits 0 goes created → started → exited(0) → deleted', async () => {
      const c = await bundle({ args: ['/bin/true'] });
      const descriptor = await manager.start(c);
      assert.ok(descriptor >= 1 && descriptor <= 1023);
      const exited = await real.next(c.id, 'exited');
      assert.equal(exited.type === 'exited' && exited.exitCode, 0);
      assert.equal(exited.type === 'exited' && exited.status, 0);
      await real.next(c.id, 'deleted');
      assert.deepEqual(real.seen(c.id), ['created', 'started', 'exited', 'deleted']);
      assert.equal(manager.findById(c.id), undefined);
      assert.equal(await real.runtime.state(c.id), null);
    });

    test('exit code 7 is reported with the raw status 7<<8', async () => {
      const c = await bundle({ args: ['/bin/sh', '-c', 'exit 7'] });
      await manager.start(c);
      const exited = await real.next(c.id, 'exited');
      assert.ok(exited.type === 'exited');
      assert.deepEqual([exited.exitCode, exited.signal, exited.status, exited.oomKilled], [7, null, 7 << 8, false]);
    });

    test('stop sends SIGTERM: the container dies of signal 15', async () => {
      const c = await bundle({ args: ['/bin/sleep', '1000'] });
      const d = await manager.start(c);
      assert.equal(manager.get(d)?.phase, 'running');
      await manager.stop(d, false);
      const exited = await real.next(c.id, 'exited');
      assert.ok(exited.type === 'exited');
      assert.deepEqual([exited.exitCode, exited.signal, exited.status], [null, 15, 15]);
      await real.next(c.id, 'deleted');
    });

    // A pid-namespace init drops a signal it neither catches nor blocks: a stop that comes before the
    // handler is set must be sent again once it is, within the grace period, not end in SIGKILL.
    test('a stop before the init sets its SIGTERM handler reaches the handler once it is set', async () => {
      const c = await bundle({ args: ['/bin/sh', '-c', 'sleep 0.3; trap "exit 0" TERM; while true; do sleep 0.05; done'], init: false });
      const d = await manager.start(c);
      await manager.stop(d, false);
      const exited = await real.next(c.id, 'exited');
      assert.ok(exited.type === 'exited');
      assert.deepEqual([exited.exitCode, exited.signal], [0, null]);
    });

    test('a handler set late hears the stop once, and one set early hears it once: never twice', async () => {
      // On the rootfs itself (its /tmp is a tmpfs), to be read after the exit.
      const record = 'trap "echo term >> /terms" TERM';
      const late = await bundle({ args: ['/bin/sh', '-c', `sleep 0.3; ${record}; while true; do sleep 0.05; done`], init: false });
      const early = await bundle({ args: ['/bin/sh', '-c', `${record}; touch /ready; while true; do sleep 0.05; done`], init: false });
      const [lateD, earlyD] = await Promise.all([manager.start(late), manager.start(early)]);
      await eventually(async () => (await readFile(join(early.bundle, 'rootfs/ready'), 'utf8')) === '' || undefined);
      await Promise.all([manager.stop(lateD, false), manager.stop(earlyD, false)]);
      for (const c of [late, early]) {
        const exited = await real.next(c.id, 'exited');
        assert.ok(exited.type === 'exited' && exited.signal === 9, 'the trap does not exit: the grace period ends in SIGKILL');
        assert.equal(await readFile(join(c.bundle, 'rootfs/terms'), 'utf8'), 'term\n', c.id);
      }
    });

    test('an init with no SIGTERM handler at all is SIGKILLed after the grace period, as before', async () => {
      const c = await bundle({ args: ['/bin/sh', '-c', 'while true; do sleep 0.05; done'], init: false });
      const d = await manager.start(c);
      await manager.stop(d, false);
      const exited = await real.next(c.id, 'exited');
      assert.ok(exited.type === 'exited');
      assert.equal(exited.signal, 9);
    });

    test('a container that ignores SIGTERM is SIGKILLed after the grace period', async () => {
      const c = await bundle({ args: ['/bin/sh', '-c', 'trap "" TERM; while true; do sleep 0.1; done'], init: false });
      const d = await manager.start(c);
      const t0 = Date.now();
      await manager.stop(d, false);
      const exited = await real.next(c.id, 'exited');
      assert.ok(exited.type === 'exited');
      assert.equal(exited.signal, 9);
      assert.ok(Date.now() - t0 >= 700, 'SIGKILL came before the grace period ended');
    });

    test('a forced stop kills at once', async () => {
      const c = await bundle({ args: ['/bin/sh', '-c', 'trap "" TERM; while true; do sleep 0.1; done'], init: false });
      const d = await manager.start(c);
      await manager.stop(d, true);
      const exited = await real.next(c.id, 'exited');
      assert.ok(exited.type === 'exited' && exited.signal === 9);
    });

    test('an OOM kill under a 16 MiB limit reports oomKilled', async () => {
      const c = await bundle({ args: ['/bin/dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1'], memoryLimit: 16 * 1024 * 1024 });
      await manager.start(c);
      const exited = await real.next(c.id, 'exited');
      assert.ok(exited.type === 'exited');
      assert.equal(exited.oomKilled, true);
      assert.equal(exited.signal, 9);
    });

    test('pause freezes the container and resume thaws it', async () => {
      const c = await bundle({ args: COUNTER });
      const d = await manager.start(c);
      const pid = manager.get(d)?.pid;
      assert.ok(typeof pid === 'number');
      const first = Number(await eventually(() => readInside(pid, '/tmp/count')));
      await eventually(async () => (Number(await readInside(pid, '/tmp/count')) > first ? true : undefined));
      await manager.pause(d);
      assert.equal(manager.get(d)?.phase, 'paused');
      assert.equal((await real.runtime.state(c.id))?.status, 'paused');
      const frozen = await readInside(pid, '/tmp/count');
      await sleep(400);
      assert.equal(await readInside(pid, '/tmp/count'), frozen, 'the counter advanced while paused');
      await manager.resume(d);
      assert.equal(manager.get(d)?.phase, 'running');
      await eventually(async () => (Number(await readInside(pid, '/tmp/count')) > Number(frozen) ? true : undefined));
      // Stopping a paused container must thaw it first so that SIGTERM arrives.
      await manager.pause(d);
      await manager.stop(d, false);
      const exited = await real.next(c.id, 'exited');
      assert.ok(exited.type === 'exited' && exited.signal === 15);
      assert.deepEqual(real.seen(c.id).slice(0, 6), ['created', 'started', 'paused', 'resumed', 'paused', 'exited']);
    });

    test('exec runs a command inside a running container', async () => {
      const c = await bundle({ args: ['/bin/sleep', '1000'] });
      const d = await manager.start(c);
      const pid = manager.get(d)?.pid;
      assert.ok(typeof pid === 'number');
      const execPid = await manager.exec(d, { args: ['/bin/sh', '-c', 'echo from-exec > /tmp/exec-proof'] });
      assert.ok(execPid > 0);
      assert.equal(await eventually(() => readInside(pid, '/tmp/exec-proof')), 'from-exec');
      await manager.stop(d, true);
      await real.next(c.id, 'deleted');
    });

    test('illegal commands are refused with a typed error and change nothing', async () => {
      const c = await bundle({ args: ['/bin/sleep', '1000'] });
      const d = await manager.start(c);
      await assert.rejects(manager.resume(d), (err: DobbyError) => err.code === 'ILLEGAL_STATE' && /resume/.test(err.message));
      assert.equal(manager.get(d)?.phase, 'running');
      await assert.rejects(manager.pause(999_999), (err: DobbyError) => err.code === 'UNKNOWN_CONTAINER');
      await assert.rejects(manager.start(c), (err: DobbyError) => err.code === 'DUPLICATE_ID');
      await manager.stop(d, true);
      await real.next(c.id, 'deleted');
    });

    test('bad input: invalid ids and missing bundles are clear errors; nothing is left behind', async () => {
      const c = await bundle({ args: ['/bin/true'] });
      for (const id of ['', '../escape', 'a/b', '1234', 'x'.repeat(129), 'a..b']) {
        await assert.rejects(manager.start({ id, bundle: c.bundle }), (err: DobbyError) => err.code === 'INVALID_ID', id);
      }
      await assert.rejects(manager.start({ id: scratch.id(flavour), bundle: join(scratch.dir, 'nope') }), (err: DobbyError) =>
        err.code === 'BUNDLE_INVALID' && /config\.json/.test(err.message),
      );
      await assert.rejects(manager.start({ id: scratch.id(flavour), bundle: 'relative/path' }), (err: DobbyError) => err.code === 'BUNDLE_INVALID');
    });

    test('a config.json the runtime rejects fails the start cleanly', async () => {
      const c = await bundle({ args: ['/bin/true'] });
      await writeConfig(c.bundle, { args: ['/bin/true'] }, (config) => {
        (config['process'] as Record<string, unknown>)['cwd'] = 'relative-cwd-is-invalid';
        // (A missing rootfs no longer gets this far: the manager refuses it before the runtime runs.)
        (config['linux'] as { namespaces: unknown[] }).namespaces.push({ type: 'bogus' });
      });
      await assert.rejects(manager.start(c), (err: DobbyError) => {
        assert.ok(['RUNTIME_FAILED', 'MONITOR_FAILED'].includes(err.code), err.code);
        assert.equal(err.containerId, c.id);
        return true;
      });
      assert.deepEqual(real.seen(c.id), ['start-failed', 'deleted']);
      assert.equal(manager.findById(c.id), undefined);
      assert.equal(await real.runtime.state(c.id), null);
      const left = (await conmonPidsOf(scratch.dirs(flavour).stateDir)).filter((n) => n.startsWith(`${c.id}.`));
      assert.deepEqual(left, [], 'a conmon pid file of the failed container is left');
      // The daemon keeps serving after the failure.
      const ok = await bundle({ args: ['/bin/true'] });
      await manager.start(ok);
      await real.next(ok.id, 'deleted');
    });
  });
}

describe('a missing runtime binary', () => {
  test('gives RUNTIME_MISSING naming the binary, and the manager keeps serving', async () => {
    const real = realManager(scratch, 'crun', { binary: '/nonexistent/crun-for-dobby-test' });
    const id = scratch.id('missing');
    const b = await makeBundle(join(scratch.bundlesDir, id), { args: ['/bin/true'] });
    await assert.rejects(real.manager.start({ id, bundle: b }), (err: DobbyError) => {
      assert.ok(['RUNTIME_MISSING', 'MONITOR_FAILED', 'RUNTIME_FAILED'].includes(err.code), `${err.code}: ${err.message}`);
      assert.match(err.message, /crun-for-dobby-test/);
      return true;
    });
    assert.equal(real.manager.list().length, 0);
  });
});
