// Tests the binary lookups, the D-Bus address logic, the usocket check and the report format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { conmonProblem, dbusDaemonProblem, findExecutable, resolveRuntime } from '../../src/host/binaries.ts';
import { busAddressFor, busProblem, parseBusAddress, DEFAULT_SYSTEM_BUS_ADDRESS } from '../../src/host/dbus-check.ts';
import { usocketProblem } from '../../src/host/usocket-check.ts';
import { formatProblems, hasFatal, type HostProblem } from '../../src/host/problem.ts';

const fakeFs = (executables: string[], existing: string[] = []) => ({
  pathEnv: '/opt/bin:/usr/bin',
  isExecutable: (p: string) => executables.includes(p),
  exists: (p: string) => executables.includes(p) || existing.includes(p),
});

test('findExecutable searches PATH then the sbin dirs; a name with a slash is a path', () => {
  assert.equal(findExecutable('crun', fakeFs(['/opt/bin/crun', '/usr/bin/crun'])), '/opt/bin/crun');
  assert.equal(findExecutable('runc', fakeFs(['/usr/sbin/runc'])), '/usr/sbin/runc');
  assert.equal(findExecutable('/x/crun', fakeFs(['/x/crun'])), '/x/crun');
  assert.equal(findExecutable('nothing', fakeFs([])), undefined);
});

test('resolveRuntime: crun first, then runc, then a fatal problem', () => {
  assert.deepEqual(resolveRuntime(undefined, fakeFs(['/usr/bin/crun', '/usr/bin/runc'])).path, '/usr/bin/crun');
  const runc = resolveRuntime(undefined, fakeFs(['/usr/bin/runc']));
  assert.deepEqual([runc.name, runc.path, runc.problem], ['runc', '/usr/bin/runc', undefined]);
  const none = resolveRuntime(undefined, fakeFs([]));
  assert.equal(none.problem?.code, 'runtime-missing');
  assert.equal(none.problem?.fatal, true);
  assert.match(none.problem?.fix ?? '', /apt-get install crun/);
});

test('resolveRuntime with --runtime: name, missing path, non-executable path', () => {
  assert.equal(resolveRuntime('runc', fakeFs([])).problem?.fix, 'apt-get install runc');
  const missing = resolveRuntime('/opt/rt/crun', fakeFs([]));
  assert.equal(missing.problem?.code, 'runtime-missing');
  assert.equal(missing.name, 'crun');
  const notExec = resolveRuntime('/opt/rt/crun', fakeFs([], ['/opt/rt/crun']));
  assert.equal(notExec.problem?.code, 'runtime-not-executable');
  assert.equal(notExec.problem?.fix, 'chmod +x /opt/rt/crun (or give --runtime crun|runc)');
});

test('conmon and dbus-daemon problems', () => {
  assert.equal(conmonProblem(undefined, fakeFs(['/usr/bin/conmon'])), undefined);
  assert.deepEqual(conmonProblem(undefined, fakeFs([]))?.fix, 'apt-get install conmon');
  assert.equal(dbusDaemonProblem(true, fakeFs([]))?.fatal, true);
  assert.equal(dbusDaemonProblem(false, fakeFs([]))?.fatal, false);
  assert.equal(dbusDaemonProblem(true, fakeFs(['/usr/bin/dbus-daemon'])), undefined);
});

test('bus address: flag, then DBUS_SYSTEM_BUS_ADDRESS, then the system socket; parsed into endpoints', () => {
  assert.equal(busAddressFor('unix:path=/a', { DBUS_SYSTEM_BUS_ADDRESS: 'unix:path=/b' }), 'unix:path=/a');
  assert.equal(busAddressFor(undefined, { DBUS_SYSTEM_BUS_ADDRESS: 'unix:path=/b' }), 'unix:path=/b');
  assert.equal(busAddressFor(undefined, {}), DEFAULT_SYSTEM_BUS_ADDRESS);
  assert.deepEqual(parseBusAddress('unix:path=/tmp/a%20b,guid=1;unix:abstract=/tmp/dbus-x;tcp:host=127.0.0.1,port=5;nonce-tcp:'), [
    { kind: 'unix', path: '/tmp/a b' },
    { kind: 'abstract', name: '/tmp/dbus-x' },
    { kind: 'tcp', host: '127.0.0.1', port: 5 },
    { kind: 'unsupported', text: 'nonce-tcp:' },
  ]);
});

test('busProblem: a listening unix socket is reachable, a missing one is fatal with the fix', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dobby-host-'));
  try {
    const path = join(dir, 'bus');
    const server = createServer((s) => s.destroy());
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      assert.equal(await busProblem(`unix:path=${join(dir, 'missing')};unix:path=${path}`), undefined);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    const p = await busProblem(`unix:path=${join(dir, 'missing')}`);
    assert.equal(p?.code, 'dbus-unreachable');
    assert.equal(p?.fatal, true);
    assert.match(p?.what ?? '', /ENOENT/);
    assert.match(p?.fix ?? '', /or run with --private-bus$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('usocketProblem: fine when it loads, fatal with the rebuild fix when it does not', async () => {
  assert.equal(await usocketProblem(() => ({})), undefined);
  assert.equal(await usocketProblem(), undefined, 'the checkout\'s usocket loads as dbus-next loads it');
  const p = await usocketProblem(() => {
    throw new Error('The module was compiled against a different Node.js version using NODE_MODULE_VERSION 115.\nmore');
  });
  assert.equal(p?.fix, 'npm run build-native');
  assert.equal(p?.fatal, true);
  assert.match(p?.what ?? '', /NODE_MODULE_VERSION 115\.\)$/);
});

test('formatProblems: "host ok", warnings, fatal first', () => {
  assert.equal(formatProblems([]), 'host ok');
  const warn: HostProblem = { code: 'b-warn', what: 'w', fix: 'f1', fatal: false };
  const fatal: HostProblem = { code: 'z-fatal', what: 'x', fix: 'f2', fatal: true };
  assert.equal(formatProblems([warn]), 'host ok, with 1 warning:\n  warn  [b-warn] w\n        fix: f1');
  const text = formatProblems([warn, fatal]);
  assert.match(text, /^the host is not ready for dobbyd: 1 fatal problem, 1 warning:\n  FATAL \[z-fatal\]/);
  assert.equal(hasFatal([warn]), false);
  assert.equal(hasFatal([warn, fatal]), true);
});
