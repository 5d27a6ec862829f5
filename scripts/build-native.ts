// Builds the native addons for the Node running this script (Node 24), against that Node's own headers:
// usocket (dbus-next's fd-passing transport), our own cloexec (native/cloexec), unixdgram (native/unixdgram) and spawn (native/spawn).
// Usage: node scripts/build-native.ts [--force]   (npm run build-native; npm run rebuild-usocket is the old name)
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const force = process.argv.includes('--force');
const abi = `Node ${process.version} (ABI ${process.versions.modules})`;

interface Addon {
  readonly name: string;
  readonly dir: string;
  /** What a fresh Node process requires to prove the addon loads. */
  readonly load: string;
}

const ADDONS: readonly Addon[] = [
  { name: 'usocket', dir: join(root, 'node_modules', 'usocket'), load: 'usocket' },
  { name: 'cloexec', dir: join(root, 'native', 'cloexec'), load: join(root, 'native', 'cloexec', 'build', 'Release', 'cloexec.node') },
  { name: 'unixdgram', dir: join(root, 'native', 'unixdgram'), load: join(root, 'native', 'unixdgram', 'build', 'Release', 'unixdgram.node') },
  { name: 'spawn', dir: join(root, 'native', 'spawn'), load: join(root, 'native', 'spawn', 'build', 'Release', 'spawn.node') },
];

/** Loads the addon in a fresh process of this Node: the only honest test of the built addon. */
function loads(addon: Addon): { ok: boolean; error: string } {
  const env = { ...process.env };
  delete env['NODE_EXTRA_CA_CERTS'];
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(addon.load)})`], { cwd: root, env, encoding: 'utf8' });
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

/** Our own addon's sources changed since its build (a pull brought new code): it loads, but is stale. */
function stale(addon: Addon): boolean {
  if (!addon.dir.startsWith(join(root, 'native')) || !existsSync(addon.load)) return false;
  const built = statSync(addon.load).mtimeMs;
  return readdirSync(addon.dir).some((name) => /\.(c|cc|h|gyp)$/.test(name) && statSync(join(addon.dir, name)).mtimeMs > built);
}

function fail(message: string): never {
  process.stderr.write(`build-native: ${message}\n`);
  process.exit(1);
}

function build(addon: Addon): void {
  if (!existsSync(addon.dir)) fail(`${addon.dir} is missing: run npm ci first`);
  if (!force && !stale(addon) && loads(addon).ok) {
    process.stdout.write(`${addon.name}: already built for ${abi}\n`);
    return;
  }
  const nodedir = findNodedir();
  if (nodedir === undefined) fail(`no Node headers for ${process.version} (expected node_modules/node/node_modules/node-${process.platform}-${process.arch}/include/node)`);
  const nodeGyp = join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (!existsSync(nodeGyp)) fail(`${nodeGyp} is missing: run npm ci first`);
  process.stdout.write(`${addon.name}: building for ${abi} with headers from ${nodedir}\n`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: [dirname(process.execPath), join(root, 'node_modules', '.bin'), process.env['PATH'] ?? ''].join(':'),
    npm_config_nodedir: nodedir, // npm run exports the user config's nodedir (Node 20's headers): override it
  };
  delete env['NODE_EXTRA_CA_CERTS'];
  const result = spawnSync(process.execPath, [nodeGyp, 'rebuild'], { cwd: addon.dir, env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (result.status !== 0) {
    process.stderr.write(result.stdout + result.stderr);
    fail(`node-gyp rebuild of ${addon.name} failed (exit ${result.status}); it needs python3, make and g++ (apt-get install python3 make g++)`);
  }
  const check = loads(addon);
  if (!check.ok) fail(`built, but ${addon.name} still does not load in ${abi}: ${check.error}`);
  process.stdout.write(`${addon.name}: built and loads in ${abi}\n`);
}

for (const addon of ADDONS) build(addon);
