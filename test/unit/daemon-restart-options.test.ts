// dobbyd's restartOnCrash backoff options: defaults, seconds to ms, and clear errors for bad values.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDaemonArgs } from '../../src/daemon-options.ts';

const parse = (argv: string[]) => {
  const o = parseDaemonArgs(argv, {}, 2);
  if (o === 'help') throw new Error('help');
  return o;
};

test('restart backoff: 0.5 s doubling to 30 s by default; seconds on the command line', () => {
  assert.deepEqual([parse([]).restartDelayMs, parse([]).restartMaxDelayMs], [500, 30_000]);
  const o = parse(['--restart-delay', '0.05', '--restart-max-delay', '0.2']);
  assert.deepEqual([o.restartDelayMs, o.restartMaxDelayMs], [50, 200]);
  // A first delay above the default cap raises the cap with it.
  assert.deepEqual([parse(['--restart-delay', '60']).restartDelayMs, parse(['--restart-delay', '60']).restartMaxDelayMs], [60_000, 60_000]);
});

test('bad restart backoff values name the option and the allowed range', () => {
  assert.throws(() => parse(['--restart-delay', 'soon']), /--restart-delay 'soon' must be a number of seconds between 0 and 3600/);
  assert.throws(() => parse(['--restart-delay', '-1']), /--restart-delay/);
  assert.throws(() => parse(['--restart-delay', '2', '--restart-max-delay', '1']), /--restart-max-delay '1' must be .* between --restart-delay \(2\)/);
});
