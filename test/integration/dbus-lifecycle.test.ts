// The D-Bus API over the real manager, crun and conmon, seen by outside clients (busctl, python3-dbus, dbus-monitor).

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatJsonLikeJsoncpp, type JsonValue } from '../../src/api/json-format.ts';
import { run } from '../../src/drivers/process.ts';
import { makeBundle, type BundleOptions } from '../helpers/bundle.ts';
import { realManager } from '../helpers/manager.ts';
import { makeScratch } from '../helpers/scratch.ts';
import { DbusMonitor, dobbyTrace } from '../api/dbus-monitor.ts';
import { busctl, call, serve, startWithFd, testBus, type TestBus } from '../api/harness.ts';

const scratch = makeScratch();
const real = realManager(scratch, 'crun', { stopGraceMs: 3_000 });
const { manager } = real;

async function bundle(id: string, options: BundleOptions): Promise<string> {
  return makeBundle(join(scratch.bundlesDir, id), { init: true, ...options });
}

/** JSON.parse keeping integers beyond 2^53 exact (GetInfo's memory limits). */
function parseExact(text: string): JsonValue {
  return JSON.parse(text, (_key, value: unknown, context?: { source?: string }) =>
    typeof value === 'number' && !Number.isSafeInteger(value) && context?.source !== undefined && /^-?\d+$/.test(context.source)
      ? BigInt(context.source)
      : value) as JsonValue;
}

async function startBundle(address: string, id: string, path: string): Promise<number> {
  const reply = await call(address, 'ctrl1', 'StartFromBundle', 'ssahssasuu', id, path, '0', '', '', '0', '0', '0');
  const cd = Number(/^i (-?\d+)$/.exec(reply)?.[1]);
  assert.ok(cd > 0, `StartFromBundle of ${id} replied ${reply}`);
  return cd;
}

describe('D-Bus API over real crun', { concurrency: 4 }, () => {
  let bus: TestBus | undefined;
  let address = '';
  let monitor: DbusMonitor | undefined;
  after(async () => {
    monitor?.stop();
    await bus?.stop();
  });
  before(async () => {
    bus = await testBus();
    address = bus.address;
    await serve({ manager, address });
    monitor = await DbusMonitor.start(address);
  });

  const exitCases: [string, BundleOptions, ((cd: number) => Promise<void>) | null, number][] = [
    ['exit 0', { args: ['/bin/true'] }, null, 0],
    ['exit 3', { args: ['/bin/sh', '-c', 'exit 3'] }, null, 768],
    ['graceful Stop (SIGTERM)', { args: ['/bin/sleep', '1000'] }, async (cd) => assert.equal(await call(address, 'ctrl1', 'Stop', 'ib', String(cd), 'false'), 'b true'), 15],
    ['forced Stop (SIGKILL)', { args: ['/bin/sleep', '1000'] }, async (cd) => assert.equal(await call(address, 'ctrl1', 'Stop', 'ib', String(cd), 'true'), 'b true'), 9],
  ];
  for (const [label, options, act, status] of exitCases) {
    test(`${label}: Started before the start reply, then StoppedWithStatus(${status}) immediately before Stopped`, async () => {
      const id = scratch.id('sig');
      const cd = await startBundle(address, id, await bundle(id, options));
      if (act !== null) {
        assert.equal(await call(address, 'ctrl1', 'GetState', 'i', String(cd)), 'i 2');
        await act(cd);
      }
      const seen = await monitor!.until((s) => dobbyTrace(s, id).includes('Stopped'));
      assert.deepEqual(dobbyTrace(seen, id), ['Started', 'reply:StartFromBundle', `StoppedWithStatus:${status}`, 'Stopped']);
      const ctrl = seen.filter((m) => m.kind === 'signal' && m.args[1] === id && m.interface === 'org.rdk.dobby.ctrl1');
      assert.ok(ctrl.every((m) => m.args[0] === cd), 'signals carry the descriptor the start returned');
      const withStatus = seen.findIndex((m) => m.member === 'StoppedWithStatus' && m.args[1] === id);
      const next = seen.slice(withStatus + 1).find((m) => m.kind === 'signal' && m.sender === seen[withStatus]!.sender);
      assert.equal(next?.member, 'Stopped', 'Stopped is the very next signal after StoppedWithStatus');
      assert.equal(await call(address, 'ctrl1', 'GetState', 'i', String(cd)), 'i 0');
    });
  }

  test('a start that fails replies -1 and sends no Started or stop signals', async () => {
    const id = scratch.id('bad');
    const path = await bundle(id, { args: ['/no/such/binary'], init: false });
    assert.equal(await call(address, 'ctrl1', 'StartFromBundle', 'ssah', id, path, '0'), 'i -1');
    await sleep(300);
    assert.deepEqual(dobbyTrace(monitor!.messages, id), ['reply:StartFromBundle']);
  });

  test('an fd passed through StartFromBundle (python3-dbus) is readable inside the container', async () => {
    const id = scratch.id('fd');
    const payload = join(scratch.dir, `${id}.txt`);
    writeFileSync(payload, `secret-${id}`);
    const path = await bundle(id, { args: ['/bin/sh', '-c', 'cat <&3 > /tmp/got; exec sleep 1000'] });
    const cd = await startWithFd(address, id, path, payload);
    assert.ok(cd > 0);
    const pid = manager.get(cd)?.pid;
    assert.ok(typeof pid === 'number');
    let got = '';
    for (let i = 0; i < 200 && got === ''; i++) {
      got = (() => {
        try {
          return readFileSync(`/proc/${pid}/root/tmp/got`, 'utf8');
        } catch {
          return '';
        }
      })();
      if (got === '') await sleep(20);
    }
    assert.equal(got, `secret-${id}`);
    assert.equal(await call(address, 'ctrl1', 'Stop', 'ib', String(cd), 'true'), 'b true');
  });

  test("GetInfo of a running container parses as JSON and is formatted as jsoncpp formats it", async () => {
    const id = scratch.id('info');
    const cd = await startBundle(address, id, await bundle(id, { args: ['/bin/sleep', '1000'], memoryLimit: 64 * 1024 * 1024 }));
    assert.equal(await call(address, 'ctrl1', 'Annotate', 'iss', String(cd), 'Key1', 'Value1'), 'b true');
    const r = await run('busctl', [`--address=${address}`, '--json=short', '--', 'call', 'org.rdk.dobby', '/org/rdk/dobby', 'org.rdk.dobby.ctrl1', 'GetInfo', 'i', String(cd)]);
    assert.equal(r.code, 0, r.stderr);
    const text = (JSON.parse(r.stdout) as { data: [string] }).data[0];
    assert.ok(text.startsWith('{\n "annotations" : \n {\n  "Key1" : "Value1"\n },\n'), text.slice(0, 80));
    assert.ok(!text.endsWith('\n'));
    const doc = parseExact(text) as Record<string, JsonValue>;
    assert.equal(formatJsonLikeJsoncpp(doc), text, 're-formatting the parsed document gives the same bytes');
    assert.equal(doc['id'], id);
    assert.equal(doc['state'], 'running');
    assert.match(text, /"state" : "running"/);
    const pid = manager.get(cd)!.pid!;
    assert.ok((doc['pids'] as number[]).includes(pid), `pids ${JSON.stringify(doc['pids'])} include the init ${pid}`);
    const processes = doc['processes'] as { pid: number; nsPid: number; cmdline: string }[];
    assert.equal(processes.find((p) => p.pid === pid)?.nsPid, 1);
    const memory = (doc['memory'] as { user: Record<string, JsonValue> }).user;
    assert.equal(memory['limit'], 64 * 1024 * 1024);
    assert.equal(typeof ((doc['cpu'] as { usage: { total: unknown } }).usage.total), 'number');
    assert.equal(await call(address, 'ctrl1', 'Stop', 'ib', String(cd), 'true'), 'b true');
  });

  test('Mount and Unmount a host directory into a running container; the destination must not exist; no way out of the container', async () => {
    const id = scratch.id('mnt');
    const cd = await startBundle(address, id, await bundle(id, { args: ['/bin/sleep', '1000'] }));
    const pid = manager.get(cd)!.pid!;
    const host = join(scratch.dir, `${id}-host`);
    mkdirSync(host);
    writeFileSync(join(host, 'hello.txt'), 'from the host');
    assert.equal(await call(address, 'ctrl1', 'Mount', 'issass', String(cd), host, '/tmp/m', '2', 'bind', 'ro', ''), 'b true');
    assert.equal(readFileSync(`/proc/${pid}/root/tmp/m/hello.txt`, 'utf8'), 'from the host');
    assert.throws(() => writeFileSync(`/proc/${pid}/root/tmp/m/new.txt`, 'x'), /EROFS/);
    assert.equal(await call(address, 'ctrl1', 'Mount', 'issass', String(cd), host, '/tmp/m', '1', 'bind', ''), 'b false', 'destination exists');
    assert.equal(await call(address, 'ctrl1', 'Mount', 'issass', String(cd), host, '/tmp/n', '1', 'ro', ''), 'b false', 'no bind flag');
    // A symlink inside the container pointing at a host path must resolve inside the container.
    const outside = join(scratch.dir, `${id}-outside`);
    mkdirSync(outside);
    symlinkSync(outside, `/proc/${pid}/root/tmp/link`);
    assert.equal(await call(address, 'ctrl1', 'Mount', 'issass', String(cd), host, '/tmp/link/escaped', '1', 'bind', ''), 'b false');
    assert.equal(existsSync(join(outside, 'escaped')), false, 'nothing was created on the host');
    assert.equal(await call(address, 'ctrl1', 'Unmount', 'is', String(cd), '/tmp/m'), 'b true');
    assert.equal(existsSync(`/proc/${pid}/root/tmp/m`), false);
    assert.equal(existsSync(join(host, 'hello.txt')), true, 'the host side is untouched');
    assert.equal(await call(address, 'ctrl1', 'Unmount', 'is', String(cd), '/tmp/m'), 'b false');
    assert.equal(await call(address, 'ctrl1', 'Stop', 'ib', String(cd), 'true'), 'b true');
  });

  test('ten containers started concurrently through D-Bus all reach Running, and their starts overlap', async () => {
    const ids = Array.from({ length: 10 }, () => scratch.id('ten'));
    const paths = await Promise.all(ids.map((id) => bundle(id, { args: ['/bin/sleep', '1000'] })));
    // The real monitor's creates, timed: without plugins a container is started as it is created,
    // so the create (conmon and the runtime's run --detach) is the start's runtime step.
    const spans: Array<{ from: number; to: number }> = [];
    const create = real.monitor.create.bind(real.monitor);
    real.monitor.create = async (options) => {
      const from = performance.now();
      try {
        return await create(options);
      } finally {
        if (ids.includes(options.id)) spans.push({ from, to: performance.now() });
      }
    };
    let calls: Array<{ id: string; begin: number; end: number; cd: number }>;
    try {
      calls = await Promise.all(ids.map(async (id, i) => {
        const begin = performance.now();
        const reply = await call(address, 'ctrl1', 'StartFromBundle', 'ssah', id, paths[i]!, '0');
        return { id, begin, end: performance.now(), cd: Number(/^i (-?\d+)$/.exec(reply)?.[1]) };
      }));
    } finally {
      real.monitor.create = create;
    }
    for (const c of calls) {
      assert.ok(c.cd > 0, `${c.id} started`);
      assert.equal(await call(address, 'ctrl1', 'GetState', 'i', String(c.cd)), 'i 2', `${c.id} is running`);
    }
    // Every call was in flight at one moment: the last to begin began before the first to end ended.
    assert.ok(Math.max(...calls.map((c) => c.begin)) < Math.min(...calls.map((c) => c.end)), 'the ten calls overlap');
    // And inside the daemon: containers were being started at the same time (no global work queue).
    assert.equal(spans.length, ids.length, 'one create each');
    const peak = Math.max(...spans.map((s) => spans.filter((o) => o.from <= s.from && s.from < o.to).length));
    assert.ok(peak >= 2, `at most ${peak} container start(s) were in progress at once`);
    await Promise.all(calls.map((c) => call(address, 'ctrl1', 'Stop', 'ib', String(c.cd), 'true')));
  });

  test('busctl introspect against the live daemon lists the methods with their signatures', async () => {
    const r = await busctl(address, ['introspect', 'org.rdk.dobby', '/org/rdk/dobby', 'org.rdk.dobby.ctrl1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\.StartFromBundle\s+method\s+ssahssasuu\s+i\s/m);
    assert.match(r.stdout, /^\.StoppedWithStatus\s+signal\s+isi\s/m);
  });
});
