// Exit codes and signals become Dobby's raw wait status the way DobbyInit's 128+N convention demands.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exitStatusFromCode } from '../../src/exit-status.ts';

test('normal exits carry the code shifted into the status word', () => {
  assert.deepEqual(exitStatusFromCode(0, false), { exitCode: 0, signal: null, oomKilled: false, status: 0 });
  assert.deepEqual(exitStatusFromCode(3, false), { exitCode: 3, signal: null, oomKilled: false, status: 768 });
  assert.equal(exitStatusFromCode(128, false).status, 128 << 8);
});

test('128+N is a death by signal N, with the core bit for core-dumping signals', () => {
  assert.deepEqual(exitStatusFromCode(143, false), { exitCode: null, signal: 15, oomKilled: false, status: 15 });
  assert.deepEqual(exitStatusFromCode(137, true), { exitCode: null, signal: 9, oomKilled: true, status: 9 });
  assert.equal(exitStatusFromCode(128 + 11, false).status, 11 | 0x80);
  assert.equal(exitStatusFromCode(128 + 6, false).status, 6 | 0x80);
});

test('codes past the signal range are plain exit codes', () => {
  assert.equal(exitStatusFromCode(255, false).exitCode, 255);
  assert.equal(exitStatusFromCode(255, false).status, 255 << 8);
});
