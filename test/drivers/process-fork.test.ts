// run() over leanSpawn's fallback (Node's spawn): every test of process.test.ts, run over it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnPath } from '../../src/drivers/lean-spawn.ts';

process.env['DOBBY_SPAWN'] = 'fork';
await import('./process.test.ts');
// After the import: a test registered before it would start the run (and its cleanup) while the import is pending.
test('tools start through Node\'s spawn here', () => assert.equal(spawnPath().kind, 'fork'));
