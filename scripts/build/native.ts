// Build step: the native addons (usocket's uwrap.node, our cloexec.node, unixdgram.node and spawn.node) for a release's CPU. For this machine's CPU
// they are the checkout's own (npm run build-native builds and load-tests them); for another CPU node-gyp builds
// them with --arch and Debian's cross toolchain (g++-<triplet>), against the same Node 24 headers.

import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertElfFor, hostArch, type TargetArch } from './arch.ts';
import { ROOT } from './bundle.ts';

interface AddonSource {
  /** The file in the release tree's lib/native/. */
  readonly file: string;
  readonly dir: string;
  /** What node-gyp needs of the source dir. */
  readonly parts: readonly string[];
  /** Where the checkout's own build leaves it. */
  readonly built: string;
}

const ADDONS: readonly AddonSource[] = [
  { file: 'uwrap.node', dir: join(ROOT, 'node_modules', 'usocket'), parts: ['binding.gyp', 'src'], built: join('build', 'Release', 'uwrap.node') },
  { file: 'cloexec.node', dir: join(ROOT, 'native', 'cloexec'), parts: ['binding.gyp', 'cloexec.c'], built: join('build', 'Release', 'cloexec.node') },
  { file: 'unixdgram.node', dir: join(ROOT, 'native', 'unixdgram'), parts: ['binding.gyp', 'unixdgram.c'], built: join('build', 'Release', 'unixdgram.node') },
  { file: 'spawn.node', dir: join(ROOT, 'native', 'spawn'), parts: ['binding.gyp', 'spawn.c'], built: join('build', 'Release', 'spawn.node') },
];

function run(command: string, args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): void {
  const env = { ...(options.env ?? process.env) };
  delete env['NODE_EXTRA_CA_CERTS'];
  const r = spawnSync(command, args, { cwd: options.cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (exit ${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
}

/** The headers of the Node 24 the checkout runs (node-gyp's --nodedir); the same for every CPU. */
function nodeHeaders(): string {
  const dir = join(ROOT, 'node_modules', 'node', 'node_modules', `node-linux-${hostArch().node}`);
  if (!existsSync(join(dir, 'include', 'node', 'node_version.h'))) throw new Error(`no Node headers in ${dir}: run npm run setup`);
  return dir;
}

/** The cross compilers for `arch`, or why they are missing. */
export function crossToolchain(arch: TargetArch): { cc: string; cxx: string } | string {
  const cc = `${arch.triplet}-gcc`;
  const cxx = `${arch.triplet}-g++`;
  const missing = [cc, cxx].filter((tool) => spawnSync(tool, ['--version']).status !== 0);
  if (missing.length === 0) return { cc, cxx };
  return `the cross toolchain for linux-${arch.node} is missing (${missing.join(', ')}): apt-get install gcc-${arch.triplet} g++-${arch.triplet}`;
}

/** Builds one addon for `arch` in a scratch copy of its sources; returns the .node file's path (inside `scratch`). */
function crossBuild(addon: AddonSource, arch: TargetArch, scratch: string): string {
  const tools = crossToolchain(arch);
  if (typeof tools === 'string') throw new Error(tools);
  const dir = join(scratch, addon.file);
  for (const part of addon.parts) cpSync(join(addon.dir, part), join(dir, part), { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CC: tools.cc, CXX: tools.cxx, LINK: tools.cxx, AR: `${arch.triplet}-ar`,
    // binding.gyp runs `node -e "require('nan')"` for its include dir: from the scratch copy, nan is the checkout's.
    NODE_PATH: join(ROOT, 'node_modules'),
    PATH: [join(ROOT, 'node_modules', '.bin'), process.env['PATH'] ?? ''].join(':'),
    npm_config_nodedir: nodeHeaders(),
  };
  const nodeGyp = join(ROOT, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  run(process.execPath, [nodeGyp, 'rebuild', `--arch=${arch.gyp}`, `--nodedir=${nodeHeaders()}`], { cwd: dir, env });
  return join(dir, addon.built);
}

/**
 * Puts both addons for `arch` into `outDir`, each checked to be an ELF binary for that CPU.
 * `rebuild`: build for this machine's CPU in a scratch copy too, instead of taking the checkout's build.
 */
export function buildAddons(arch: TargetArch, outDir: string, rebuild = false): void {
  mkdirSync(outDir, { recursive: true });
  const native = arch.node === hostArch().node && !rebuild;
  if (native) run(process.execPath, [join(ROOT, 'scripts', 'build-native.ts')], { cwd: ROOT });
  const scratch = mkdtempSync(join(tmpdir(), 'dobby-native-'));
  try {
    for (const addon of ADDONS) {
      const built = native ? join(addon.dir, addon.built) : crossBuild(addon, arch, scratch);
      assertElfFor(built, arch);
      copyFileSync(built, join(outDir, addon.file));
      // Debug symbols are no use on a device (-30 % of the file).
      run(`${arch.triplet}-strip`, ['--strip-unneeded', join(outDir, addon.file)], { cwd: outDir });
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
