// Finds and loads one of our native addons (native/<name>/build/Release/<name>.node) from the sources or the bundle.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DobbyError } from '../errors.ts';

/**
 * The addon's path: the sources and the daemon's bundle (dist/ or a release's lib/) sit at different depths.
 * node-gyp leaves it in native/<name>/build/Release/ in a checkout; a release tree keeps it in lib/native/.
 */
export function nativeAddonPath(name: string, from: string = dirname(fileURLToPath(import.meta.url))): string | null {
  const places = [join('native', name, 'build', 'Release', `${name}.node`), join('native', `${name}.node`)];
  for (let dir = from; ; dir = dirname(dir)) {
    const found = places.map((place) => join(dir, place)).find((path) => existsSync(path));
    if (found !== undefined) return found;
    if (dirname(dir) === dir) return null;
  }
}

export function loadNativeAddon<T>(name: string): T {
  const path = nativeAddonPath(name);
  try {
    if (path === null) throw new Error(`native/${name}/build/Release/${name}.node not found`);
    return createRequire(import.meta.url)(path) as T;
  } catch (err) {
    throw new DobbyError('HOST_UNSUITABLE', `the ${name} addon does not load (${err instanceof Error ? err.message : String(err)}): run npm run build-native (\`dobbyd doctor\` says what a release needs)`, { cause: err });
  }
}
