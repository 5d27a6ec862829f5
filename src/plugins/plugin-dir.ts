// Loads external plugins from the plugin directory: every JavaScript/TypeScript module in it,
// checked against the plugin interface; a broken file is logged, listed and skipped.

import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from '../log.ts';
import type { PluginRegistry } from './registry.ts';
import { HookHint, type DobbyPlugin, type PluginHost } from './types.ts';
import { pluginProblem } from './validate.ts';

/** Dobby's plugin directory on RDK builds. */
export const DEFAULT_PLUGIN_DIR = '/usr/lib/plugins/dobby';

/** Files taken as plugin modules; anything else (Dobby's own .so plugins, READMEs) is passed over. */
const MODULE_EXTENSIONS = ['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts'];

/** A module whose top level (or factory) takes longer than this is given up. */
export const DEFAULT_LOAD_TIMEOUT_MS = 5_000;

export interface PluginDirReport {
  /** Plugin names installed from the directory. */
  readonly loaded: readonly string[];
  /** Files that were skipped, each with its reason (also in `registry.problems()`). */
  readonly failed: readonly { readonly file: string; readonly error: string }[];
}

/**
 * Loads every plugin module in `dir` (version-sort order) into the registry. A missing directory
 * means no external plugins. A module provides its plugin as (the first that exists):
 *   - `export default` an object with name, hookHints and hooks, or a function returning one;
 *   - `export const plugin = {...}`;
 *   - `export function createPlugin(host) {...}` returning one (or a promise of one).
 * Factories get `{ HookHint, logger }`. Names are unique (case-insensitively): a later file with
 * a name already installed, built-ins included, is refused.
 */
export async function loadPluginDir(
  dir: string,
  registry: PluginRegistry,
  logger: Logger,
  options: { readonly timeoutMs?: number } = {},
): Promise<PluginDirReport> {
  const log = logger.child({ pluginDir: dir });
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      log.debug('no plugin directory; no external plugins');
    } else {
      log.warn({ err }, 'could not read the plugin directory; no external plugins');
      registry.reportProblem({ source: dir, error: `could not read the plugin directory: ${(err as Error).message}` });
    }
    return { loaded: [], failed: [] };
  }
  const loaded: string[] = [];
  const failed: { file: string; error: string }[] = [];
  const collator = new Intl.Collator('en', { numeric: true });
  for (const name of names.sort(collator.compare)) {
    if (!MODULE_EXTENSIONS.some((ext) => name.endsWith(ext)) || name.startsWith('.')) continue;
    const file = join(dir, name);
    const info = await stat(file).catch(() => null);
    if (info === null || !info.isFile()) continue;
    try {
      const plugin = await withTimeout(loadModule(file, log), options.timeoutMs ?? DEFAULT_LOAD_TIMEOUT_MS, file);
      registry.register(plugin, file);
      loaded.push(plugin.name);
      log.info({ plugin: plugin.name, file, hookHints: plugin.hookHints }, 'plugin loaded');
    } catch (err) {
      const error = err instanceof Error ? `${err.name === 'Error' || err.name === 'DobbyError' ? '' : `${err.name}: `}${err.message}` : String(err);
      failed.push({ file, error });
      registry.reportProblem({ source: file, error });
      log.error({ file, error }, 'plugin file skipped');
    }
  }
  return { loaded, failed };
}

async function loadModule(file: string, logger: Logger): Promise<DobbyPlugin> {
  const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  const host: PluginHost = { HookHint, logger: logger.child({ pluginFile: file }) };
  let candidate: unknown;
  if (mod['default'] !== undefined) {
    candidate = typeof mod['default'] === 'function' ? await (mod['default'] as (h: PluginHost) => unknown)(host) : mod['default'];
  } else if (mod['plugin'] !== undefined) {
    candidate = mod['plugin'];
  } else if (typeof mod['createPlugin'] === 'function') {
    candidate = await (mod['createPlugin'] as (h: PluginHost) => unknown)(host);
  } else {
    throw new Error('the module exports no plugin: export default a plugin (or a function making one), or export `plugin` or `createPlugin`');
  }
  const problem = pluginProblem(candidate);
  if (problem !== null) throw new Error(`not a plugin: ${problem}`);
  return candidate as DobbyPlugin;
}

function withTimeout<T>(promise: Promise<T>, ms: number, file: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`loading ${file} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}
