// The daemon's log timestamps: pino's isoTime text, made without Date.prototype.toISOString.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import pino from 'pino';
import { isoTime } from '../../src/log.ts';

test('isoTime writes what pino.stdTimeFunctions.isoTime writes, for any instant from 1970 to 9999', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) }), (ms) => {
      assert.equal(isoTime(ms), `,"time":"${new Date(ms).toISOString()}"`);
    }),
    { numRuns: 20_000 },
  );
  for (const ms of [0, 1, 999, 1000, Date.UTC(2000, 1, 29), Date.UTC(2026, 11, 31, 23, 59, 59, 999)]) {
    assert.equal(isoTime(ms), `,"time":"${new Date(ms).toISOString()}"`);
  }
});

test('isoTime without an argument is now, and a pino logger using it writes a time JSON.parse and Date read back', async () => {
  const before = Date.now();
  const out = new PassThrough();
  const lines: string[] = [];
  out.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter((l) => l !== '')));
  const logger = pino({ timestamp: isoTime }, out);
  logger.info('hello');
  await new Promise((resolve) => setImmediate(resolve));
  const after = Date.now();
  assert.equal(lines.length, 1);
  const time = Date.parse((JSON.parse(lines[0] as string) as { time: string }).time);
  assert.ok(time >= before && time <= after, `${time} within [${before}, ${after}]`);
  const now = Date.parse(isoTime().slice(',"time":"'.length, -1));
  assert.ok(now >= before);
});
