// dnsmasq's resolver check: begun at postConstruction, awaited at preStart; one warning per change
// of what the host lacks, not one per container; a failed check warns of nothing; a failed start
// leaves no check behind.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pino from 'pino';
import { ResolverWarnings, type ResolverProtocol } from '../../src/plugins/networking/resolver-warnings.ts';

function recordingLogger(): { logger: pino.Logger; lines: Array<{ level: string; msg: string }> } {
  const lines: Array<{ level: string; msg: string }> = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => { const o = JSON.parse(s) as { level: number; msg: string }; lines.push({ level: pino.levels.labels[o.level] as string, msg: o.msg }); } });
  return { logger, lines };
}

describe('resolver warnings', () => {
  test('a warning when the host first lacks a resolver and when that changes; debug lines in between', async () => {
    let missing: ResolverProtocol[] = ['udp', 'tcp'];
    let checks = 0;
    const w = new ResolverWarnings(async () => { checks++; return missing; }, '100.64.11.1');
    const { logger, lines } = recordingLogger();
    w.begin('a');
    w.begin('a');
    await w.report('a', logger);
    await w.report('b', logger);
    assert.equal(checks, 2, 'begin twice for one container checks once; report without begin checks');
    assert.deepEqual(lines.map((l) => l.level), ['warn', 'debug']);
    assert.match(lines[0]?.msg ?? '', /nothing in the host's network namespace listens on 127\.0\.0\.1:53 \(udp, tcp\), so the container's DNS queries to 100\.64\.11\.1 get no answer/);
    assert.match(lines[1]?.msg ?? '', /\(warned at an earlier start\)$/);
    missing = [];
    await w.report('c', logger);
    missing = ['tcp'];
    await w.report('d', logger);
    missing = ['udp', 'tcp'];
    await w.report('e', logger);
    assert.deepEqual(lines.map((l) => l.level), ['warn', 'debug', 'warn', 'warn']);
    assert.match(lines[2]?.msg ?? '', /\(tcp\)/);
  });

  test('a check that fails finds nothing missing; a forgotten container\'s check is not reused', async () => {
    let fail = true;
    let checks = 0;
    const w = new ResolverWarnings(async () => { checks++; if (fail) throw new Error('no ss'); return ['udp']; }, '10.0.0.1');
    const { logger, lines } = recordingLogger();
    await w.report('a', logger);
    assert.equal(lines.length, 0, JSON.stringify(lines));
    w.begin('b');
    w.forget('b');
    fail = false;
    await w.report('b', logger);
    assert.equal(checks, 3);
    assert.deepEqual(lines.map((l) => l.level), ['warn']);
  });
});
