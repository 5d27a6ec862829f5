// Console sinks: the logging plugin's data, the plan for conmon and the follower, k8s-file decoding, and the follower on real files.

import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { DobbyError } from '../../src/errors.ts';
import { decodeK8sLines, parseK8sLog } from '../../src/drivers/monitor/console-log.ts';
import { ConsoleFollower, ConsoleSinks } from '../../src/drivers/monitor/console-follower.ts';
import { loggingPluginOf, monitorCapFor, planConsole, type HostLogFacts } from '../../src/drivers/monitor/log-sinks.ts';

const none: HostLogFacts = { journald: false, syslog: false };
const both: HostLogFacts = { journald: true, syslog: true };
const defaults = { id: 'c1', monitorLogPath: '/state/logs/c1.log' };

function withLogging(data: unknown, required = false) {
  return { rdkPlugins: { logging: { required, dependsOn: [], data } } };
}

const TS = '2026-12-01T18:42:14.366753638+00:00';

/** What conmon writes for `raw` on one stream, split into pieces at the given lengths. */
function k8s(raw: Buffer, stream = 'stdout'): Buffer {
  const out: Buffer[] = [];
  let start = 0;
  while (start < raw.length) {
    const nl = raw.indexOf(0x0a, start);
    if (nl < 0) {
      out.push(Buffer.from(`${TS} ${stream} P `), raw.subarray(start), Buffer.from('\n'));
      break;
    }
    out.push(Buffer.from(`${TS} ${stream} F `), raw.subarray(start, nl + 1));
    start = nl + 1;
  }
  return Buffer.concat(out);
}

describe('logging plugin data', () => {
  test('file, devnull, journald and syslog sinks; -1 and a missing limit are unlimited', () => {
    assert.deepEqual(loggingPluginOf(withLogging({ sink: 'file', fileOptions: { path: '/tmp/c.log', limit: 65536 } })), {
      required: false, sink: { kind: 'file', path: '/tmp/c.log', limit: 65536 },
    });
    assert.deepEqual(loggingPluginOf(withLogging({ sink: 'file', fileOptions: { path: '/tmp/c.log', limit: -1 } }))?.sink, { kind: 'file', path: '/tmp/c.log', limit: null });
    assert.deepEqual(loggingPluginOf(withLogging({ sink: 'devnull' }, true)), { required: true, sink: { kind: 'devnull' } });
    assert.deepEqual(loggingPluginOf(withLogging({ sink: 'journald', journaldOptions: { priority: 'LOG_WARNING' } }))?.sink, { kind: 'journald', priority: 'warning' });
    assert.deepEqual(loggingPluginOf({ rdkPlugins: { Logging: { data: { sink: 'syslog' } } } })?.sink, { kind: 'syslog', priority: 'info' });
    assert.equal(loggingPluginOf({}), null);
    assert.equal(loggingPluginOf({ rdkPlugins: { networking: {} } }), null);
  });

  test('bad data names the field', () => {
    const cases: [unknown, RegExp][] = [
      [{ sink: 'pipe' }, /data\.sink must be/],
      [{ sink: 'file' }, /data\.fileOptions must be/],
      [{ sink: 'file', fileOptions: { path: 'rel.log' } }, /fileOptions\.path must be an absolute/],
      [{ sink: 'file', fileOptions: { path: '/tmp/../etc/x' } }, /must not contain '\.\.'/],
      [{ sink: 'file', fileOptions: { path: '/tmp/x', limit: -2 } }, /fileOptions\.limit must be/],
      [{ sink: 'file', fileOptions: { path: '/tmp/x', limit: '10' } }, /fileOptions\.limit must be/],
      [{ sink: 'journald', journaldOptions: { priority: 'LOUD' } }, /priority must be a syslog priority/],
      ['text', /logging\.data must be an object/],
    ];
    for (const [data, message] of cases) {
      assert.throws(() => loggingPluginOf(withLogging(data)), (err: DobbyError) => err.code === 'BUNDLE_INVALID' && message.test(err.message), JSON.stringify(data));
    }
  });
});

describe('console plan', () => {
  test('no plugin: the monitor log as before, with the caller cap', () => {
    assert.deepEqual(planConsole(null, none, { ...defaults, logSizeMax: 1000 }), {
      monitor: { driver: 'k8s-file', path: defaults.monitorLogPath, sizeMax: 1000 }, follow: null, notes: [],
    });
  });

  test('file sink: monitor log capped so the limit always fits, follower to the file', () => {
    const plan = planConsole({ required: false, sink: { kind: 'file', path: '/tmp/c.log', limit: 100 } }, none, { ...defaults, logSizeMax: 1000 });
    assert.deepEqual(plan.monitor, { driver: 'k8s-file', path: defaults.monitorLogPath, totalMax: monitorCapFor(100) });
    assert.deepEqual(plan.follow, { kind: 'file', path: '/tmp/c.log', limit: 100 });
    const unlimited = planConsole({ required: false, sink: { kind: 'file', path: '/tmp/c.log', limit: null } }, none, defaults);
    assert.equal(unlimited.monitor.totalMax, undefined);
  });

  test('devnull: conmon keeps nothing', () => {
    assert.equal(planConsole({ required: true, sink: { kind: 'devnull' } }, none, defaults).monitor.driver, 'none');
  });

  test('journald and syslog: fed through systemd-cat / logger where the host has them', () => {
    const j = planConsole({ required: true, sink: { kind: 'journald', priority: 'info' } }, both, defaults);
    assert.deepEqual(j.follow, { kind: 'process', command: 'systemd-cat', args: ['-t', 'c1', '-p', 'info'] });
    const s = planConsole({ required: true, sink: { kind: 'syslog', priority: 'err' } }, both, defaults);
    assert.deepEqual(s.follow, { kind: 'process', command: 'logger', args: ['-t', 'c1', '-p', 'user.err'] });
  });

  test('journald missing: kept in the monitor log with a note, or a clear failure when required', () => {
    const plan = planConsole({ required: false, sink: { kind: 'journald', priority: 'info' } }, none, defaults);
    assert.equal(plan.follow, null);
    assert.equal(plan.monitor.path, defaults.monitorLogPath);
    assert.match(plan.notes.join(), /journald is not running on this host.*kept in \/state\/logs\/c1\.log instead/);
    assert.throws(() => planConsole({ required: true, sink: { kind: 'journald', priority: 'info' } }, none, defaults), (err: DobbyError) =>
      err.code === 'HOST_UNSUITABLE' && /required logging plugin of 'c1' asks for the journald sink/.test(err.message));
  });

  test('property: the monitor cap covers the limit for any output, however short its lines', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a.map((b) => (b % 3 === 0 ? 0x0a : b)))), (raw) => {
      // Worst case for conmon: one read per byte, so every byte is its own line or piece.
      let bytes = 0;
      for (const b of raw) bytes += k8s(Buffer.of(b)).length;
      assert.ok(bytes <= monitorCapFor(raw.length));
    }));
  });
});

describe('k8s-file decoding', () => {
  test('full lines, pieces, empty lines and both streams give back the raw bytes', () => {
    const text = Buffer.concat([k8s(Buffer.from('hello\n\npart')), k8s(Buffer.from('oops\n'), 'stderr'), k8s(Buffer.from('ial\n'))]);
    assert.equal(decodeK8sLines(text).toString(), 'hello\n\npartoops\nial\n');
    assert.equal(decodeK8sLines(text).toString(), parseK8sLog(text.toString()));
  });

  test('property: any bytes, split anywhere, decode to themselves (multi-byte characters included)', () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 8 }), (pieces) => {
      const raw = Buffer.concat(pieces.map((p) => Buffer.from(p)));
      const encoded = Buffer.concat(pieces.map((p) => k8s(Buffer.from(p))));
      assert.deepEqual(decodeK8sLines(encoded), raw);
    }));
  });
});

describe('console follower on real files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dobby-follow-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const waitFor = async (check: () => boolean): Promise<void> => {
    for (let i = 0; i < 200 && !check(); i++) await sleep(10);
  };

  test('copies raw text as it arrives, truncates the sink first, and stops at the limit', async () => {
    const source = join(dir, 'a.k8s');
    const sink = join(dir, 'a.log');
    writeFileSync(sink, 'old content that must go');
    writeFileSync(source, '');
    const follower = await ConsoleFollower.open({ kind: 'file', path: sink, limit: 10 });
    assert.equal(readFileSync(sink, 'utf8'), '', 'opened with O_TRUNC');
    follower.follow(source);
    appendFileSync(source, k8s(Buffer.from('abc\n')));
    await waitFor(() => readFileSync(sink, 'utf8') === 'abc\n');
    assert.equal(readFileSync(sink, 'utf8'), 'abc\n', 'followed while running');
    appendFileSync(source, k8s(Buffer.from('defghijklmnop\n')));
    await follower.close();
    assert.equal(readFileSync(sink, 'utf8'), 'abc\ndefghi');
  });

  test('a process sink gets the raw text on its stdin', async () => {
    const source = join(dir, 'p.k8s');
    const out = join(dir, 'p.out');
    writeFileSync(source, k8s(Buffer.from('to a process\n')));
    const follower = await ConsoleFollower.open({ kind: 'process', command: '/bin/sh', args: ['-c', `cat > ${out}`] });
    follower.follow(source);
    await follower.close();
    await waitFor(() => existsSync(out) && readFileSync(out, 'utf8') !== '');
    assert.equal(readFileSync(out, 'utf8'), 'to a process\n');
    await assert.rejects(ConsoleFollower.open({ kind: 'process', command: '/no/such/systemd-cat', args: [] }), /could not start \/no\/such\/systemd-cat/);
  });

  test('a restarted daemon resumes a file sink from the plan on disk; closing removes the plan', async () => {
    const plans = join(dir, 'plans');
    const source = join(dir, 'r.k8s');
    const sink = join(dir, 'r.log');
    writeFileSync(source, '');
    const first = new ConsoleSinks({ dir: plans });
    await first.open('c1', { kind: 'file', path: sink, limit: 100 }, source);
    appendFileSync(source, k8s(Buffer.from('before the restart\n')));
    first.follow('c1');
    await waitFor(() => readFileSync(sink, 'utf8') !== '');
    // The daemon dies here: its followers are gone, the plan is not.
    assert.ok(existsSync(join(plans, 'c1.console.json')));
    appendFileSync(source, k8s(Buffer.from('while it was down\n')));
    const second = new ConsoleSinks({ dir: plans });
    assert.equal(await second.resume('c1'), true);
    appendFileSync(source, k8s(Buffer.from('after it came back\n')));
    await waitFor(() => readFileSync(sink, 'utf8').includes('came back'));
    await second.close('c1');
    assert.equal(readFileSync(sink, 'utf8'), 'before the restart\nwhile it was down\nafter it came back\n');
    assert.equal(existsSync(join(plans, 'c1.console.json')), false);
    assert.equal(await second.resume('c1'), false, 'nothing to resume once closed');
  });

  test("an earlier container's output in the same monitor log stays out of the sink", async () => {
    const source = join(dir, 'o.k8s');
    const sink = join(dir, 'o.log');
    writeFileSync(source, k8s(Buffer.from('the earlier container\n')));
    const sinks = new ConsoleSinks({ dir: join(dir, 'plans3') });
    await sinks.open('c3', { kind: 'file', path: sink, limit: null }, source);
    appendFileSync(source, k8s(Buffer.from('this one\n')));
    sinks.follow('c3');
    await sinks.close('c3');
    assert.equal(readFileSync(sink, 'utf8'), 'this one\n');
  });

  test('a container that ended while no daemon ran: closing copies its output from the plan', async () => {
    const plans = join(dir, 'plans2');
    const source = join(dir, 'e.k8s');
    const sink = join(dir, 'e.log');
    writeFileSync(source, '');
    const first = new ConsoleSinks({ dir: plans });
    await first.open('c2', { kind: 'file', path: sink, limit: null }, source);
    appendFileSync(source, k8s(Buffer.from('all of it\n')));
    await new ConsoleSinks({ dir: plans }).close('c2');
    assert.equal(readFileSync(sink, 'utf8'), 'all of it\n');
  });

  test('a symlink or a missing directory as the sink is refused', async () => {
    symlinkSync('/etc/hostname', join(dir, 'link.log'));
    await assert.rejects(ConsoleFollower.open({ kind: 'file', path: join(dir, 'link.log'), limit: null }), /is a symlink/);
    await assert.rejects(ConsoleFollower.open({ kind: 'file', path: join(dir, 'no', 'x.log'), limit: null }), /directory does not exist/);
    assert.equal(existsSync(join(dir, 'no')), false);
  });
});
