// Dobby's settings file: the DEV_VM file as shipped, Dobby's defaults, and bad files refused with the key named.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { apparmorProfileLoaded, bundlePidsLimitOf, listHostInterfaces, networkOptionsOf, specConversionOf } from '../../src/settings/apply.ts';
import { expandPath } from '../../src/settings/expand-path.ts';
import { stripJsonComments } from '../../src/settings/json-comments.ts';
import { defaultSettings, loadSettings, settingsFromText } from '../../src/settings/load-settings.ts';
import { DEFAULT_SETTINGS_FILE } from '../../src/settings/types.ts';
import type { ParseSettingsContext } from '../../src/settings/parse-settings.ts';

const DEV_VM_SETTINGS = join(import.meta.dirname, 'fixtures', 'dobby.dev_vm.json');

const ctx = (env: NodeJS.ProcessEnv = {}): ParseSettingsContext => ({
  env,
  groupId: (name) => ({ video: 44, render: 105, root: 0 } as Record<string, number>)[name],
  isUsableDir: (path) => path === '/srv/ws',
});

const dir = mkdtempSync(join(tmpdir(), 'dobby-settings-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const check = (doc: unknown, env?: NodeJS.ProcessEnv) => settingsFromText(JSON.stringify(doc), '/x/dobby.json', ctx(env));

test("Dobby's DEV_VM settings file: every value it sets, Dobby's defaults for the rest", async () => {
  const { settings, warnings } = await loadSettings(DEV_VM_SETTINGS, ctx());
  assert.equal(settings.source, DEV_VM_SETTINGS);
  assert.deepEqual(settings.paths, { workspaceDir: '/tmp/rdk', persistentDir: '/opt/persistent/rdk' });
  assert.equal(settings.logging.consoleSocket, '/tmp/dobbyPty.sock');
  assert.deepEqual(settings.extraEnvVariables, ['ETHAN_STB_MODEL=VM', 'ETHAN_STB_TYPE=IP']);
  assert.deepEqual(settings.network, { externalInterfaces: ['enp0s8', 'enp0s3', 'docker0', 'eth0'], addressRange: '100.64.11.0/24', ipv6: false });
  assert.deepEqual(settings.logRelay, { syslog: { enable: true, socketPath: '/tmp/dobby-syslog' }, journald: { enable: true, socketPath: '/tmp/dobby-journald' } });
  assert.deepEqual(settings.pids, { enable: true, limit: 256 });
  assert.deepEqual(settings.apparmor, { enable: true, defaultProfile: 'dobby_default' });
  assert.equal(settings.gpu, null);
  assert.equal(settings.strace, null);
  // Its top-level extraMounts is a key Dobby does not read: a warning, not a refusal.
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /'extraMounts' is not a key Dobby reads/);
  // Into spec conversion: the env and the pids limit; into networking: only the interfaces this host has.
  const conversion = specConversionOf(settings);
  assert.deepEqual(conversion.extraEnv, ['ETHAN_STB_MODEL=VM', 'ETHAN_STB_TYPE=IP']);
  assert.equal(conversion.pidsLimit, 256);
  assert.equal(bundlePidsLimitOf(settings), 256);
  assert.deepEqual(networkOptionsOf(settings, () => ['lo', 'eth0', 'docker0']), { externalInterfaces: ['docker0', 'eth0'], addressRange: '100.64.11.0/24', ipv6: false });
});

test("a missing default file gives Dobby's defaults with a warning; a missing --settings-file is an error", async () => {
  const defaults = defaultSettings(ctx());
  assert.deepEqual(defaults.paths, { workspaceDir: '/var/volatile/rdk', persistentDir: '/opt/persistent/rdk' });
  assert.deepEqual(defaults.pids, { enable: true, limit: 256 });
  assert.deepEqual(defaults.network, { externalInterfaces: null, addressRange: null, ipv6: false });
  await assert.rejects(loadSettings(join(dir, 'nope.json'), ctx()), /cannot access settings file @ '.*nope\.json' \(ENOENT\)/);
  await assert.rejects(loadSettings(dir, ctx()), /is not a regular file/);
  // AI_WORKSPACE_PATH counts only when it is a usable directory, as in Dobby.
  assert.equal(defaultSettings(ctx({ AI_WORKSPACE_PATH: '/srv/ws' })).paths.workspaceDir, '/srv/ws');
  assert.equal(defaultSettings(ctx({ AI_WORKSPACE_PATH: '/nowhere' })).paths.workspaceDir, '/var/volatile/rdk');
});

test('broken files are refused with the key and the problem named', async () => {
  const bad = join(dir, 'broken.json');
  writeFileSync(bad, '{\n  "paths": {\n    "workspaceDir": "/tmp/rdk",\n  }\n}\n');
  await assert.rejects(loadSettings(bad, ctx()), /settings file '.*broken\.json' is not valid JSON: .*line 4/);
  const cases: [unknown, RegExp][] = [
    [[], /must be an object, not an array/],
    [{ extraEnvVariables: ['GOOD=1', 'no equals'] }, /'extraEnvVariables\[1\]' 'no equals' must be NAME=value/],
    [{ extraEnvVariables: 'A=B' }, /'extraEnvVariables' must be an array of strings, not a string/],
    [{ network: { externalInterfaces: ['eth0', 7] } }, /'network\.externalInterfaces\[1\]' must be a string, not a number/],
    [{ network: { externalInterfaces: ['a/b'] } }, /'network\.externalInterfaces\[0\]' 'a\/b' is not an interface name/],
    [{ network: { addressRange: '100.64.11.1' } }, /'network\.addressRange' '100\.64\.11\.1' must end in \.0/],
    [{ network: { addressRange: '300.1.1.0' } }, /'network\.addressRange' .* must be an IPv4 address/],
    [{ network: { ipv6: 'yes' } }, /'network\.ipv6' must be true or false, not a string/],
    [{ pids: { limit: 0 } }, /'pids\.limit' must be a whole number of processes from 1/],
    [{ pids: { enable: 1 } }, /'pids\.enable' must be true or false, not a number/],
    [{ apparmor: { defaultProfile: 3 } }, /'apparmor\.defaultProfile' must be a string/],
    [{ paths: { workspaceDir: 'relative/dir' } }, /'paths\.workspaceDir' must be an absolute path/],
    [{ paths: { workspaceDir: '$NOPE/x' } }, /'paths\.workspaceDir' '\$NOPE\/x' cannot be expanded: the environment variable NOPE is not set/],
    [{ logging: { consoleSocket: '$(reboot)' } }, /'logging\.consoleSocket' .* command substitution/],
    [{ gpu: { groupIds: ['nosuchgroup'] } }, /'gpu\.groupIds\[0\]' names the group 'nosuchgroup', which this host does not have/],
    [{ gpu: { groupIds: [-3] } }, /'gpu\.groupIds\[0\]' must be a group id above 0/],
    [{ vpu: { extraMounts: [{ source: '/a', destination: '/b', type: 'bind', options: ['bind', 'exec'] }] } }, /'vpu\.extraMounts\[0\]\.options\[1\]' 'exec' is not a mount option Dobby allows/],
    [{ defaultPlugins: ['ok', 5] }, /'defaultPlugins\[1\]' must be a plugin name or a \{"name": data\} object, not a number/],
    [{ defaultPlugins: [{ logging: 'devnull' }] }, /'defaultPlugins\[0\]\.logging' must be the plugin's data object, not a string/],
    [{ logRelay: { syslog: { enable: true } } }, /'logRelay\.syslog\.socketPath' is missing/],
    [{ strace: { apps: 'app' } }, /'strace\.apps' must be an array of strings/],
  ];
  for (const [doc, message] of cases) assert.throws(() => check(doc), message, JSON.stringify(doc));
  // Every problem at once, not only the first.
  assert.throws(() => check({ pids: { limit: -1 }, network: { ipv6: 1 } }), /'network\.ipv6' .*; 'pids\.limit'/);
});

test('gpu/vpu, default plugins, strace and platform env are read as Dobby reads them', () => {
  const { settings } = check({
    gpu: { groupIds: ['video', 44, 'render'], devNodes: ['/dev/null', '/dev/nonexistent*'], extraEnvVariables: ['GPU=1'],
      extraMounts: [{ source: '/usr/lib/gpu', destination: '/usr/lib/gpu', type: 'bind', options: ['ro', 'bind', 'ro'] }] },
    vpu: { groupId: 'render' },
    defaultPlugins: ['localtime', { logging: { sink: 'devnull' } }],
    strace: { apps: ['app1'] },
    extraEnvVariables: ['ETHAN_STB_TYPE=IP'],
    pids: { enable: false },
  }, { AI_PLATFORM_TYPE: 'MR', AI_PLATFORM_MODEL: 'ES140' });
  assert.deepEqual(settings.gpu?.groupIds, [44, 105]);
  assert.deepEqual(settings.gpu?.extraMounts, [{ source: '/usr/lib/gpu', destination: '/usr/lib/gpu', type: 'bind', options: ['bind', 'ro'] }]);
  assert.deepEqual(settings.vpu?.groupIds, [105]);
  assert.deepEqual(settings.defaultPlugins, { localtime: null, logging: { sink: 'devnull' } });
  assert.deepEqual(settings.strace, { logsDir: '/tmp/strace', apps: ['app1'] });
  // The settings' entry wins over the platform's of the same name.
  assert.deepEqual(settings.extraEnvVariables, ['ETHAN_STB_MODEL=ES140', 'ETHAN_STB_TYPE=IP']);
  const conversion = specConversionOf(settings);
  // Only character devices are kept: /dev/null is one, the glob matches nothing.
  assert.deepEqual(conversion.gpu?.devNodes.map((n) => [n.path, n.major, n.minor, n.mode]), [['/dev/null', 1, 3, 0o666]]);
  assert.equal(conversion.pidsLimit, null);
  assert.equal(bundlePidsLimitOf(settings), null);
});

test('comments and path expansion as jsoncpp and wordexp allow them', () => {
  assert.deepEqual(JSON.parse(stripJsonComments('{ // a\n "a": "x//y", /* b\n c */ "b": 1 }')), { a: 'x//y', b: 1 });
  assert.deepEqual(expandPath('${HOME}/a/$USER', { HOME: '/root', USER: 'me' }), { ok: true, value: '/root/a/me' });
  assert.deepEqual(expandPath('~/x', { HOME: '/h' }), { ok: true, value: '/h/x' });
  assert.equal(expandPath('`id`', {}).ok, false);
});

test("apparmor: Dobby's default profile for spec containers only when AppArmor has it loaded and the settings keep it on", () => {
  const entries = () => ['dobby_default.2', 'other.1', 'dobby_defaultx.1'];
  assert.equal(apparmorProfileLoaded('dobby_default', entries), true);
  assert.equal(apparmorProfileLoaded('other', () => ['other.x']), false);
  assert.equal(apparmorProfileLoaded('dobby_default', () => { throw new Error('no apparmor'); }), false);
  const loaded = (p: string) => p === 'dobby_default';
  assert.equal(specConversionOf(check({}).settings, loaded).apparmorProfile, 'dobby_default');
  assert.equal(specConversionOf(check({ apparmor: { enable: false } }).settings, loaded).apparmorProfile, undefined);
  assert.equal(specConversionOf(check({ apparmor: { defaultProfile: 'mine' } }).settings, loaded).apparmorProfile, undefined);
});

test("the daemon's interfaces come from /proc/net/dev (its own network namespace)", () => {
  const dev = 'Inter-|   Receive\n face |bytes\n    lo: 1 2\n  eth0: 3 4\nenp0s3: 5 6\n';
  assert.deepEqual(listHostInterfaces(dev), ['lo', 'eth0', 'enp0s3']);
});

test("without --settings-file the loader reads Dobby's /etc/dobby.json, or uses the defaults when the host has none", async () => {
  const { settings, warnings } = await loadSettings(null, ctx());
  if (existsSync(DEFAULT_SETTINGS_FILE)) assert.equal(settings.source, DEFAULT_SETTINGS_FILE);
  else {
    assert.equal(settings.source, null);
    assert.deepEqual(warnings, [`missing or inaccessible settings file '${DEFAULT_SETTINGS_FILE}', using defaults`]);
  }
});
