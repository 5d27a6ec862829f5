// run(): the time limit kills a tool that runs past it, and a tool that cannot be started leaves no timer
// behind (spawn's own `timeout` option kept the process alive for the whole limit after an ENOENT);
// input and output of any size both ways at once, the cwd, signals at their defaults, many at once.
// process-fork.test.ts runs the same tests over leanSpawn's fallback (Node's spawn).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { test } from 'node:test';
import { spawnPath } from '../../src/drivers/lean-spawn.ts';
import { run } from '../../src/drivers/process.ts';

test('a tool that runs past its time limit is killed with SIGKILL', async () => {
  const result = await run('sleep', ['30'], { timeoutMs: 100 });
  assert.equal(result.signal, 'SIGKILL');
  assert.equal(result.code, null);
});

test('a tool that is not there rejects with ENOENT and keeps nothing alive for its time limit', () => {
  // In a process of its own: it must exit as soon as the rejection is handled, not after the 60 s limit.
  const script = `import { run } from ${JSON.stringify(new URL('../../src/drivers/process.ts', import.meta.url).href)};
run('/nonexistent-dobby-tool', [], { timeoutMs: 60000 }).catch((e) => console.log(e.code));`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(child.error, undefined, `the process did not exit by itself: ${String(child.error)}`);
  assert.equal(child.stdout.trim(), 'ENOENT');
  assert.equal(child.status, 0);
});

test('a time limit of 0 is no limit (a foreground exec runs as long as it takes)', async () => {
  const result = await run('sh', ['-c', 'sleep 0.2; echo done'], { timeoutMs: 0 });
  assert.deepEqual([result.code, result.signal, result.stdout], [0, null, 'done\n']);
});

test('the exit code and both outputs come back, and no fd of ours reaches the tool', async () => {
  // Opened without O_CLOEXEC on purpose (as usocket's are): the tool must not get it anyway.
  const stray = openSync('/dev/null', 'r');
  try {
    const result = await run('sh', ['-c', 'echo to-stderr >&2; ls /proc/self/fd; exit 4']);
    assert.deepEqual([result.code, result.signal, result.stderr], [4, null, 'to-stderr\n']);
    const fds = result.stdout.split(/\s+/).filter((n) => n !== '').map(Number);
    // 0-2, and the one ls opens to list the directory.
    assert.ok(fds.every((n) => n <= 3), `the tool had ${fds.join(' ')} (${spawnPath().kind})`);
  } finally {
    closeSync(stray);
  }
});

test('input larger than a pipe goes in while output larger than a pipe comes out; a tool that never reads its input is no error', async () => {
  const big = `${'x'.repeat(1023)}\n`.repeat(1024);
  const echoed = await run('sh', ['-c', 'cat; echo end >&2'], { input: big });
  assert.deepEqual([echoed.code, echoed.stdout.length, echoed.stdout === big, echoed.stderr], [0, big.length, true, 'end\n']);
  const deaf = await run('true', [], { input: big });
  assert.deepEqual([deaf.code, deaf.signal, deaf.stdout], [0, null, '']);
});

test('the cwd given, and every signal at its default and unblocked in the tool', async () => {
  assert.equal((await run('pwd', [], { cwd: '/proc' })).stdout, '/proc\n');
  const status = (await run('cat', ['/proc/self/status'])).stdout;
  for (const mask of ['SigBlk', 'SigIgn']) assert.match(status, new RegExp(`^${mask}:\\s*0+$`, 'm'), `${mask} (${spawnPath().kind})`);
});

test('many at once: each gets its own input back and its own status', async () => {
  const results = await Promise.all(Array.from({ length: 24 }, (_, i) => run('sh', ['-c', `cat; exit ${i % 7}`], { input: `tool ${i}\n` })));
  assert.deepEqual(results.map((r) => [r.code, r.stdout]), Array.from({ length: 24 }, (_, i) => [i % 7, `tool ${i}\n`]));
});
