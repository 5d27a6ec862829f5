// leanSpawn (native/spawn, posix_spawn): a ChildProcess's behaviour for what the drivers use of it —
// pipes, fds in slots, cwd, env, exit codes and signals, start errors — with no daemon fd leaking in.
// lean-spawn-fork.test.ts runs the same tests over the fallback (Node's spawn).

import assert from 'node:assert/strict';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { leanSpawn, spawnPath, type LeanChild } from '../../src/drivers/lean-spawn.ts';
import { nativeAddonPath } from '../../src/drivers/native-addon.ts';

const PATH = process.env['PATH'] ?? '/usr/bin:/bin';

interface Finished {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly order: string[];
}

function finished(child: LeanChild): Promise<Finished> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const order: string[] = [];
  child.stdout?.on('data', (c: Buffer) => out.push(c));
  child.stderr?.on('data', (c: Buffer) => err.push(c));
  child.once('exit', () => order.push('exit'));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      order.push('close');
      resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), order });
    });
  });
}

test('tools start through posix_spawn by default, through Node\'s spawn when DOBBY_SPAWN=fork asks', () => {
  const path = spawnPath();
  if (process.env['DOBBY_SPAWN'] === 'fork') assert.deepEqual(path, { kind: 'fork', cause: 'asked', reason: 'DOBBY_SPAWN=fork asks for it' });
  else assert.deepEqual(path, { kind: 'posix_spawn' });
});

test('the addon is found from the sources and from the daemon bundle dir', () => {
  const path = nativeAddonPath('spawn');
  assert.ok(path?.endsWith('native/spawn/build/Release/spawn.node'), String(path));
  assert.equal(nativeAddonPath('spawn', join(import.meta.dirname, '..', '..', 'dist')), path);
});

test('stdout and stderr are captured; the exit code and then close are reported', async () => {
  const child = leanSpawn('sh', ['-c', 'echo out; echo err >&2; exit 3'], { env: { PATH } });
  const spawned = new Promise<void>((resolve) => child.once('spawn', resolve));
  const r = await finished(child);
  await spawned;
  assert.ok(typeof child.pid === 'number' && child.pid > 0);
  assert.deepEqual([r.code, r.signal, r.stdout, r.stderr], [3, null, 'out\n', 'err\n']);
  assert.deepEqual(r.order, ['exit', 'close']);
  assert.equal(child.kill('SIGKILL'), false, 'a collected child is never signalled (its pid may be reused)');
});

test('a signal that ends the tool is reported by name, with a null code; one asked before the spawn completed is sent once it has', async () => {
  const child = leanSpawn('sleep', ['30'], { env: { PATH } });
  const done = finished(child);
  await new Promise<void>((resolve) => child.once('spawn', resolve));
  assert.equal(child.kill('SIGTERM'), true);
  const r = await done;
  assert.deepEqual([r.code, r.signal], [null, 'SIGTERM']);
  const early = leanSpawn('sleep', ['30'], { env: { PATH } });
  assert.equal(early.kill('SIGKILL'), true);
  const e = await finished(early);
  assert.deepEqual([e.code, e.signal], [null, 'SIGKILL']);
});

test('signals the daemon ignores or blocks are back to their defaults in the tool', async () => {
  // Node ignores SIGPIPE; a tool writing to a closed pipe must die of it, as it would from a shell.
  const r = await finished(leanSpawn('sh', ['-c', 'grep -E "^Sig(Ign|Blk)" /proc/self/status'], { env: { PATH } }));
  for (const line of r.stdout.trim().split('\n')) assert.match(line, /:\s+0+$/, line);
});

test('the tool gets exactly the env given, the cwd given, and /dev/null for ignore', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dobby-lean-spawn-'));
  try {
    const r = await finished(leanSpawn('sh', ['-c', 'env; pwd; readlink /proc/self/fd/0'], { env: { PATH, ONLY: 'this' }, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }));
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(lines.filter((l) => /^(PATH|ONLY)=/.test(l)).sort(), [`ONLY=this`, `PATH=${PATH}`]);
    assert.ok(!lines.some((l) => l.startsWith('NODE_')), r.stdout);
    assert.ok(lines.includes(dir), r.stdout);
    assert.equal(lines.at(-1), '/dev/null');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a name is looked up on the PATH of the env given, and argv[0] is the name', async () => {
  const r = await finished(leanSpawn('sh', ['-c', 'echo "$0"'], { env: { PATH: '/nowhere:/bin' } }));
  assert.equal(r.stdout, 'sh\n');
  const missing = leanSpawn('sh', [], { env: { PATH: '/nowhere' } });
  await assert.rejects(finished(missing), (err: NodeJS.ErrnoException) => err.code === 'ENOENT' && err.message === 'spawn sh ENOENT');
});

test('a program that cannot be run fails asynchronously with the code spawn gives', async () => {
  const child = leanSpawn('/nonexistent/dobby-tool', ['x'], { env: { PATH } });
  assert.equal(child.pid, undefined);
  await assert.rejects(finished(child), (err: NodeJS.ErrnoException) => err.code === 'ENOENT' && err.syscall === 'spawn /nonexistent/dobby-tool');
  const dir = mkdtempSync(join(tmpdir(), 'dobby-lean-spawn-'));
  try {
    const notExecutable = join(dir, 'tool');
    writeFileSync(notExecutable, '#!/bin/sh\n', { mode: 0o644 });
    await assert.rejects(finished(leanSpawn(notExecutable, [], { env: { PATH } })), (err: NodeJS.ErrnoException) => err.code === 'EACCES');
  } finally {
    rmSync(dir, { recursive: true });
  }
  await assert.rejects(finished(leanSpawn('true', [], { env: { PATH }, cwd: dir })), (err: NodeJS.ErrnoException) => err.code === 'ENOENT');
});

test('fds in slots reach the tool at those numbers; a closed one is EBADF; no other fd of ours gets in', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dobby-lean-spawn-'));
  const file = join(dir, 'out');
  const fd = openSync(file, 'w');
  // Opened without O_CLOEXEC on purpose (as usocket's are): the tool must not get it anyway.
  const stray = openSync('/dev/null', 'r');
  try {
    const r = await finished(leanSpawn('sh', ['-c', 'echo into-3 >&3; ls /proc/self/fd'], { env: { PATH }, stdio: ['ignore', 'pipe', 'pipe', fd] }));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(file, 'utf8'), 'into-3\n');
    const fds = r.stdout.split(/\s+/).filter((n) => n !== '').map(Number);
    // 0-3, and the one ls opens to list the directory.
    assert.ok(fds.every((n) => n <= 4), `the tool had ${fds.join(' ')}`);
    closeSync(fd);
    await assert.rejects(finished(leanSpawn('true', [], { env: { PATH }, stdio: ['ignore', 'ignore', 'ignore', fd] })), (err: NodeJS.ErrnoException) => err.code === 'EBADF');
  } finally {
    closeSync(stray);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a non-blocking fd given as stdin, stdout or stderr is made blocking (the flag is shared with us), as libuv does; above them it is left alone', async () => {
  const nonBlocking = (fd: number): boolean =>
    (Number.parseInt(/^flags:\s+(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1] ?? '', 8) & constants.O_NONBLOCK) !== 0;
  const low = openSync('/dev/null', constants.O_WRONLY | constants.O_NONBLOCK);
  const high = openSync('/dev/null', constants.O_WRONLY | constants.O_NONBLOCK);
  try {
    assert.ok(nonBlocking(low) && nonBlocking(high));
    const r = await finished(leanSpawn('true', [], { env: { PATH }, stdio: ['ignore', low, 'ignore', high] }));
    assert.equal(r.code, 0);
    assert.equal(nonBlocking(low), false);
    assert.equal(nonBlocking(high), true);
  } finally {
    closeSync(low);
    closeSync(high);
  }
});

test('a pipe on stdin is written to; a pipe above stderr is read from', async () => {
  const child = leanSpawn('sh', ['-c', 'cat >&3'], { env: { PATH }, stdio: ['pipe', 'ignore', 'ignore', 'pipe'] });
  const got: Buffer[] = [];
  child.stdio[3]?.on('data', (c: Buffer) => got.push(c));
  child.stdin?.end('through the pipes\n');
  const r = await finished(child);
  assert.equal(r.code, 0);
  assert.equal(Buffer.concat(got).toString(), 'through the pipes\n');
});

test('many at once: every exit reaches its own child', async () => {
  const results = await Promise.all(Array.from({ length: 40 }, (_, i) =>
    finished(leanSpawn('sh', ['-c', `echo ${i}; exit ${i % 7}`], { env: { PATH } }))));
  results.forEach((r, i) => assert.deepEqual([r.code, r.stdout], [i % 7, `${i}\n`]));
});
