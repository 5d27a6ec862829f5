// Builds usocket's native addon for the Node running this script (Node 24), against that Node's own headers.
// Usage: node scripts/rebuild-usocket.ts [--force]   (npm run rebuild-usocket)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const usocketDir = join(root, 'node_modules', 'usocket');
const force = process.argv.includes('--force');
const abi = `Node ${process.version} (ABI ${process.versions.modules})`;

/** Loads usocket in a fresh process of this Node: the only honest test of the built addon. */
function loads(): { ok: boolean; error: string } {
  const env = { ...process.env };
  delete env['NODE_EXTRA_CA_CERTS'];
  const r = spawnSync(process.execPath, ['-e', "require('usocket')"], { cwd: root, env, encoding: 'utf8' });
  return { ok: r.status === 0, error: (r.stderr ?? '').split('\n').find((l) => /Error/.test(l)) ?? r.stderr ?? '' };
}

/** The Node distribution (with include/node) that matches process.execPath. */
function findNodedir(): string | undefined {
  const candidates = [
    join(root, 'node_modules', 'node', 'node_modules', `node-${process.platform}-${process.arch}`),
    resolve(dirname(process.execPath), '..'),
  ];
  return candidates.find((dir) => existsSync(join(dir, 'include', 'node', 'node_version.h')));
}

function fail(message: string): never {
  process.stderr.write(`rebuild-usocket: ${message}\n`);
  process.exit(1);
}

if (!existsSync(join(usocketDir, 'package.json'))) fail(`${usocketDir} is missing: run npm ci first`);
if (!force && loads().ok) {
  process.stdout.write(`usocket: already built for ${abi}\n`);
  process.exit(0);
}
const nodedir = findNodedir();
if (nodedir === undefined) fail(`no Node headers for ${process.version} (expected node_modules/node/node_modules/node-${process.platform}-${process.arch}/include/node)`);
const nodeGyp = join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
if (!existsSync(nodeGyp)) fail(`${nodeGyp} is missing: run npm ci first`);

process.stdout.write(`usocket: building for ${abi} with headers from ${nodedir}\n`);
const env: NodeJS.ProcessEnv = {
  ...process.env,
  PATH: [dirname(process.execPath), join(root, 'node_modules', '.bin'), process.env['PATH'] ?? ''].join(':'),
  npm_config_nodedir: nodedir, // npm run exports the user config's nodedir (Node 20's headers): override it
};
delete env['NODE_EXTRA_CA_CERTS'];
const build = spawnSync(process.execPath, [nodeGyp, 'rebuild'], { cwd: usocketDir, env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (build.status !== 0) {
  process.stderr.write(build.stdout + build.stderr);
  fail(`node-gyp rebuild failed (exit ${build.status}); it needs python3, make and g++ (apt-get install python3 make g++)`);
}
const check = loads();
if (!check.ok) fail(`built, but usocket still does not load in ${abi}: ${check.error}`);
process.stdout.write(`usocket: built and loads in ${abi}\n`);
