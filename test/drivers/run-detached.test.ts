// The run-detached script turns conmon's `create` command line into the runtime's `run --detach`:
// the first `create` only, every other argument as given (spaces, an id named create), the
// runtime's exit status passed through; written owner-only, and again when it went.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { runDetachedScript } from '../../src/drivers/monitor/run-detached.ts';

const run = promisify(execFile);
const dir = await mkdtemp(join(tmpdir(), 'dobby-run-detached-'));
after(() => rm(dir, { recursive: true, force: true }));

/** A stand-in runtime that prints its arguments one per line, then exits with $EXIT_WITH. */
const echoRuntime = join(dir, 'echo-runtime');
await writeFile(echoRuntime, '#!/bin/sh\nfor a in "$@"; do printf \'%s\\n\' "$a"; done\nexit "${EXIT_WITH:-0}"\n', { mode: 0o755 });

test('the first create becomes run --detach; everything else is passed as given', async () => {
  const script = runDetachedScript(dir);
  assert.ok(script !== null);
  const args = ['--root=/run/x y', 'create', '--bundle', '/b with space', '--pid-file', '/p', '--preserve-fds=2', 'create'];
  const { stdout } = await run(script, [echoRuntime, ...args]);
  assert.deepEqual(stdout.split('\n').slice(0, -1), ['--root=/run/x y', 'run', '--detach', '--bundle', '/b with space', '--pid-file', '/p', '--preserve-fds=2', 'create']);
});

test('the runtime exit status is the script exit status', async () => {
  const script = runDetachedScript(dir);
  assert.ok(script !== null);
  await assert.rejects(run(script, [echoRuntime, 'create', 'id'], { env: { EXIT_WITH: '3' } }), (err: { code?: number }) => err.code === 3);
});

test('owner-only, and written again once it went', async () => {
  const script = runDetachedScript(dir);
  assert.ok(script !== null);
  assert.equal((await stat(script)).mode & 0o777, 0o700);
  await rm(script);
  assert.equal(runDetachedScript(dir), script);
  assert.equal((await stat(script)).mode & 0o777, 0o700);
});
