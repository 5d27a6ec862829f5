// The `dobby` CLI against a real dobbyd (--private-bus) running real crun containers: DobbyTool's lines, run's exit codes, mounts.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeBundle, type BundleOptions } from '../helpers/bundle.ts';
import { makeScratch } from '../helpers/scratch.ts';
import { dobby } from '../api/harness.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const scratch = makeScratch();

/** Starts dobbyd with its own private bus and state dir; resolves with the address it prints. */
async function startDaemon(stateDir: string): Promise<{ child: ChildProcess; address: string; stdout: () => string }> {
  const child = spawn(join(ROOT, 'bin', 'dobbyd'), ['--private-bus', '--state-dir', stateDir, '--stop-grace', '2', '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  for (let i = 0; i < 600 && !out.includes('\n'); i++) {
    if (child.exitCode !== null) break;
    await sleep(25);
  }
  const line = /^DBUS_ADDRESS=(.+)$/m.exec(out);
  if (line === null) {
    child.kill('SIGKILL');
    throw new Error(`dobbyd printed no DBUS_ADDRESS line (stdout: ${out}; stderr: ${err.slice(-2000)})`);
  }
  return { child, address: line[1]!, stdout: () => out };
}

describe('dobby CLI against a real dobbyd', { concurrency: 4 }, () => {
  let daemon: Awaited<ReturnType<typeof startDaemon>> | undefined;
  let address = '';
  after(async () => {
    const child = daemon?.child;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(20_000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  before(async () => {
    daemon = await startDaemon(join(scratch.dir, 'dobbyd'));
    address = daemon.address;
  });

  const bundle = (id: string, options: BundleOptions) => makeBundle(join(scratch.bundlesDir, id), { init: true, ...options });
  const cli = async (...args: string[]) => {
    const r = await dobby(address, args);
    return { code: r.code, stdout: r.stdout, stderr: r.stderr };
  };

  test('dobbyd prints exactly one DBUS_ADDRESS line, once it serves', async () => {
    assert.match(daemon!.stdout(), /^DBUS_ADDRESS=unix:path=[^\n]+\n$/);
    assert.deepEqual(await cli('info', '__dobby_probe__'), { code: 1, stdout: "error - failed to find container '__dobby_probe__'\n", stderr: '' });
  });

  test('start, list, info, pause, resume, annotate, exec, stop: DobbyTool lines', async () => {
    const id = scratch.id('cli');
    const path = await bundle(id, { args: ['/bin/sleep', '1000'] });
    const started = await cli('start', id, path);
    const cd = Number(/descriptor is (\d+)\n$/.exec(started.stdout)?.[1]);
    assert.equal(started.stdout, `started '${id}' container, descriptor is ${cd}\n`);
    assert.match((await cli('list')).stdout, new RegExp(`^ +${cd} \\| ${id} +\\| running$`, 'm'));
    assert.match((await cli('info', id)).stdout, /"state" : "running"/);
    assert.equal((await cli('pause', id)).stdout, `paused container '${id}'\n`);
    assert.match((await cli('list')).stdout, new RegExp(`\\| ${id} +\\| paused$`, 'm'));
    assert.match((await cli('info', id)).stdout, /"state" : "paused"/);
    assert.equal((await cli('resume', String(cd))).stdout, `resumed container '${cd}'\n`);
    assert.equal((await cli('annotate', id, 'Key1', 'Value1')).stdout, `annotate successful for container '${id}'\n`);
    assert.match((await cli('info', id)).stdout, /"Key1" : "Value1"/);
    assert.equal((await cli('remove-annotation', id, 'Key1')).stdout, `removed Key1 key from container '${id}' annotations\n`);
    assert.doesNotMatch((await cli('info', id)).stdout, /Key1/);
    assert.equal((await cli('exec', id, 'touch', '/tmp/execd')).stdout, `executed command in '${id}' container, descriptor is ${cd}\n`);
    const info = JSON.parse((await cli('info', id)).stdout) as { pids: number[] };
    const pid = info.pids[0]!;
    for (let i = 0; i < 100 && !existsSync(`/proc/${pid}/root/tmp/execd`); i++) await sleep(20);
    assert.ok(existsSync(`/proc/${pid}/root/tmp/execd`), 'exec ran inside the container');
    assert.deepEqual(await cli('stop', id), { code: 0, stdout: `stopped container '${id}'\n`, stderr: '' });
    assert.doesNotMatch((await cli('list')).stdout, new RegExp(id));
  });

  test('stop --force kills a container that ignores SIGTERM', async () => {
    const id = scratch.id('force');
    await cli('start', id, await bundle(id, { args: ['/bin/sh', '-c', 'trap "" TERM; while true; do sleep 0.1; done'], init: false }));
    assert.deepEqual(await cli('stop', id, '--force'), { code: 0, stdout: `stopped container '${id}'\n`, stderr: '' });
  });

  test("run exits with the container's exit code, or 128+signal", async () => {
    const cases: [BundleOptions, number][] = [
      [{ args: ['/bin/true'] }, 0],
      [{ args: ['/bin/sh', '-c', 'exit 3'] }, 3],
      [{ args: ['/bin/sh', '-c', 'kill -TERM $$; sleep 5'] }, 128 + 15],
    ];
    for (const [options, code] of cases) {
      const id = scratch.id('run');
      const r = await cli('run', id, await bundle(id, options));
      assert.deepEqual({ code: r.code, stdout: r.stdout }, { code, stdout: '' }, `${options.args.join(' ')}`);
    }
    const id = scratch.id('runjson');
    const r = await cli('run', '--json', id, await bundle(id, { args: ['/bin/sh', '-c', 'exit 7'] }));
    assert.equal(r.code, 7);
    assert.deepEqual((({ status, exitCode }) => ({ status, exitCode }))(JSON.parse(r.stdout) as { status: number; exitCode: number }), { status: 7 << 8, exitCode: 7 });
  });

  test('run never misses a container that exits at once', async () => {
    const runs = await Promise.all(Array.from({ length: 5 }, async () => {
      const id = scratch.id('fast');
      return cli('run', id, await bundle(id, { args: ['/bin/true'], init: false }));
    }));
    assert.deepEqual(runs.map((r) => r.code), [0, 0, 0, 0, 0]);
  });

  test('wait for running (before the start) and for stopped (returns when the container ends)', async () => {
    const id = scratch.id('wait');
    const path = await bundle(id, { args: ['/bin/sleep', '1'] });
    const running = cli('wait', id, 'running');
    await sleep(300);
    await cli('start', id, path);
    assert.deepEqual(await running, { code: 0, stdout: `Container ${id} has changed state to running\n`, stderr: '' });
    const begin = Date.now();
    assert.deepEqual(await cli('wait', id, 'stopped'), { code: 0, stdout: `Container ${id} has changed state to stopped\n`, stderr: '' });
    assert.ok(Date.now() - begin > 300, 'wait stopped returned only once the container had ended');
    assert.equal((await cli('wait', id, 'stopped')).code, 0, 'a container that is gone is already stopped');
  });

  test('mount and unmount a host directory', async () => {
    const id = scratch.id('mnt');
    await cli('start', id, await bundle(id, { args: ['/bin/sleep', '1000'] }));
    const host = join(scratch.dir, `${id}-src`);
    mkdirSync(host);
    writeFileSync(join(host, 'f.txt'), 'shared');
    assert.equal((await cli('mount', id, host, '/tmp/shared', 'bind,ro')).stdout, `mount successful for container '${id}'\n`);
    const pid = (JSON.parse((await cli('info', id)).stdout) as { pids: number[] }).pids[0]!;
    assert.equal(readFileSync(`/proc/${pid}/root/tmp/shared/f.txt`, 'utf8'), 'shared');
    assert.equal((await cli('mount', id, host, '/tmp/shared', 'bind')).stdout, `error - failed to mount ${host} inside the container ${id}\n`);
    assert.equal((await cli('unmount', id, '/tmp/shared')).stdout, `unmount successful for container '${id}'\n`);
    assert.equal(existsSync(`/proc/${pid}/root/tmp/shared`), false);
    await cli('stop', id, '--force');
  });

  test('events --json reports the exit code, signal and OOM of each exit', async () => {
    const events = spawn(join(ROOT, 'bin', 'dobby'), ['-a', address, 'events', '--json'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    events.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    try {
      await sleep(500);
      const id = scratch.id('ev');
      assert.equal((await cli('run', id, await bundle(id, { args: ['/bin/sh', '-c', 'exit 5'] }))).code, 5);
      for (let i = 0; i < 200 && !out.includes('"deleted"'); i++) await sleep(10);
      const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e['id'] === id);
      assert.deepEqual(lines.map((e) => e['event']), ['created', 'started', 'exited', 'deleted']);
      assert.deepEqual([lines[2]!['exitCode'], lines[2]!['signal'], lines[2]!['status'], lines[2]!['oomKilled']], [5, null, 1280, false]);
    } finally {
      events.kill('SIGINT');
    }
  });
});
