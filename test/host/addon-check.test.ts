// The host check's native addon problems: none with the addons built here; a fatal one naming the addon
// otherwise, but only a warning for tools starting through a fork while cloexec works.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SpawnPath } from '../../src/drivers/lean-spawn.ts';
import { cloexecProblem, spawnProblem } from '../../src/host/usocket-check.ts';

test('the spawn and cloexec addons built in this checkout load, and this kernel has pidfd: no problem', () => {
  assert.equal(spawnProblem(), undefined);
  assert.equal(cloexecProblem(), undefined);
});

test('the cloexec addon not working is a fatal problem naming it, what fails without it, and the fix', () => {
  const fail = (): void => {
    throw new Error('cloexec.node: wrong ELF class');
  };
  const cloexec = cloexecProblem(fail, 'run npm run build-native');
  assert.deepEqual(cloexec && { code: cloexec.code, fatal: cloexec.fatal, fix: cloexec.fix }, { code: 'cloexec-not-built', fatal: true, fix: 'run npm run build-native' });
  assert.match(cloexec?.what ?? '', /leak into every container monitor \(cloexec\.node: wrong ELF class\)/);
});

test('tools starting through a fork (spawn addon not loading, or no pidfd) is a warning naming the cost; fatal when cloexec does not work either', () => {
  const fork = (): SpawnPath => ({ kind: 'fork', cause: 'addon', reason: 'spawn.node: undefined symbol: posix_spawn_file_actions_addclosefrom_np' });
  const warning = spawnProblem(fork, 'run npm run build-native');
  assert.deepEqual(warning && { code: warning.code, fatal: warning.fatal }, { code: 'spawn-fallback', fatal: false });
  assert.match(warning?.what ?? '', /\(spawn\.node: undefined symbol: posix_spawn_file_actions_addclosefrom_np\): starting tools forks the whole daemon: slower starts$/);
  assert.equal(warning?.fix, 'run npm run build-native');
  assert.equal(spawnProblem(() => ({ kind: 'fork', cause: 'kernel', reason: 'Linux 4.9' }), 'x')?.fix, 'a Linux 5.4 or later kernel');
  const fatal = spawnProblem(fork, 'run npm run build-native', false);
  assert.deepEqual(fatal && { code: fatal.code, fatal: fatal.fatal, fix: fatal.fix }, { code: 'spawn-fallback', fatal: true, fix: 'run npm run build-native' });
  assert.match(fatal?.what ?? '', /without the cloexec addon the daemon's fds would leak into every tool/);
  assert.equal(spawnProblem(() => ({ kind: 'posix_spawn' }), 'x', false), undefined);
});
