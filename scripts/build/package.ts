// npm run package: a Debian package and a plain tarball of the release tree (npm run build's, made here first).
//   dist/dobby-ts_<version>_<debian arch>.deb    the tree in /usr/lib/dobby-ts (with a Node 24 in node/, see --node),
//     dobbyd in /usr/sbin, dobby in /usr/bin, DobbyDaemon and DobbyTool as alternatives, the unit in
//     /lib/systemd/system and the bus policy in /usr/share/dbus-1/system.d; postinst enables the unit, reloads the bus
//     and puts the init at /usr/libexec/DobbyInit where nothing is (Dobby's own stays).
//   dist/dobby-ts-<version>-linux-<arch>.tar.gz  the release tree alone (no Node: bring one, see bin/dobbyd)
// Usage: node scripts/build/package.ts [build options] [--node PATH | --no-node] [--compress zstd|xz|gzip|none] [--no-tarball]
//   --node: the Node 24 binary the package carries (default: the one running this, for this machine's arch).
//     Debian 12 has no Node 24; --no-node makes a package whose launchers use $DOBBY_NODE or node on the PATH.
//   --compress: dpkg-deb's; zstd (default) packs the 120 MB of Node in seconds, xz takes minutes for a 25 % smaller file.
// Prints the paths it made.

import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { assertElfFor, hostArch } from './arch.ts';
import { buildRelease, RELEASE_OPTIONS, releaseOptions, type Release } from './release.ts';

export interface PackageOptions {
  /** The Node 24 binary to carry, or null for none. */
  readonly node: string | null;
  readonly compress: 'xz' | 'gzip' | 'zstd' | 'none';
}

function run(command: string, args: readonly string[], cwd?: string): string {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (exit ${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** Throws unless `node` runs as Node 24 (only checkable for this machine's arch) and is built for the release's. */
function checkNode(node: string, release: Release): void {
  assertElfFor(node, release.arch);
  if (release.arch.node !== hostArch().node) return;
  const version = run(node, ['--version']).trim();
  if (!version.startsWith('v24.')) throw new Error(`--node ${node} is Node ${version}, not Node 24`);
}

const CONTROL_DEPENDS = 'crun | runc, conmon, dbus, iproute2, iptables, libc6 (>= 2.28), libstdc++6';

function control(release: Release, installedKiB: number, withNode: boolean): string {
  return [
    'Package: dobby-ts',
    `Version: ${release.buildInfo.version}`,
    `Architecture: ${release.arch.debian}`,
    'Maintainer: dobby-ts <dobby-ts@localhost>',
    `Installed-Size: ${installedKiB}`,
    `Depends: ${CONTROL_DEPENDS}`,
    'Section: admin',
    'Priority: optional',
    'Description: container supervisor daemon serving Dobby\'s D-Bus API (org.rdk.dobby)',
    ' dobbyd runs OCI containers through crun (or runc) under conmon, runs Dobby\'s plugin hooks and serves',
    ' RDK Dobby\'s D-Bus API, so Dobby clients (DobbyTool, Thunder\'s OCIContainer) keep working.',
    ` Built from commit ${release.buildInfo.commit}. ${withNode ? 'Carries its own Node 24 in /usr/lib/dobby-ts/node.' : 'Needs a Node 24: $DOBBY_NODE or node on the PATH.'}`,
    '',
  ].join('\n');
}

/** The maintainer scripts, each a POSIX sh script run by dpkg. */
function maintainerScripts(prefix: string): Record<string, string> {
  const reloadBus = `if [ -S /run/dbus/system_bus_socket ] && command -v dbus-send >/dev/null 2>&1; then
  # dbus-daemon rereads policies by itself; dbus-broker only when asked.
  dbus-send --system --type=method_call --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.ReloadConfig || true
fi`;
  const systemd = (what: string) => `if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
  ${what}
fi`;
  return {
    postinst: `#!/bin/sh
set -e
if [ "$1" = configure ]; then
  # The bus policy grants the API to the group dobby (root has it anyway).
  getent group dobby >/dev/null || groupadd --system dobby
  update-alternatives --install /usr/sbin/DobbyDaemon DobbyDaemon ${prefix}/bin/dobbyd 50
  update-alternatives --install /usr/bin/DobbyTool DobbyTool ${prefix}/bin/dobby 50
  # Spec containers see the host's /usr with their init mounted at Dobby's path: it must exist. Dobby's own stays.
  if [ ! -e /usr/libexec/DobbyInit ]; then
    install -D -m 0755 ${prefix}/libexec/DobbyInit /usr/libexec/DobbyInit
  fi
  ${reloadBus}
  if command -v deb-systemd-helper >/dev/null 2>&1; then
    deb-systemd-helper enable dobbyd.service >/dev/null || true
  fi
  ${systemd('systemctl restart dobbyd.service || true')}
fi
`,
    prerm: `#!/bin/sh
set -e
${systemd('systemctl stop dobbyd.service || true')}
if [ "$1" = remove ]; then
  update-alternatives --remove DobbyDaemon ${prefix}/bin/dobbyd
  update-alternatives --remove DobbyTool ${prefix}/bin/dobby
  # The init postinst put there, unless it has been replaced since (Dobby's own): compared while ours is still here.
  if [ -f /usr/libexec/DobbyInit ] && cmp -s /usr/libexec/DobbyInit ${prefix}/libexec/DobbyInit; then
    rm -f /usr/libexec/DobbyInit
  fi
fi
`,
    postrm: `#!/bin/sh
set -e
if [ "$1" = remove ] || [ "$1" = purge ]; then
  ${reloadBus.replaceAll('\n', '\n  ')}
  if command -v deb-systemd-helper >/dev/null 2>&1; then
    deb-systemd-helper ${'$'}{1%e}e dobbyd.service >/dev/null 2>&1 || true
  fi
  ${systemd('true').replaceAll('\n', '\n  ')}
fi
`,
  };
}

/** Stages the package's files and builds the .deb next to the tree; returns its path. */
export function buildDeb(release: Release, options: PackageOptions): string {
  const stage = mkdtempSync(join(release.tree, '..', '.deb-'));
  try {
    chmodSync(stage, 0o755); // the package's root: dpkg gives / this mode
    const prefix = join(stage, release.prefix);
    cpSync(release.tree, prefix, { recursive: true, verbatimSymlinks: true });
    if (options.node !== null) {
      checkNode(options.node, release);
      mkdirSync(join(prefix, 'node', 'bin'), { recursive: true });
      copyFileSync(options.node, join(prefix, 'node', 'bin', 'node'));
      chmodSync(join(prefix, 'node', 'bin', 'node'), 0o755);
    }
    const place = (from: string, to: string): void => {
      mkdirSync(join(stage, to, '..'), { recursive: true });
      copyFileSync(join(release.tree, from), join(stage, to));
    };
    place('etc/systemd/dobbyd.service', 'lib/systemd/system/dobbyd.service');
    place('etc/dbus-1/system.d/org.rdk.dobby.conf', 'usr/share/dbus-1/system.d/org.rdk.dobby.conf');
    for (const [link, target] of [['usr/sbin/dobbyd', 'bin/dobbyd'], ['usr/bin/dobby', 'bin/dobby']] as const) {
      mkdirSync(join(stage, link, '..'), { recursive: true });
      symlinkSync(relative(join(stage, link, '..'), join(prefix, target)), join(stage, link));
    }
    mkdirSync(join(stage, 'DEBIAN'));
    const installedKiB = Number(run('du', ['-sk', '--exclude=DEBIAN', stage]).split('\t')[0]);
    writeFileSync(join(stage, 'DEBIAN', 'control'), control(release, installedKiB, options.node !== null));
    for (const [name, text] of Object.entries(maintainerScripts(release.prefix))) {
      writeFileSync(join(stage, 'DEBIAN', name), text, { mode: 0o755 });
    }
    const deb = join(release.tree, '..', `dobby-ts_${release.buildInfo.version}_${release.arch.debian}.deb`);
    run('dpkg-deb', ['--root-owner-group', `-Z${options.compress}`, '--build', stage, deb]);
    return deb;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** The release tree as <name>.tar.gz beside it. */
export function buildTarball(release: Release): string {
  const tarball = join(release.tree, '..', `${release.name}.tar.gz`);
  run('tar', ['--owner=0', '--group=0', '-C', join(release.tree, '..'), '-czf', tarball, release.name]);
  return tarball;
}

if (import.meta.main) {
  try {
    const { values } = parseArgs({
      args: process.argv.slice(2),
      strict: true,
      options: {
        ...RELEASE_OPTIONS,
        node: { type: 'string' },
        'no-node': { type: 'boolean' },
        compress: { type: 'string' },
        'no-tarball': { type: 'boolean' },
      },
    });
    const compress = values.compress ?? 'zstd';
    if (!['xz', 'gzip', 'zstd', 'none'].includes(compress)) throw new Error(`--compress ${compress}: give xz, gzip, zstd or none`);
    const release = await buildRelease(releaseOptions(values));
    if (values['no-node'] !== true && values.node === undefined && release.arch.node !== hostArch().node) {
      throw new Error(`give --node PATH (a Node 24 binary for linux-${release.arch.node}, e.g. from the npm package node-linux-${release.arch.node}) or --no-node`);
    }
    const node = values['no-node'] === true ? null : values.node ?? process.execPath;
    const deb = buildDeb(release, { node, compress: compress as PackageOptions['compress'] });
    process.stdout.write(`${release.tree}\n${deb}\n`);
    if (values['no-tarball'] !== true) process.stdout.write(`${buildTarball(release)}\n`);
  } catch (err) {
    process.stderr.write(`package: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
