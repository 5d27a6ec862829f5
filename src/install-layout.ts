// Where this dobby-ts install keeps its parts: a release tree (scripts/build/release.ts) or a checkout.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_CONTAINER_INIT } from './drivers/bundles/launch-configs.ts';
import { isReleaseBuild } from './version.ts';

export interface InstallLayout {
  readonly kind: 'release' | 'checkout';
  /** The release tree, or the checkout's root. */
  readonly root: string;
  /** The init spec containers run under (seen as /usr/libexec/DobbyInit inside). */
  readonly containerInit: string;
  /** The D-Bus policy this install ships (to go in /etc/dbus-1/system.d/). */
  readonly dbusPolicy: string;
  /** What to do when a native addon does not load. */
  readonly addonFix: string;
  /** What to do when the container init is missing. */
  readonly initFix: string;
}

/** The release tree's VERSION file as key=value pairs (empty when unreadable). */
function readVersionFile(root: string): Record<string, string> {
  try {
    return Object.fromEntries(readFileSync(join(root, 'VERSION'), 'utf8').split('\n').filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  } catch {
    return {};
  }
}

/** A release tree's layout; `root` is the tree (a release bundle runs as <root>/lib/<name>.mjs). */
export function releaseLayout(root: string): InstallLayout {
  const built = readVersionFile(root);
  const packaged = existsSync('/var/lib/dpkg/info/dobby-ts.list');
  const reinstall = packaged ? 'apt-get install --reinstall dobby-ts' : `unpack the release tree again into ${root}`;
  // The addons are built for one CPU and one Node ABI: name both, the tree's and this machine's.
  const mismatch = `${root} is built for linux-${built['arch'] ?? '?'}, Node ABI ${built['node-abi'] ?? '?'}; ` +
    `this is linux-${process.arch}, Node ${process.version} (ABI ${process.versions.modules})`;
  return {
    kind: 'release',
    root,
    containerInit: join(root, 'libexec', 'DobbyInit'),
    dbusPolicy: join(root, 'etc', 'dbus-1', 'system.d', 'org.rdk.dobby.conf'),
    addonFix: `${reinstall}, built for this CPU and a Node 24 (${mismatch})`,
    initFix: reinstall,
  };
}

function checkoutLayout(root: string): InstallLayout {
  return {
    kind: 'checkout',
    root,
    containerInit: DEFAULT_CONTAINER_INIT,
    dbusPolicy: join(root, 'etc', 'dbus-1', 'system.d', 'org.rdk.dobby.conf'),
    addonFix: 'npm run build-native',
    initFix: 'apt-get install tini',
  };
}

let cached: InstallLayout | null = null;

export function installLayout(): InstallLayout {
  if (cached !== null) return cached;
  const here = dirname(fileURLToPath(import.meta.url));
  // This module is src/install-layout.ts in a checkout, inside dist/<name>.mjs there, or inside <tree>/lib/<name>.mjs:
  // one level below the root each time.
  cached = isReleaseBuild() ? releaseLayout(dirname(here)) : checkoutLayout(dirname(here));
  return cached;
}
