// npm run build && npm run package, then the package installed into a clean root (an overlay over / in a private
// mount namespace, without the checkout, npm, Go's schema package or esbuild) runs the demo: dobbyd started by its
// unit's ExecStart line on a system bus of its own, StartFromSpec and StartFromBundle (package/install-in-root.sh).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { versionLine } from '../../src/version.ts';

const root = join(import.meta.dirname, '..', '..');
const scratch = mkdtempSync('/tmp/dobby-package-test-');
after(() => rmSync(scratch, { recursive: true, force: true }));
const env = { ...process.env };
delete env['NODE_EXTRA_CA_CERTS'];
const missing = ['unshare', 'dpkg-deb', 'tar', 'crun', 'conmon', 'dbus-daemon', 'busybox'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);

function packaged(): { tree: string; deb: string; tarball: string } {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'build', 'package.ts'), '--out', join(scratch, 'dist')], { encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
  const [tree, deb, tarball] = r.stdout.trim().split('\n');
  assert.ok(tree !== undefined && deb !== undefined && tarball !== undefined, r.stdout);
  return { tree, deb, tarball };
}

test('npm run package: the release tree holds the bundles, addons, init, unit, policy and VERSION, nothing else', { skip: missing.length > 0 && `missing: ${missing.join(', ')}` }, async (t) => {
  const { tree, deb, tarball } = packaged();
  assert.match(tree, new RegExp(`/dobby-ts-\\d+\\.\\d+\\.\\d+-linux-${process.arch === 'arm' ? 'armv7l' : process.arch}$`));
  const listing = spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l !== '' && !l.endsWith('/'))
    .map((l) => l.slice(l.indexOf('/') + 1)).sort();
  assert.deepEqual(listing, [
    'VERSION', 'bin/dobby', 'bin/dobbyd', 'etc/dbus-1/system.d/org.rdk.dobby.conf', 'etc/systemd/dobbyd.service',
    'lib/dobby.mjs', 'lib/dobbyd.mjs', 'lib/doctor.mjs', 'lib/native/cloexec.node', 'lib/native/spawn.node', 'lib/native/unixdgram.node', 'lib/native/uwrap.node', 'libexec/DobbyInit',
  ]);
  const version = readFileSync(join(tree, 'VERSION'), 'utf8');
  assert.match(version, /^version=\d+\.\d+\.\d+\ncommit=[0-9a-f]{12}(-dirty)?\narch=\w+\nnode-abi=\d+\n$/);
  assert.match(readFileSync(join(tree, 'etc', 'systemd', 'dobbyd.service'), 'utf8'), /^ExecStart=\/usr\/lib\/dobby-ts\/bin\/dobbyd --state-dir \/run\/dobby$/m);
  // Neither the schema nor ajv's compiler is read at run time: the validator is compiled in.
  const daemon = readFileSync(join(tree, 'lib', 'dobbyd.mjs'), 'utf8');
  // A schema path only the compiled validator spells out (the bundle's identifiers are minified).
  assert.match(daemon, /schemaPath:"#\/definitions\/FilePath\/type"/);
  assert.doesNotMatch(daemon, /\/work\/|\/usr\/share\/gocode\/src\/github.com\/opencontainers\/runtime-spec\/schema\/config/);
  const control = spawnSync('dpkg-deb', ['-f', deb, 'Depends', 'Architecture'], { encoding: 'utf8' }).stdout;
  assert.match(control, /^Depends: crun \| runc, conmon, dbus, iproute2, iptables/m);
  t.diagnostic(`release tree ${spawnSync('du', ['-sk', tree], { encoding: 'utf8' }).stdout.split('\t')[0]} KiB; ${readdirSync(join(tree, '..')).join(' ')}`);

  // The clean root: every step prints "key: value".
  const ids = `pkg${process.pid}`;
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'bash', join(import.meta.dirname, 'package', 'install-in-root.sh'), deb, scratch, ids],
    { encoding: 'utf8', env, timeout: 100_000 });
  const out: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) {
    const colon = line.indexOf(': ');
    if (colon > 0) out[line.slice(0, colon)] = line.slice(colon + 2).trim();
  }
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const report = JSON.stringify(out, null, 1);
  assert.equal(out['root-npm'], 'none', report);
  assert.equal(out['root-schema'], '0', report);
  assert.equal(out['root-work'], '0', report);
  assert.doesNotMatch(out['root-node'] ?? '', /^v24\./, 'no Node 24 in the root but the package\'s');
  assert.match(out['installed'] ?? '', /^install ok installed /, report);
  assert.equal(out['DobbyDaemon'], '/usr/lib/dobby-ts/bin/dobbyd', report);
  assert.equal(out['DobbyTool'], '/usr/lib/dobby-ts/bin/dobby', report);
  assert.equal(out['DobbyInit'], 'ours', report);
  const line = versionLine().replace(/-dirty$/, '');
  assert.match(out['dobbyd-version'] ?? '', new RegExp(`^${line.replaceAll('.', '\\.')}`), report);
  assert.equal(out['dobby-version'], out['dobbyd-version'], report);
  assert.equal(out['doctor'], 'host ok', report);
  assert.equal(out['exec-start'], '/usr/lib/dobby-ts/bin/dobbyd --state-dir /run/dobby', report);
  assert.equal(out['serving'], 'org.rdk.dobby', report);
  assert.match(out['introspect'] ?? '', /<annotation name="org.rdk.dobby.Version" value="\d+\.\d+\.\d+"\/> <annotation name="org.rdk.dobby.Commit" value="[0-9a-f]{12}/, report);
  assert.equal(out['spec-exit'], '7', report);
  assert.equal(out['spec-output'], 'spec-ok from DobbyInit', report);
  assert.equal(out['bundle-exit'], '3', report);
  assert.equal(out['bundle-output'], 'bundle-ok', report);
  assert.equal(out['daemon-exit'], '0', report);
  assert.equal(out['doctor-no-policy'], 'fix: install -m 0644 /usr/lib/dobby-ts/etc/dbus-1/system.d/org.rdk.dobby.conf', report);
  assert.equal(out['left-after-remove'], '', report);
  t.diagnostic(`installed daemon's idle VmRSS: ${out['idle-rss-kib']} KiB`);
});
