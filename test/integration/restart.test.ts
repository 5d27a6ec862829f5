// restartOnCrash over D-Bus with the real manager, crun and conmon: a crashing spec container is
// restarted once per crash with the same descriptor, bundle and fds, Dobby's signals in order
// (Stopped* of the crash before the new Started); a clean exit is not restarted; a stop during
// the backoff cancels the restart and leaves nothing behind.

import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../../src/drivers/process.ts';
import { DbusMonitor, dobbyTrace } from '../api/dbus-monitor.ts';
import { call, dobby, serve, testBus, type TestBus } from '../api/harness.ts';
import { realManager, specBundlesDir } from '../helpers/manager.ts';
import { makeScratch } from '../helpers/scratch.ts';

const scratch = makeScratch();
// Short backoff for the test; a long one for the stop-during-backoff case is set per container by timing.
const real = realManager(scratch, 'crun', {
  stopGraceMs: 2_000,
  restartPolicy: { maxAttempts: 10, resetAfterMs: 300_000, initialDelayMs: 300, maxDelayMs: 1_200 },
});
const bundlesDir = specBundlesDir(scratch, 'crun');
// Shared with the containers' mapped users: under /tmp (the scratch dir is private to root).
const shared = mkdtempSync('/tmp/dobby-restart-');
chmodSync(shared, 0o777);
after(() => rmSync(shared, { recursive: true, force: true }));

/** The test bus, once `before` has started it. */
let address = '';

const leftBundles = (id: string): string[] => (existsSync(bundlesDir) ? readdirSync(bundlesDir).filter((n) => n.startsWith(`${id}.`)) : []);

function spec(script: string, restartOnCrash: boolean, stateDir: string): string {
  return JSON.stringify({
    version: '1.0',
    args: ['sh', '-c', script],
    user: { uid: 1000, gid: 1000 },
    memLimit: 41943040,
    restartOnCrash,
    mounts: [{ source: stateDir, destination: '/state', type: 'bind', options: ['bind', 'rw'] }],
  });
}

const PY_START_SPEC_WITH_FD = `
import sys, dbus
address, cid, spec, path = sys.argv[1:5]
bus = dbus.bus.BusConnection(address)
obj = bus.get_object('org.rdk.dobby', '/org/rdk/dobby', introspect=False)
with open(path, 'ab') as f:
    cd = obj.StartFromSpec(cid, spec, dbus.Array([dbus.types.UnixFd(f.fileno())], signature='h'),
                           dbus_interface='org.rdk.dobby.ctrl1', timeout=60)
print(int(cd))
`;

/**
 * StartFromSpec (ssah) with one fd, the file at \`path\` opened for appending, from python3-dbus
 * (busctl and dbus-send cannot pass fds); the client closes its fd once it has the reply.
 */
async function startSpecWithFd(id: string, text: string, path: string): Promise<number> {
  const r = await run('/usr/bin/python3', ['-c', PY_START_SPEC_WITH_FD, address, id, text, path], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`python3-dbus StartFromSpec failed: ${r.stderr}`);
  return Number(r.stdout.trim());
}

async function until(condition: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(25);
  }
}

describe('restartOnCrash over D-Bus on real crun', { concurrency: 3 }, () => {
  let bus: TestBus | undefined;
  let monitor: DbusMonitor | undefined;
  before(async () => {
    bus = await testBus();
    address = bus.address;
    await serve({ manager: real.manager, address });
    monitor = await DbusMonitor.start(address);
  });
  after(async () => {
    monitor?.stop();
    await bus?.stop();
  });

  test('two crashes (exit 3): two restarts, same descriptor, bundle kept, the fd still reaches the container, signals in order', async () => {
    const id = scratch.id('crash');
    const dir = mkdtempSync(join(shared, 'c-'));
    chmodSync(dir, 0o777);
    const log = join(dir, 'fd-log');
    writeFileSync(log, '', { mode: 0o666 });
    chmodSync(log, 0o666);
    // Runs 1 and 2 crash with exit 3; run 3 stays up. Each run writes one line through the passed fd.
    const script = 'echo run >> /state/runs; n=$(wc -l < /state/runs); echo "fd-run-$n" >&3; if [ "$n" -le 2 ]; then exit 3; fi; exec sleep 1000';
    const cd = await startSpecWithFd(id, spec(script, true, dir), log);
    assert.ok(cd > 0, `StartFromSpec gave ${cd}`);
    const bundle = real.manager.get(cd)?.bundle ?? '';
    assert.ok(bundle.startsWith(bundlesDir), bundle);

    const seen = await monitor!.until((s) => dobbyTrace(s, id).filter((t) => t === 'Started').length === 3, 45_000);
    assert.deepEqual(dobbyTrace(seen, id), [
      'Started', 'reply:StartFromSpec',
      'StoppedWithStatus:768', 'Stopped', 'Started',
      'StoppedWithStatus:768', 'Stopped', 'Started',
    ]);
    const ctrl = seen.filter((m) => m.kind === 'signal' && m.interface === 'org.rdk.dobby.ctrl1' && m.args[1] === id);
    assert.ok(ctrl.every((m) => m.args[0] === cd), 'every signal carries the first descriptor');
    await until(() => real.manager.get(cd)?.phase === 'running', 'running after the second restart');
    assert.equal(await call(address, 'ctrl1', 'GetState', 'i', String(cd)), 'i 2');
    assert.equal(real.manager.get(cd)?.bundle, bundle, 'the same bundle');
    const stats = await dobby(address, ['stats', id, '--json']);
    assert.equal((JSON.parse(stats.stdout) as { restarts?: number }).restarts, 2, stats.stdout);
    assert.ok(existsSync(join(bundle, 'config.json')), 'the bundle survived both crashes');
    assert.equal(readFileSync(join(dir, 'runs'), 'utf8'), 'run\nrun\nrun\n');
    await until(() => readFileSync(log, 'utf8').split('\n').filter(Boolean).length === 3, 'three lines through fd 3');
    assert.deepEqual(readFileSync(log, 'utf8').split('\n').filter(Boolean), ['fd-run-1', 'fd-run-2', 'fd-run-3'],
      'the caller closed its fd after the first reply; every run still got it');
    const events = real.seen(id).filter((t) => t !== ('hook' as string));
    assert.deepEqual(events, ['created', 'started', 'exited', 'deleted', 'created', 'started', 'exited', 'deleted', 'created', 'started']);

    assert.equal(await call(address, 'ctrl1', 'Stop', 'ib', String(cd), 'false'), 'b true');
    await monitor!.until((s) => dobbyTrace(s, id).filter((t) => t === 'Stopped').length === 3);
    await until(() => real.manager.get(cd) === undefined && leftBundles(id).length === 0, 'container and bundle gone after the stop');
    await sleep(1_500);
    assert.equal(dobbyTrace(monitor!.messages, id).filter((t) => t === 'Started').length, 3, 'a stopped container is not restarted');
    assert.equal(await call(address, 'ctrl1', 'GetState', 'i', String(cd)), 'i 0');
  });

  test('a clean exit (0) is not restarted and its bundle goes', async () => {
    const id = scratch.id('clean');
    const dir = mkdtempSync(join(shared, 'e-'));
    chmodSync(dir, 0o777);
    const reply = await call(address, 'ctrl1', 'StartFromSpec', 'ssah', id, spec('echo run >> /state/runs; exit 0', true, dir), '0');
    const cd = Number(/^i (\d+)$/.exec(reply)?.[1]);
    assert.ok(cd > 0, reply);
    await monitor!.until((s) => dobbyTrace(s, id).includes('Stopped'));
    await until(() => real.manager.get(cd) === undefined && leftBundles(id).length === 0, 'gone with its bundle');
    await sleep(1_500);
    assert.deepEqual(dobbyTrace(monitor!.messages, id), ['Started', 'reply:StartFromSpec', 'StoppedWithStatus:0', 'Stopped']);
    assert.equal(readFileSync(join(dir, 'runs'), 'utf8'), 'run\n');
  });

  test('a stop during the backoff cancels the restart: no new Started, no bundle, no record, no runtime state', async () => {
    const id = scratch.id('cancel');
    const dir = mkdtempSync(join(shared, 's-'));
    chmodSync(dir, 0o777);
    // Crashes at once, every run: the stop lands in one of the backoffs (0.3 s, then 0.6 s, ...).
    const reply = await call(address, 'ctrl1', 'StartFromSpec', 'ssah', id, spec('echo run >> /state/runs; exit 7', true, dir), '0');
    const cd = Number(/^i (\d+)$/.exec(reply)?.[1]);
    assert.ok(cd > 0, reply);
    // Wait for a crash to be torn down: the container is then waiting out its backoff.
    await until(() => real.seen(id).includes('deleted') && real.manager.get(cd)?.pid === null && real.manager.get(cd)?.phase === 'unknown', 'waiting to be restarted', 30_000);
    const bundle = real.manager.get(cd)?.bundle ?? '';
    assert.ok(existsSync(bundle), 'the bundle is kept for the restart');
    const startedBefore = real.seen(id).filter((t) => t === 'started').length;
    assert.equal(await call(address, 'ctrl1', 'Stop', 'ib', String(cd), 'false'), 'b true');
    assert.equal(real.manager.get(cd), undefined, 'gone as soon as the stop returns');
    assert.deepEqual(leftBundles(id), []);
    await sleep(2_000);
    assert.equal(real.seen(id).filter((t) => t === 'started').length, startedBefore, 'no restart after the stop');
    assert.equal(await call(address, 'ctrl1', 'GetState', 'i', String(cd)), 'i 0');
    assert.equal(await real.runtime.state(id), null, 'nothing left in the runtime');
    const records = join(scratch.dir, 'crun', 'daemon', 'containers');
    assert.deepEqual(existsSync(records) ? readdirSync(records).filter((n) => n.includes(id)) : [], [], 'no record left');
  });

  test('dobby stop during the backoff returns (the crash already sent Stopped) and nothing is restarted', async () => {
    const id = scratch.id('clistop');
    const dir = mkdtempSync(join(shared, 'd-'));
    chmodSync(dir, 0o777);
    const reply = await call(address, 'ctrl1', 'StartFromSpec', 'ssah', id, spec('exit 7', true, dir), '0');
    const cd = Number(/^i (\d+)$/.exec(reply)?.[1]);
    assert.ok(cd > 0, reply);
    await until(() => real.seen(id).includes('deleted') && real.manager.get(cd)?.phase === 'unknown', 'waiting to be restarted', 30_000);
    const r = await dobby(address, ['stop', id], 15_000);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stdout, `stopped container '${id}'\n`);
    assert.equal(real.manager.get(cd), undefined);
    assert.deepEqual(leftBundles(id), []);
  });
});
