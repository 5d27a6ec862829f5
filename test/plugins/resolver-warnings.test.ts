// dnsmasq's resolver check: run after the start and reported when done; starts that come while a
// check runs share it, starts soon after an answer take it; one warning per change of what the host lacks, not one per container; a
// check that fails warns of nothing.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pino from 'pino';
import { resolverIn } from '../../src/plugins/networking/dns-forwarding.ts';
import { ResolverWarnings, type ResolverProtocol } from '../../src/plugins/networking/resolver-warnings.ts';

function recordingLogger(): { logger: pino.Logger; lines: Array<{ level: string; msg: string }> } {
  const lines: Array<{ level: string; msg: string }> = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => { const o = JSON.parse(s) as { level: number; msg: string }; lines.push({ level: pino.levels.labels[o.level] as string, msg: o.msg }); } });
  return { logger, lines };
}

/** A check the test answers by hand. */
function manualCheck(): { check: () => Promise<readonly ResolverProtocol[]>; calls: () => number; answer: (missing: ResolverProtocol[] | Error) => void } {
  const waiting: Array<(missing: ResolverProtocol[] | Error) => void> = [];
  let calls = 0;
  return {
    check: () => {
      calls++;
      return new Promise((resolve, reject) => waiting.push((m) => (m instanceof Error ? reject(m) : resolve(m))));
    },
    calls: () => calls,
    answer: (missing) => waiting.shift()?.(missing),
  };
}

describe('resolver warnings', () => {
  test('starts during a check share it; a warning when the host first lacks a resolver and when that changes, debug lines in between', async () => {
    const m = manualCheck();
    let now = 0;
    const w = new ResolverWarnings(m.check, '100.64.11.1', { now: () => now });
    const { logger, lines } = recordingLogger();
    w.check(logger);
    w.check(logger);
    w.check(logger);
    assert.equal(m.calls(), 1, 'one check for three starts during it');
    m.answer(['udp', 'tcp']);
    await w.settled();
    assert.deepEqual(lines.map((l) => l.level), ['warn', 'debug', 'debug']);
    assert.match(lines[0]?.msg ?? '', /nothing in the host's network namespace listens on 127\.0\.0\.1:53 \(udp, tcp\), so the container's DNS queries to 100\.64\.11\.1 get no answer/);
    assert.match(lines[1]?.msg ?? '', /\(warned at an earlier start\)$/);
    for (const missing of [[], ['tcp'], ['tcp'], ['udp', 'tcp']] as ResolverProtocol[][]) {
      now += 2000;
      w.check(logger);
      m.answer(missing);
      await w.settled();
    }
    assert.equal(m.calls(), 5, 'a start 2 s after an answer checks again');
    assert.deepEqual(lines.map((l) => l.level), ['warn', 'debug', 'debug', 'warn', 'debug', 'warn']);
    assert.match(lines[3]?.msg ?? '', /\(tcp\)/);
  });

  test('starts within the answer\'s time take it without a check, and are reported as if they had checked', async () => {
    const m = manualCheck();
    let now = 1000;
    const w = new ResolverWarnings(m.check, '100.64.11.1', { freshMs: 500, now: () => now });
    const { logger, lines } = recordingLogger();
    w.check(logger);
    now += 100;
    m.answer(['udp']);
    await w.settled();
    now += 499;
    w.check(logger);
    w.check(logger);
    await w.settled();
    assert.equal(m.calls(), 1, 'the answer given 499 ms ago stands');
    assert.deepEqual(lines.map((l) => l.level), ['warn', 'debug', 'debug']);
    now += 1;
    w.check(logger);
    assert.equal(m.calls(), 2, 'one given 500 ms ago does not');
    m.answer([]);
    await w.settled();
    assert.equal(lines.length, 3);
  });

  test('a check that fails finds nothing missing; settled() waits for every report', async () => {
    const m = manualCheck();
    const w = new ResolverWarnings(m.check, '10.0.0.1');
    const { logger, lines } = recordingLogger();
    w.check(logger);
    let settled = false;
    const done = w.settled().then(() => { settled = true; });
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false, 'the check is still running');
    m.answer(new Error('no ss'));
    await done;
    assert.equal(lines.length, 0, JSON.stringify(lines));
    w.check(logger);
    m.answer(['udp']);
    await w.settled();
    assert.deepEqual(lines.map((l) => l.level), ['warn']);
  });

  test('one ss for both protocols: a resolver is a socket of that protocol on 127.0.0.1 or every IPv4 address', () => {
    const out = [
      'udp   UNCONN 0      0          127.0.0.1:53        0.0.0.0:*',
      'tcp   LISTEN 0      4096         0.0.0.0:53        0.0.0.0:*',
      'tcp   LISTEN 0      4096            [::]:53           [::]:*',
    ].join('\n');
    assert.deepEqual([resolverIn(out, 'udp'), resolverIn(out, 'tcp')], [true, true]);
    assert.equal(resolverIn('udp   UNCONN 0 0 10.0.0.1:53 0.0.0.0:*', 'udp'), false, 'another address');
    assert.equal(resolverIn('tcp   LISTEN 0 1 [::]:53 [::]:*', 'tcp'), false, 'IPv6 only');
    assert.equal(resolverIn('tcp   LISTEN 0 1 127.0.0.1:53 0.0.0.0:*', 'udp'), false, 'the other protocol');
    assert.equal(resolverIn('', 'udp'), false);
  });
});
