// The oomcrash and minidump plugins' data and hooks on real files, through the real hook runner:
// the marker follows the exit's OOM flag, a dump is copied only when it is one, and a hook that
// fails aborts the start of a required plugin while an optional one only logs.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { exitStatusFromCode } from '../../src/exit-status.ts';
import { silentLogger } from '../../src/log.ts';
import { runHookPoint } from '../../src/plugins/hook-runner.ts';
import { createMinidumpPlugin, dumpFileName, parseMinidumpData } from '../../src/plugins/minidump/plugin.ts';
import { createOomCrashPlugin, oomMarkerPath, parseOomCrashData } from '../../src/plugins/oomcrash/plugin.ts';
import { PluginRegistry } from '../../src/plugins/registry.ts';
import { selectPlugins } from '../../src/plugins/selection.ts';
import { createStartState } from '../../src/plugins/start-state.ts';
import type { DobbyPlugin, HookPoint } from '../../src/plugins/types.ts';
import { makeScratch } from '../helpers/scratch.ts';

const scratch = makeScratch();
// The rootfs the hooks are told about (selectPlugins: <bundle>/rootfs), where mount points are made.
mkdirSync(join(scratch.dir, 'rootfs'));

function hooks(plugin: DobbyPlugin, name: string, data: unknown, required: boolean) {
  const registry = new PluginRegistry();
  registry.register(plugin);
  const selection = selectPlugins({ rdkPlugins: { [name]: { required, data } } }, scratch.dir, { isInstalled: (n) => registry.has(n) });
  const startState = createStartState(0);
  const run = (point: HookPoint, code = 0, oomKilled = false) =>
    runHookPoint({ id: 'c1', point, selection, startState, pid: 1, exit: exitStatusFromCode(code, oomKilled) }, { registry, timeoutMs: 4_000, logger: silentLogger() });
  return { run, startState };
}

test('data: Dobby\'s required fields, named when wrong', () => {
  assert.deepEqual(parseOomCrashData({ path: '/opt/oom/' }).data, { path: '/opt/oom' });
  assert.throws(() => parseOomCrashData({}), /^DobbyError: oomcrash\.data\.path is missing/);
  assert.throws(() => parseOomCrashData({ path: 'oom' }), /oomcrash\.data\.path 'oom' is not absolute/);
  assert.throws(() => parseOomCrashData(null), /oomcrash\.data is missing/);
  assert.deepEqual(parseMinidumpData({ destinationPath: '/opt/minidumps', x: 1 }).warnings, ['minidump.data.x is not an option of this plugin and is ignored (it knows destinationPath)']);
  assert.throws(() => parseMinidumpData({ destinationPath: 7 }), /minidump\.data\.destinationPath is 7; it must be a string/);
});

test('dump names: the id cut so that id, separator and time make 44 characters', () => {
  const at = new Date(2026, 0, 2, 3, 4, 5);
  assert.equal(dumpFileName('de.sky.ZDF', at), 'de.sky.ZDF<#=#>2026-01-02T03:04:05.dmp');
  assert.equal(dumpFileName('a-very-long-container-id-indeed', at), 'a-very-long-containe<#=#>2026-01-02T03:04:05.dmp');
});

test('oomcrash: the marker after an OOM kill, none after another exit; the mount is read-only', async () => {
  const dir = join(scratch.dir, 'oom');
  const { run, startState } = hooks(createOomCrashPlugin(), 'oomcrash', { path: dir }, true);
  assert.equal((await run('postConstruction')).failure, null);
  assert.deepEqual(startState.additions.mounts, [{ destination: dir, type: 'bind', source: dir, options: ['bind', 'ro', 'nodev', 'nosuid', 'noexec'] }]);
  assert.ok(existsSync(join(scratch.dir, 'rootfs', dir)), 'its mount point is made in the rootfs');
  assert.equal((await run('postStop', 137, true)).failure, null);
  assert.ok(existsSync(oomMarkerPath(dir, 'c1')));
  await run('postStop', 137, false);
  assert.ok(!existsSync(oomMarkerPath(dir, 'c1')), 'a SIGKILL that was not the OOM killer\'s clears the marker');
});

test('oomcrash: a postConstruction that fails aborts a required plugin\'s start; an optional one carries on', async () => {
  const file = join(scratch.dir, 'a-file');
  writeFileSync(file, '');
  for (const required of [true, false]) {
    const { run } = hooks(createOomCrashPlugin(), 'oomcrash', { path: join(file, 'sub') }, required);
    const result = await run('postConstruction');
    assert.equal(result.runs[0]!.ok, false);
    assert.match(result.runs[0]!.error!, /ENOTDIR/);
    assert.equal(result.failure !== null, required);
  }
});

test('minidump: BREAKPAD_FD for the buffer; a dump is copied after the exit, junk is not', async () => {
  const dumps = join(scratch.dir, 'dumps');
  const workDir = join(scratch.dir, 'work');
  mkdirSync(dumps);
  const plugin = createMinidumpPlugin({ workDir });
  const { run, startState } = hooks(plugin, 'minidump', { destinationPath: dumps }, true);
  assert.equal((await run('postConstruction')).failure, null);
  assert.deepEqual(startState.additions.env, ['BREAKPAD_FD=3']);
  assert.equal(startState.additions.fds.length, 1);
  writeFileSync(startState.additions.fds[0]!, 'MDMP and more');
  const stopped = await run('postStop', 139);
  assert.deepEqual(stopped.runs.map((r) => r.ok), [true]);
  const files = readdirSync(dumps);
  assert.equal(files.length, 1);
  assert.equal(readFileSync(join(dumps, files[0]!), 'utf8'), 'MDMP and more');
  assert.deepEqual(readdirSync(workDir), []);

  const again = hooks(plugin, 'minidump', { destinationPath: dumps }, true);
  await again.run('postConstruction');
  writeFileSync(again.startState.additions.fds[0]!, 'not a dump');
  assert.match((await again.run('postStop', 139)).runs[0]!.error ?? '', /returned false/);
  assert.equal(readdirSync(dumps).length, 1);
});

test('minidump: a postConstruction that fails aborts a required plugin\'s start; an optional one carries on', async () => {
  const file = join(scratch.dir, 'not-a-dir');
  writeFileSync(file, '');
  for (const required of [true, false]) {
    const { run, startState } = hooks(createMinidumpPlugin({ workDir: join(file, 'work') }), 'minidump', { destinationPath: scratch.dir }, required);
    const result = await run('postConstruction');
    assert.equal(result.runs[0]!.ok, false);
    assert.equal(result.failure !== null, required);
    assert.deepEqual(startState.additions.env, []);
  }
});
