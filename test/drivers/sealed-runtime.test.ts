// The OCI runtime run from a sealed in-memory copy: crun accepts it as already protected and skips its
// per-call re-exec (its container's init runs from the copy, not from a read-only bind mount in /tmp);
// the copy cannot be written; through a link named as the binary its processes are named so; an upgraded binary is copied again and the old copy closed once unused;
// a wrapper script, or DOBBY_SEALED_RUNTIME=0, runs from disk.

import assert from 'node:assert/strict';
import { appendFileSync, chmodSync, closeSync, copyFileSync, ftruncateSync, openSync, readFileSync, readlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { run } from '../../src/drivers/process.ts';
import { runtimeExec } from '../../src/drivers/runtime/sealed-runtime.ts';
import { makeBundle } from '../helpers/bundle.ts';
import { makeScratch } from '../helpers/scratch.ts';

const scratch = makeScratch();
const CRUN = '/usr/bin/crun';
const warnings: string[] = [];
const logger = { debug: () => undefined, warn: (_o: object, msg?: string) => void warnings.push(msg ?? '') };

test('crun runs from the sealed copy: its container\'s init runs from the memfd, and the copy refuses writes', async () => {
  const exec = runtimeExec(CRUN, { logger });
  try {
    assert.match(exec.path, new RegExp(`^/proc/${process.pid}/fd/\\d+$`));
    assert.match(readlinkSync(exec.path), /^\/memfd:oci-runtime \(deleted\)$/);
    const writable = openSync(exec.path, 'r+');
    try {
      assert.throws(() => writeSync(writable, 'x', 0), { code: 'EPERM' }, 'a sealed copy takes a write');
      assert.throws(() => ftruncateSync(writable, 0), { code: 'EPERM' }, 'a sealed copy shrinks');
    } finally {
      closeSync(writable);
    }
    const { runtimeRoot } = scratch.dirs('crun');
    const bundle = await makeBundle(join(scratch.bundlesDir, 'sealed'), { args: ['/bin/sleep', '100'] });
    const id = scratch.id('sealed');
    // The init keeps crun's stdio: nothing of ours is left open for it.
    const created = await run(exec.path, ['--root', runtimeRoot, 'create', '--bundle', bundle, id], { argv0: 'crun', stdio: 'ignore', waitFor: 'exit', timeoutMs: 20_000 });
    assert.equal(created.code, 0);
    const state = JSON.parse((await run(CRUN, ['--root', runtimeRoot, 'state', id])).stdout) as { pid: number; status: string };
    assert.equal(state.status, 'created');
    // Had crun re-executed itself, its init would run from /tmp/crun.XXXXXX (deleted), its read-only bind mount.
    assert.match(readlinkSync(`/proc/${state.pid}/exe`), /^\/memfd:oci-runtime \(deleted\)$/);
    assert.equal((await run(CRUN, ['--root', runtimeRoot, 'delete', '--force', id])).code, 0);
  } finally {
    exec.release();
  }
  assert.equal(runtimeExec(CRUN, { logger }).path, exec.path, 'the same copy while the binary is unchanged');
});

test('through a link in the dir given, named as the binary, the runtime\'s processes are named as it is', async () => {
  const linkDir = join(scratch.dir, 'exec');
  const exec = runtimeExec(CRUN, { logger, linkDir });
  try {
    assert.equal(exec.path, join(linkDir, 'crun'));
    assert.match(readlinkSync(exec.path), new RegExp(`^/proc/${process.pid}/fd/\\d+$`));
    const { runtimeRoot } = scratch.dirs('crun');
    const bundle = await makeBundle(join(scratch.bundlesDir, 'linked'), { args: ['/bin/sleep', '100'] });
    const id = scratch.id('linked');
    assert.equal((await run(exec.path, ['--root', runtimeRoot, 'create', '--bundle', bundle, id], { stdio: 'ignore', waitFor: 'exit', timeoutMs: 20_000 })).code, 0);
    const state = JSON.parse((await run(CRUN, ['--root', runtimeRoot, 'state', id])).stdout) as { pid: number };
    assert.equal(readFileSync(`/proc/${state.pid}/comm`, 'utf8').trim(), 'crun');
    assert.match(readlinkSync(`/proc/${state.pid}/exe`), /^\/memfd:oci-runtime \(deleted\)$/);
    assert.equal((await run(CRUN, ['--root', runtimeRoot, 'delete', '--force', id])).code, 0);
  } finally {
    exec.release();
  }
});

test('an upgraded binary is copied again; the old copy is closed once its last user releases it', () => {
  const binary = join(scratch.dir, 'rt-true');
  copyFileSync('/bin/true', binary);
  chmodSync(binary, 0o755);
  const first = runtimeExec(binary, { logger });
  appendFileSync(binary, Buffer.from([0]));
  const second = runtimeExec(binary, { logger });
  assert.notEqual(second.path, first.path);
  assert.match(readlinkSync(first.path), /memfd/, 'still open while in use');
  first.release();
  first.release();
  assert.throws(() => readlinkSync(first.path), { code: 'ENOENT' });
  second.release();
  assert.match(readlinkSync(runtimeExec(binary, { logger }).path), /memfd/, 'the current copy stays');
});

test('a wrapper script runs from disk, with one warning; DOBBY_SEALED_RUNTIME=0 runs every binary from disk', () => {
  const script = join(scratch.dir, 'rt-wrapper');
  writeFileSync(script, '#!/bin/sh\nexec crun "$@"\n', { mode: 0o755 });
  const before = warnings.length;
  assert.equal(runtimeExec(script, { logger }).path, script);
  assert.equal(runtimeExec(script, { logger }).path, script);
  assert.equal(warnings.length, before + 1, warnings.join('\n'));
  assert.match(warnings.at(-1) ?? '', /runs from .*rt-wrapper itself, not from a sealed copy/);
  process.env['DOBBY_SEALED_RUNTIME'] = '0';
  try {
    assert.equal(runtimeExec(CRUN, { logger }).path, CRUN);
  } finally {
    delete process.env['DOBBY_SEALED_RUNTIME'];
  }
});
