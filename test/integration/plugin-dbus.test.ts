// A real dobbyd with --plugin-dir, driven by the dobby CLI over its private bus: hook runs in GetInfo
// and in `events`, broken and hanging plugin files never take the daemon down, Dobby's signals unchanged.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { HookHint } from '../../src/plugins/types.ts';
import { dobby } from '../api/harness.ts';
import { makeBundle, writeConfig, type BundleOptions } from '../helpers/bundle.ts';
import { makeScratch } from '../helpers/scratch.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const scratch = makeScratch();
const pluginDir = join(scratch.dir, 'plugins');

const PLUGIN_FILES: Record<string, string> = {
  'probe.mjs': `export default { name: 'probe', hookHints: ${HookHint.PostConstructionSync | HookHint.PreStartSync | HookHint.PostStartSync | HookHint.PostStopSync | HookHint.PreDestructionSync},
    postConstruction: () => true, preStart: () => true, postStart: () => true, postStop: () => true, preDestruction: () => true };`,
  'hanger.mjs': `export const plugin = { name: 'hanger', hookHints: ${HookHint.PostConstructionAsync}, postConstruction: () => new Promise(() => {}) };`,
  'syntax.mjs': `export default {{ name: 'syntax' };`,
  // TypeScript, loaded by the bundled daemon through Node's type stripping.
  'typed.ts': `interface Ctx { readonly pid: number }
    export function createPlugin(host: { HookHint: Record<string, number> }): object {
      return { name: 'typed', hookHints: host.HookHint['PreStartSync'], preStart: (ctx: Ctx): boolean => ctx.pid > 0 };
    }`,
  'rejects-later.mjs': `export default { name: 'latebomb', hookHints: ${HookHint.PostStartSync},
    postStart() { setTimeout(() => Promise.reject(new Error('a rejection nobody handles')), 10); return true; } };`,
};

function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env['NODE_EXTRA_CA_CERTS'];
  return env;
}

async function startDobbyd(stateDir: string): Promise<{ child: ChildProcess; address: string; stderr: () => string }> {
  const child = spawn(
    join(ROOT, 'bin', 'dobbyd'),
    ['--private-bus', '--state-dir', stateDir, '--stop-grace', '2', '--log-level', 'warn', '--plugin-dir', pluginDir, '--hook-timeout', '0.5'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() },
  );
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  for (let i = 0; i < 1200 && !/^DBUS_ADDRESS=/m.test(out) && child.exitCode === null; i++) await sleep(25);
  const line = /^DBUS_ADDRESS=(.+)$/m.exec(out);
  if (line === null) {
    child.kill('SIGKILL');
    throw new Error(`dobbyd printed no DBUS_ADDRESS line (stderr: ${err.slice(-2000)})`);
  }
  return { child, address: line[1]!, stderr: () => err };
}

describe('plugins through a real dobbyd and the dobby CLI', { concurrency: 1 }, () => {
  let daemon: Awaited<ReturnType<typeof startDobbyd>> | undefined;
  let address = '';
  before(async () => {
    mkdirSync(pluginDir, { recursive: true });
    for (const [name, text] of Object.entries(PLUGIN_FILES)) writeFileSync(join(pluginDir, name), text);
    daemon = await startDobbyd(join(scratch.dir, 'dobbyd'));
    address = daemon.address;
  });
  after(async () => {
    const child = daemon?.child;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    // An unref'd timer: it must not keep the test process alive once dobbyd is gone.
    await Promise.race([exited, sleep(20_000, undefined, { ref: false })]);
    assert.equal(child.exitCode, 0, `dobbyd did not stop cleanly: ${daemon?.stderr().slice(-2000)}`);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  const bundle = async (id: string, options: BundleOptions, rdkPlugins: Record<string, unknown>) => {
    const path = await makeBundle(join(scratch.bundlesDir, id), { init: true, ...options });
    await writeConfig(path, { init: true, ...options }, (c) => void (c['rdkPlugins'] = rdkPlugins));
    return path;
  };

  test('the syntax error in the plugin dir is logged with its file; the daemon serves', async () => {
    assert.match(daemon!.stderr(), /plugin file skipped/);
    assert.match(daemon!.stderr(), /syntax\.mjs/);
    const list = await dobby(address, ['list']);
    assert.equal(list.code, 0, list.stderr);
  });

  test('GetInfo lists each plugin with its hook runs beside Dobby\'s keys; events prints them', async () => {
    const id = scratch.id('info');
    const events = spawn(join(ROOT, 'bin', 'dobby'), ['--dbus-address', address, '--json', 'events'], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() });
    let out = '';
    events.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    await sleep(1_500); // the CLI has subscribed by then (it acknowledges its match rule before printing)
    try {
      const path = await bundle(id, { args: ['/bin/sleep', '1000'] }, { probe: { required: true }, typed: { required: true }, hanger: { required: false }, latebomb: {}, absent: {} });
      const started = await dobby(address, ['start', id, path]);
      assert.equal(started.code, 0, started.stderr);
      await sleep(100); // the late rejection of `latebomb` fires meanwhile
      const info = await dobby(address, ['info', id]);
      assert.equal(info.code, 0, info.stderr);
      assert.ok(info.stdout.startsWith('{'));
      assert.match(info.stdout, /"state" : "running"/);
      const doc = JSON.parse(info.stdout) as { id: string; plugins: Array<{ name: string; skipped?: string; hooks: Array<{ hook: string; ok: boolean; durationMs: number; error?: string }> }> };
      assert.equal(doc.id, id);
      const byName = Object.fromEntries(doc.plugins.map((p) => [p.name, p]));
      assert.deepEqual(byName['probe']!.hooks.map((h) => `${h.hook}:${h.ok}`), ['postConstruction:true', 'preStart:true', 'postStart:true']);
      assert.ok(byName['probe']!.hooks.every((h) => typeof h.durationMs === 'number'));
      assert.deepEqual(byName['hanger']!.hooks.map((h) => [h.hook, h.ok, h.error]), [['postConstruction', false, 'timed out after 500 ms']]);
      assert.deepEqual(byName['typed']!.hooks.map((h) => `${h.hook}:${h.ok}`), ['preStart:true']);
      assert.equal(byName['absent']!.skipped, "no plugin named 'absent' is installed");
      assert.equal((await dobby(address, ['stop', id])).code, 0);
      for (let i = 0; i < 200 && !out.includes('"deleted"'); i++) await sleep(50);
    } finally {
      events.kill('SIGINT');
      await new Promise((resolve) => events.once('exit', resolve));
    }
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { event: string; id: string; plugin?: string; message?: string });
    const mine = lines.filter((l) => l.id === id);
    assert.deepEqual(mine.filter((l) => l.event !== 'hook').map((l) => l.event), ['created', 'started', 'exited', 'deleted']);
    const hooks = mine.filter((l) => l.event === 'hook').map((l) => `${l.plugin} ${l.message?.replace(/ in [0-9.]+ ms/, '')}`);
    assert.ok(hooks.includes('probe preStart ok'), hooks.join('\n'));
    assert.ok(hooks.includes('hanger postConstruction failed: timed out after 500 ms'), hooks.join('\n'));
    assert.ok(hooks.includes('probe preDestruction ok'), hooks.join('\n'));
  });

  test('a required plugin that hangs fails the start with -1; the daemon keeps serving', async () => {
    const id = scratch.id('hangs');
    const path = await bundle(id, { args: ['/bin/sleep', '1000'] }, { hanger: { required: true } });
    const started = await dobby(address, ['start', id, path]);
    assert.notEqual(started.code, 0);
    assert.match(started.stderr + started.stdout, /failed to start container/);
    const list = await dobby(address, ['list']);
    assert.equal(list.code, 0);
    assert.doesNotMatch(list.stdout, new RegExp(id));
    assert.equal(daemon!.child.exitCode, null, 'dobbyd exited');
  });
});
