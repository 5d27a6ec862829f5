// npm run build: the release tree dist/dobby-ts-<version>-linux-<arch>/, which runs with a Node 24 and nothing of the
// checkout (no node_modules, esbuild, TypeScript or schema files):
//   VERSION                       version=, commit=, arch=, node-abi= (the addons' Node ABI)
//   bin/dobbyd bin/dobby          launchers (Node: --node PATH, $DOBBY_NODE, node/bin/node here, or node on the PATH)
//   lib/dobbyd.mjs lib/dobby.mjs lib/doctor.mjs   the bundles, the OCI schema validator compiled in
//   lib/native/uwrap.node lib/native/cloexec.node lib/native/unixdgram.node lib/native/spawn.node   the native addons, built for the arch
//   libexec/DobbyInit             the containers' init (Debian's static tini for the arch)
//   etc/systemd/dobbyd.service etc/dbus-1/system.d/org.rdk.dobby.conf
// Usage: node scripts/build/release.ts [--arch x64|arm64|armv7l] [--out DIR] [--prefix DIR] [--init PATH] [--rebuild-native]
//   --prefix: where the tree is installed on the device (the unit's ExecStart); default /usr/lib/dobby-ts.
//   --init: a static init for the arch (default: /usr/bin/tini-static, for this machine's arch only).
//   Prints the tree's path.

import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gitCommit, type BuildInfo } from '../../src/version.ts';
import { assertElfFor, findArch, hostArch, type TargetArch } from './arch.ts';
import { bundle, ROOT } from './bundle.ts';
import { buildAddons } from './native.ts';
import { ociValidatorModule } from './oci-validator.ts';

export const DEFAULT_PREFIX = '/usr/lib/dobby-ts';
const TINI_STATIC = '/usr/bin/tini-static';

export interface ReleaseOptions {
  readonly arch: TargetArch;
  readonly outDir: string;
  readonly prefix: string;
  /** A static init for the arch; default Debian's tini-static (this machine's arch only). */
  readonly init?: string | undefined;
  readonly rebuildNative?: boolean;
}

export interface Release {
  readonly tree: string;
  readonly name: string;
  readonly buildInfo: BuildInfo;
  readonly arch: TargetArch;
  readonly prefix: string;
}

const ENTRIES = [
  { name: 'dobbyd', entry: 'src/daemon-main.ts' },
  { name: 'dobby', entry: 'src/api/cli/main.ts' },
  { name: 'doctor', entry: 'src/host/doctor-main.ts' },
] as const;

/** The daemon's launcher body: `dobbyd doctor`, else the daemon with the flags the checkout's bin/dobbyd explains. */
const DOBBYD_BODY = `if [ "\${1:-}" = "doctor" ]; then
  shift
  exec "$node" "$tree/lib/doctor.mjs" "$@"
fi
# Measured on the idle daemon, as bin/dobbyd in the checkout says: no optimising compilers, V8's size heuristics,
# glibc's static trim threshold (children inherit it), and --expose-gc for the one collection after start-up.
export GLIBC_TUNABLES="\${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.malloc.trim_threshold=131072"
# Run as DobbyDaemon (the package's alternative), it is Dobby's daemon: its process name, forking, see --help.
case "$(basename "$0")" in DobbyDaemon) set -- --dobby-compat "$@" ;; esac
exec "$node" --no-opt --no-maglev --no-sparkplug --optimize-for-size --expose-gc "$tree/lib/dobbyd.mjs" "$@"`;

function launcher(program: string, entry: string, body: string, release: { version: string; arch: TargetArch }): string {
  const template = readFileSync(join(ROOT, 'scripts', 'build', 'launcher.sh'), 'utf8');
  return template.replaceAll('@PROGRAM@', program).replaceAll('@ENTRY@', entry).replaceAll('@VERSION@', release.version)
    .replaceAll('@ARCH@', release.arch.node).replace('@BODY@', body);
}

/** The checkout's unit, its ExecStart and documentation pointed at the install prefix. */
function unitFor(prefix: string): string {
  const unit = readFileSync(join(ROOT, 'etc', 'systemd', 'dobbyd.service'), 'utf8');
  return unit
    .replace(/^# ExecStart assumes .*\n/m, `# ExecStart runs the release tree installed at ${prefix}.\n`)
    .replace(/^Documentation=.*\n/m, '')
    .replace(/^ExecStart=\S+/m, `ExecStart=${prefix}/bin/dobbyd`);
}

export async function buildRelease(options: ReleaseOptions): Promise<Release> {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const buildInfo: BuildInfo = { version: pkg.version, commit: gitCommit(ROOT) };
  const { arch } = options;
  const name = `dobby-ts-${pkg.version}-linux-${arch.node}`;
  const tree = join(options.outDir, name);
  const init = options.init ?? (arch.node === hostArch().node ? TINI_STATIC : undefined);
  if (init === undefined) throw new Error(`give --init PATH: a static init (tini-static) built for linux-${arch.node}`);
  assertElfFor(init, arch);

  rmSync(tree, { recursive: true, force: true });
  for (const dir of ['bin', 'lib/native', 'libexec', 'etc/systemd', 'etc/dbus-1/system.d']) mkdirSync(join(tree, dir), { recursive: true });
  const ociValidator = ociValidatorModule();
  for (const { name: bundleName, entry } of ENTRIES) {
    await bundle({ entry, outfile: join(tree, 'lib', `${bundleName}.mjs`), ociValidator, release: { buildInfo } });
  }
  buildAddons(arch, join(tree, 'lib', 'native'), options.rebuildNative === true);
  copyFileSync(init, join(tree, 'libexec', 'DobbyInit'));
  chmodSync(join(tree, 'libexec', 'DobbyInit'), 0o755);
  const launchers = { dobbyd: launcher('dobbyd', 'dobbyd', DOBBYD_BODY, { version: pkg.version, arch }), dobby: launcher('dobby', 'dobby', 'exec "$node" "$tree/lib/dobby.mjs" "$@"', { version: pkg.version, arch }) };
  for (const [program, text] of Object.entries(launchers)) writeFileSync(join(tree, 'bin', program), text, { mode: 0o755 });
  writeFileSync(join(tree, 'etc', 'systemd', 'dobbyd.service'), unitFor(options.prefix));
  copyFileSync(join(ROOT, 'etc', 'dbus-1', 'system.d', 'org.rdk.dobby.conf'), join(tree, 'etc', 'dbus-1', 'system.d', 'org.rdk.dobby.conf'));
  writeFileSync(join(tree, 'VERSION'), `version=${buildInfo.version}\ncommit=${buildInfo.commit}\narch=${arch.node}\nnode-abi=${process.versions.modules}\n`);
  return { tree, name, buildInfo, arch, prefix: options.prefix };
}

/** The command-line options shared by npm run build and npm run package (parseArgs's form). */
export const RELEASE_OPTIONS = {
  arch: { type: 'string' },
  out: { type: 'string' },
  prefix: { type: 'string' },
  init: { type: 'string' },
  'rebuild-native': { type: 'boolean' },
} as const;

/** ReleaseOptions from parsed RELEASE_OPTIONS. */
export function releaseOptions(values: { arch?: string; out?: string; prefix?: string; init?: string; 'rebuild-native'?: boolean }): ReleaseOptions {
  const archName = values.arch ?? process.arch;
  const arch = findArch(archName);
  if (arch === undefined) throw new Error(`--arch ${archName}: give x64, arm64 or armv7l (or amd64, armhf)`);
  return {
    arch,
    outDir: values.out ?? join(ROOT, 'dist'),
    prefix: values.prefix ?? DEFAULT_PREFIX,
    init: values.init,
    rebuildNative: values['rebuild-native'] === true,
  };
}

if (import.meta.main) {
  try {
    const { values } = parseArgs({ args: process.argv.slice(2), strict: true, options: RELEASE_OPTIONS });
    const release = await buildRelease(releaseOptions(values));
    process.stdout.write(`${release.tree}\n`);
  } catch (err) {
    process.stderr.write(`build: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
