// Loading plugin modules from a directory: the export forms, and every broken file reported and skipped.

import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { silentLogger } from '../../src/log.ts';
import { loadPluginDir } from '../../src/plugins/plugin-dir.ts';
import { PluginRegistry } from '../../src/plugins/registry.ts';
import { HookHint } from '../../src/plugins/types.ts';

const dir = mkdtempSync(join(tmpdir(), 'dobby-plugin-dir-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const files: Record<string, string> = {
  '01-default-object.mjs': `export default { name: 'DefaultObject', hookHints: 1, postConstruction() {} };`,
  '02-default-factory.js': `export default (host) => ({ name: 'defaultFactory', hookHints: host.HookHint.PreStartAsync, preStart() { return true; } });`,
  '03-named.mjs': `export const plugin = { name: 'named', hookHints: 0 };`,
  '04-create.mjs': `export async function createPlugin(host) { host.logger.info('hello'); return { name: 'created', hookHints: host.HookHint.PostStopSync, postStop() {} }; }`,
  '05-typed.ts': `interface P { name: string; hookHints: number; preDestruction(): boolean }\nconst p: P = { name: 'typed', hookHints: ${HookHint.PreDestructionSync}, preDestruction: (): boolean => true };\nexport default p;`,
  '06-commonjs.cjs': `module.exports = { name: 'common', hookHints: 0 };`,
  '10-syntax.mjs': `export default { name: 'broken' ,,, };`,
  '11-throws.mjs': `throw new Error('top-level boom');`,
  '12-no-name.mjs': `export default { hookHints: 1, postConstruction() {} };`,
  '13-missing-hook.mjs': `export default { name: 'nohook', hookHints: ${HookHint.PreStartSync} };`,
  '14-bad-hints.mjs': `export default { name: 'badhints', hookHints: '1' };`,
  '15-unknown-bits.mjs': `export default { name: 'bits', hookHints: 1 << 9 };`,
  '16-duplicate.mjs': `export default { name: 'NAMED', hookHints: 0 };`,
  '17-exports-nothing.mjs': `export const unrelated = 1;`,
  '18-hangs.mjs': `await new Promise(() => {}); export default { name: 'never', hookHints: 0 };`,
  '19-factory-throws.mjs': `export function createPlugin() { throw new Error('factory boom'); }`,
  'README.md': `not a module`,
  'libDobbyFoo.so': `\x7fELF`,
};
for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
mkdirSync(join(dir, 'a-directory.js'));

test('every export form loads; broken files are reported by file with the reason, and skipped', async () => {
  const registry = new PluginRegistry();
  registry.register({ name: 'builtin', hookHints: 0 });
  const report = await loadPluginDir(dir, registry, silentLogger(), { timeoutMs: 300 });
  assert.deepEqual(report.loaded, ['DefaultObject', 'defaultFactory', 'named', 'created', 'typed', 'common']);
  assert.deepEqual(registry.list().map((p) => p.name), ['DefaultObject', 'builtin', 'common', 'created', 'defaultFactory', 'named', 'typed']);
  assert.equal(registry.get('defaultobject')?.name, 'DefaultObject', 'names are matched case-insensitively');
  assert.equal(registry.list().find((p) => p.name === 'typed')?.source, join(dir, '05-typed.ts'));
  const reasons = Object.fromEntries(report.failed.map((f) => [f.file.slice(dir.length + 1), f.error]));
  assert.deepEqual(Object.keys(reasons), [
    '10-syntax.mjs', '11-throws.mjs', '12-no-name.mjs', '13-missing-hook.mjs', '14-bad-hints.mjs', '15-unknown-bits.mjs',
    '16-duplicate.mjs', '17-exports-nothing.mjs', '18-hangs.mjs', '19-factory-throws.mjs',
  ]);
  assert.match(reasons['10-syntax.mjs']!, /^SyntaxError: /);
  assert.equal(reasons['11-throws.mjs'], 'top-level boom');
  assert.match(reasons['12-no-name.mjs']!, /name must be a non-empty string/);
  assert.match(reasons['13-missing-hook.mjs']!, /plugin 'nohook': hookHints ask for preStart, but preStart is undefined, not a function/);
  assert.match(reasons['14-bad-hints.mjs']!, /hookHints must be a whole number/);
  assert.match(reasons['15-unknown-bits.mjs']!, /bits that name no hook/);
  assert.match(reasons['16-duplicate.mjs']!, /plugin 'named' from .*03-named\.mjs is already installed/);
  assert.match(reasons['17-exports-nothing.mjs']!, /exports no plugin/);
  assert.match(reasons['18-hangs.mjs']!, /took longer than 300 ms/);
  assert.equal(reasons['19-factory-throws.mjs'], 'factory boom');
  assert.deepEqual(registry.problems().map((p) => p.source), report.failed.map((f) => f.file));
});

test('a missing plugin dir means no external plugins and no problem', async () => {
  const registry = new PluginRegistry();
  const report = await loadPluginDir(join(dir, 'does-not-exist'), registry, silentLogger());
  assert.deepEqual(report, { loaded: [], failed: [] });
  assert.deepEqual(registry.problems(), []);
});

test('register refuses a value without the plugin shape, naming what is wrong', () => {
  const registry = new PluginRegistry();
  // Deliberately wrong shapes, as an embedder might pass them.
  assert.throws(() => registry.register({ name: '', hookHints: 0 }), /name must be a non-empty string/);
  assert.throws(() => registry.register({ name: 'x', hookHints: HookHint.PostStartAsync }), /hookHints ask for postStart/);
  assert.throws(() => registry.register(null as never), /must be an object/);
  registry.register({ name: 'x', hookHints: 0 });
  assert.throws(() => registry.register({ name: 'X', hookHints: 0 }), /plugin 'x' from builtin is already installed/);
});
