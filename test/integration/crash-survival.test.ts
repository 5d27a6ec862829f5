// kill -9 of a real dobbyd during start, while running and during stop: the containers live on under
// conmon, and the next dobbyd rebuilds from the host, re-adopts, reports exits and cleans half-done work.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../../src/drivers/process.ts';
import { makeBundle, type BundleOptions } from '../helpers/bundle.ts';
import { cleanRuntime, makeScratch } from '../helpers/scratch.ts';
import { DbusMonitor, dobbyTrace } from '../api/dbus-monitor.ts';
import { call, testBus, type TestBus } from '../api/harness.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const scratch = makeScratch();
const stateDir = join(scratch.dir, 'dobbyd');
const runtimeRoot = join(stateDir, 'runtime');

interface Daemon {
  readonly child: ChildProcess;
  output(): string;
}

/** dobbyd on the test's own bus (which outlives it), serving once it owns the name. */
async function startDaemon(address: string, graceSeconds: number, extra: readonly string[] = []): Promise<Daemon> {
  const child = spawn(join(ROOT, 'bin', 'dobbyd'), [
    '--dbus-address', address, '--state-dir', stateDir, '--stop-grace', String(graceSeconds), '--log-level', 'info', ...extra,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  for (let i = 0; i < 1200; i++) {
    if (child.exitCode !== null) throw new Error(`dobbyd exited with ${child.exitCode}: ${out.slice(-3000)}`);
    if (out.includes('started Dobby daemon')) return { child, output: () => out };
    await sleep(25);
  }
  child.kill('SIGKILL');
  throw new Error(`dobbyd did not start: ${out.slice(-3000)}`);
}

async function kill9(daemon: Daemon): Promise<void> {
  if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) return;
  const gone = new Promise((resolve) => daemon.child.once('exit', resolve));
  daemon.child.kill('SIGKILL');
  await gone;
}

async function terminate(daemon: Daemon | undefined): Promise<void> {
  if (daemon === undefined || daemon.child.exitCode !== null || daemon.child.signalCode !== null) return;
  const gone = new Promise((resolve) => daemon.child.once('exit', resolve));
  daemon.child.kill('SIGTERM');
  await Promise.race([gone, sleep(30_000)]);
  await kill9(daemon);
}

/** What crun itself says of a container in the daemon's runtime root (null: it has none). */
async function crunStatus(id: string): Promise<string | null> {
  const r = await run('crun', ['--root', runtimeRoot, 'state', id], { timeoutMs: 10_000 });
  if (r.code !== 0) return null;
  return (JSON.parse(r.stdout) as { status: string }).status;
}

async function list(address: string): Promise<Map<string, number>> {
  const r = await run('busctl', [`--address=${address}`, '--json=short', 'call', 'org.rdk.dobby', '/org/rdk/dobby', 'org.rdk.dobby.ctrl1', 'List'], { timeoutMs: 15_000 });
  assert.equal(r.code, 0, r.stderr);
  const [descriptors, ids] = (JSON.parse(r.stdout) as { data: [number[], string[]] }).data;
  return new Map(ids.map((id, i) => [id, descriptors[i]!]));
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const startCall = (address: string, id: string, bundle: string) =>
  call(address, 'ctrl1', 'StartFromBundle', 'ssah', id, bundle, '0');

function descriptorOf(reply: string): number {
  const cd = Number(/^i (-?\d+)$/.exec(reply)?.[1]);
  assert.ok(cd > 0, `start replied ${reply}`);
  return cd;
}

describe('dobbyd survives kill -9', { concurrency: false }, () => {
  let bus: TestBus | undefined;
  let address = '';
  let daemon: Daemon | undefined;
  let monitor: DbusMonitor | undefined;
  const bundle = (id: string, options: BundleOptions) => makeBundle(join(scratch.bundlesDir, id), { init: true, ...options });

  before(async () => {
    mkdirSync(stateDir, { recursive: true });
    bus = await testBus();
    address = bus.address;
    monitor = await DbusMonitor.start(address);
  });
  after(async () => {
    await terminate(daemon);
    monitor?.stop();
    await cleanRuntime('crun', runtimeRoot, join(stateDir, 'monitor', 'pids'));
    await bus?.stop();
  });

  test('a running container keeps running, is re-adopted with its descriptor and stops normally', async () => {
    daemon = await startDaemon(address, 2);
    const id = scratch.id('run');
    const cd = descriptorOf(await startCall(address, id, await bundle(id, { args: ['/bin/sleep', '1000'] })));
    await kill9(daemon);
    assert.equal(await crunStatus(id), 'running', 'the container outlives the daemon');
    daemon = await startDaemon(address, 2);
    const adopted = await waitFor('adoption', async () => ((await list(address)).get(id) === cd ? true : undefined));
    assert.ok(adopted);
    await waitFor('running', async () => ((await call(address, 'ctrl1', 'GetState', 'i', String(cd))) === 'i 2' ? true : undefined));
    assert.equal(await call(address, 'ctrl1', 'Stop', 'ib', String(cd), 'false'), 'b true');
    const seen = await monitor!.until((s) => dobbyTrace(s, id).includes('Stopped'));
    assert.deepEqual(dobbyTrace(seen, id).slice(-2), ['StoppedWithStatus:15', 'Stopped']);
    assert.equal(await crunStatus(id), null);
  });

  test('a container that exited while the daemon was down is reported with its status and cleaned up', async () => {
    const id = scratch.id('exit');
    const cd = descriptorOf(await startCall(address, id, await bundle(id, { args: ['/bin/sh', '-c', 'sleep 1; exit 3'] })));
    await kill9(daemon!);
    await waitFor('the exit', async () => ((await crunStatus(id)) === 'stopped' ? true : undefined));
    daemon = await startDaemon(address, 2);
    const seen = await monitor!.until((s) => dobbyTrace(s, id).includes('Stopped'));
    assert.deepEqual(dobbyTrace(seen, id).slice(-2), ['StoppedWithStatus:768', 'Stopped']);
    const stopped = seen.find((m) => m.kind === 'signal' && m.member === 'Stopped' && m.args[1] === id);
    assert.equal(stopped?.args[0], cd, 'the Stopped signal carries the old descriptor');
    await waitFor('removal', async () => ((await list(address)).has(id) ? undefined : true));
    assert.equal(await crunStatus(id), null);
  });

  test('kill -9 during a stop: the next daemon finishes the stop', async () => {
    await terminate(daemon);
    daemon = await startDaemon(address, 60);
    const id = scratch.id('stop');
    // A plain sh as pid 1 ignores SIGTERM, so only the SIGKILL after the grace period ends it.
    const path = await bundle(id, { args: ['/bin/sh', '-c', 'while true; do sleep 1; done'], init: false });
    const cd = descriptorOf(await startCall(address, id, path));
    assert.equal(await call(address, 'ctrl1', 'Stop', 'ib', String(cd), 'false'), 'b true');
    await kill9(daemon);
    assert.equal(await crunStatus(id), 'running');
    daemon = await startDaemon(address, 1);
    const seen = await monitor!.until((s) => dobbyTrace(s, id).includes('Stopped'), 30_000);
    assert.deepEqual(dobbyTrace(seen, id).slice(-2), ['StoppedWithStatus:9', 'Stopped']);
    assert.equal(await crunStatus(id), null);
  });

  test('kill -9 at points during starts: every container ends up running and adopted, or fully cleaned up', async () => {
    const ids: string[] = [];
    for (const delay of [0, 5, 15, 30, 60, 120]) {
      const id = scratch.id(`start${delay}`);
      ids.push(id);
      const path = await bundle(id, { args: ['/bin/sleep', '1000'] });
      const reply = startCall(address, id, path).catch((err: unknown) => String(err));
      await sleep(delay);
      await kill9(daemon!);
      await reply;
      daemon = await startDaemon(address, 1);
    }
    // Let every adoption settle: each id is either listed as running or gone from crun and the list.
    await waitFor('settled adoptions', async () => {
      const listed = await list(address);
      for (const id of ids) {
        const status = await crunStatus(id);
        const cd = listed.get(id);
        const running = cd !== undefined && (await call(address, 'ctrl1', 'GetState', 'i', String(cd))) === 'i 2' && status === 'running';
        const gone = cd === undefined && status === null;
        if (!running && !gone) return undefined;
      }
      return true;
    }, 30_000);
    const listed = await list(address);
    for (const id of ids) {
      const cd = listed.get(id);
      if (cd !== undefined) assert.equal(await call(address, 'ctrl1', 'Stop', 'ib', String(cd), 'true'), 'b true');
    }
    await waitFor('all stopped', async () => {
      const now = await list(address);
      return ids.some((id) => now.has(id)) ? undefined : true;
    });
    for (const id of ids) assert.equal(await crunStatus(id), null, `${id} left in crun`);
    const records = readdirSync(join(stateDir, 'containers')).filter((n) => ids.some((id) => n.startsWith(id)));
    assert.deepEqual(records, [], 'no record left');
  });

  test('half-done work left on the host is torn down: a created-but-never-started container, a bundle without a container', async () => {
    await terminate(daemon);
    const id = scratch.id('half');
    const path = await bundle(id, { args: ['/bin/sleep', '1000'] });
    // What a daemon that died between create and start leaves: a created container and our record of it.
    // The container's init keeps crun's stdio: wait for crun's exit, not for its pipes to close.
    const created = await run('crun', ['--root', runtimeRoot, 'create', '--bundle', path, id], { timeoutMs: 20_000, waitFor: 'exit', stdio: ['ignore', 'ignore', 'pipe'] });
    assert.equal(created.code, 0, created.stderr);
    mkdirSync(join(stateDir, 'containers'), { recursive: true });
    writeFileSync(join(stateDir, 'containers', `${id}.json`), JSON.stringify({ id, descriptor: 77, bundle: path }));
    const orphanBundle = join(stateDir, 'bundles', `${scratch.id('orphan')}.12345`);
    mkdirSync(join(orphanBundle, 'rootfs'), { recursive: true });
    writeFileSync(join(orphanBundle, 'config.json'), '{}');
    daemon = await startDaemon(address, 1);
    await waitFor('the created container gone', async () => ((await crunStatus(id)) === null ? true : undefined));
    await waitFor('its record gone', async () => (existsSync(join(stateDir, 'containers', `${id}.json`)) ? undefined : true));
    await waitFor('the orphan bundle gone', async () => (existsSync(orphanBundle) ? undefined : true));
    assert.equal((await list(address)).has(id), false);
  });

  test('the daemon kept serving through all of it', async () => {
    assert.equal((await call(address, 'admin1', 'Ping')), '');
    assert.doesNotMatch(daemon!.output(), /uncaught exception/);
  });

  /** Starts one container that SIGTERM ends and one that ignores it (only the grace period's SIGKILL ends it). */
  async function twoContainers(label: string): Promise<string[]> {
    const polite = scratch.id(`${label}-polite`);
    const stubborn = scratch.id(`${label}-stubborn`);
    descriptorOf(await startCall(address, polite, await bundle(polite, { args: ['/bin/sleep', '1000'] })));
    descriptorOf(await startCall(address, stubborn, await bundle(stubborn, { args: ['/bin/sh', '-c', 'while true; do sleep 1; done'], init: false })));
    return [polite, stubborn];
  }

  async function exitOf(d: Daemon): Promise<number | null> {
    if (d.child.exitCode !== null) return d.child.exitCode;
    return new Promise((resolve) => d.child.once('exit', (code) => resolve(code)));
  }

  async function assertAllTornDown(ids: readonly string[]): Promise<void> {
    for (const id of ids) assert.equal(await crunStatus(id), null, `${id} left in crun`);
    const left = readdirSync(join(stateDir, 'containers')).filter((n) => ids.some((id) => n.startsWith(id)));
    assert.deepEqual(left, [], 'records left behind');
  }

  test('SIGTERM stops every container (grace period, then SIGKILL), runs their teardown and exits 0', async () => {
    await terminate(daemon);
    daemon = await startDaemon(address, 1);
    const ids = await twoContainers('term');
    daemon.child.kill('SIGTERM');
    assert.equal(await exitOf(daemon), 0);
    await assertAllTornDown(ids);
  });

  test('Shutdown over D-Bus does the same', async () => {
    daemon = await startDaemon(address, 1);
    const ids = await twoContainers('shutdown');
    assert.equal(await call(address, 'admin1', 'Shutdown'), '');
    assert.equal(await exitOf(daemon), 0);
    await assertAllTornDown(ids);
  });

  test('--keep-containers-on-exit leaves them running for the next daemon, which adopts them', async () => {
    daemon = await startDaemon(address, 1, ['--keep-containers-on-exit']);
    const id = scratch.id('kept');
    const cd = descriptorOf(await startCall(address, id, await bundle(id, { args: ['/bin/sleep', '1000'] })));
    daemon.child.kill('SIGTERM');
    assert.equal(await exitOf(daemon), 0);
    assert.equal(await crunStatus(id), 'running');
    daemon = await startDaemon(address, 1);
    await waitFor('adoption', async () => ((await list(address)).get(id) === cd ? true : undefined));
    assert.equal(await call(address, 'ctrl1', 'Stop', 'ib', String(cd), 'true'), 'b true');
    await waitFor('the stop', async () => ((await crunStatus(id)) === null ? true : undefined));
  });
});
