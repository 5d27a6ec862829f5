// A bundle dir of dobbyd's own around a launch config, for runtimes without `create --config` (runc).

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';

type Json = { [key: string]: unknown };

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The launch config with every path the runtime resolves against the bundle dir made absolute
 * against the caller's bundle: root.path and the sources of bind mounts.
 */
export function anchorToBundle(config: Json, bundle: string): Json {
  const out = structuredClone(config);
  const root = out['root'];
  if (isObject(root) && typeof root['path'] === 'string' && !isAbsolute(root['path'])) root['path'] = resolve(bundle, root['path']);
  const mounts = out['mounts'];
  if (Array.isArray(mounts)) {
    for (const mount of mounts) {
      if (!isObject(mount) || typeof mount['source'] !== 'string' || isAbsolute(mount['source'])) continue;
      const options = Array.isArray(mount['options']) ? mount['options'] : [];
      if (mount['type'] === 'bind' || options.includes('bind') || options.includes('rbind')) mount['source'] = resolve(bundle, mount['source']);
    }
  }
  return out;
}

/** Writes `<dir>/config.json` from the launch config, anchored to the caller's bundle; returns `dir`. */
export async function writeShadowBundle(dir: string, bundle: string, configPath: string): Promise<string> {
  const config = JSON.parse(await readFile(configPath, 'utf8')) as Json;
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await writeFile(join(dir, 'config.json'), JSON.stringify(anchorToBundle(config, bundle)), { mode: 0o600 });
  return dir;
}
