// conmon launches and the runtime's commands over leanSpawn's fallback (Node's spawn): every test of
// conmon-lifecycle.test.ts, run over it.
// needs: root crun conmon

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnPath } from '../../src/drivers/lean-spawn.ts';

process.env['DOBBY_SPAWN'] = 'fork';
await import('./conmon-lifecycle.test.ts');
// After the import: a test registered before it would start the run (and its cleanup) while the import is pending.
test('tools start through Node\'s spawn here', () => assert.equal(spawnPath().kind, 'fork'));
