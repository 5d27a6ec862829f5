// run() over leanSpawn's fallback (Node's spawn): every test of process.test.ts, run over it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnPath } from '../../src/drivers/lean-spawn.ts';

process.env['DOBBY_SPAWN'] = 'fork';
test('tools start through Node\'s spawn here', () => assert.equal(spawnPath().kind, 'fork'));
await import('./process.test.ts');
