// The host check's native addon problems: none with the addons built here; a fatal one naming the addon otherwise.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cloexecProblem, spawnProblem } from '../../src/host/usocket-check.ts';

test('the spawn and cloexec addons built in this checkout load: no problem', () => {
  assert.equal(spawnProblem(), undefined);
  assert.equal(cloexecProblem(), undefined);
});

test('an addon that does not load is a fatal problem naming it, what fails without it, and the fix', () => {
  const fail = (): void => {
    throw new Error('spawn.node: wrong ELF class');
  };
  const spawn = spawnProblem(fail, 'run npm run build-native');
  assert.deepEqual(spawn && { code: spawn.code, fatal: spawn.fatal, fix: spawn.fix }, { code: 'spawn-not-built', fatal: true, fix: 'run npm run build-native' });
  assert.match(spawn?.what ?? '', /spawn native addon does not load .*could start neither crun nor conmon \(spawn\.node: wrong ELF class\)/);
  const cloexec = cloexecProblem(fail, 'run npm run build-native');
  assert.equal(cloexec?.code, 'cloexec-not-built');
  assert.match(cloexec?.what ?? '', /leak into every container monitor \(spawn\.node: wrong ELF class\)/);
});
