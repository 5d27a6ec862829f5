// Which plugins a container runs: read from its bundle's config.json (`legacyPlugins`, `rdkPlugins`),
// checked against the installed ones and put in hook order (dependsOn, topologically).

import { isAbsolute, join, resolve } from 'node:path';
import { readConfigJson } from '../drivers/bundles/bundle-config.ts';
import { DobbyError } from '../errors.ts';
import type { HookPoint } from './types.ts';

export type PluginKind = 'legacy' | 'rdk';

/** One plugin a container's config asks for. */
export interface PluginEntry {
  /** As written in the config. */
  readonly name: string;
  readonly kind: PluginKind;
  readonly required: boolean;
  /** rdk plugins only: names of plugins whose setup hooks must run first. */
  readonly dependsOn: readonly string[];
  /** The plugin's `data`, as given (null when absent). */
  readonly data: unknown;
}

export interface SkippedPlugin {
  readonly name: string;
  readonly kind: PluginKind;
  readonly required: boolean;
  readonly reason: string;
}

/** Plain data (it lives in the container machine's context): the plugins are looked up by name when a hook runs. */
export interface PluginSelection {
  /**
   * The installed plugins to run, in the order the setup hooks (postConstruction, preStart,
   * postStart) run them; postStop and preDestruction run them in the reverse order.
   * Legacy plugins come first (Dobby runs its legacy postConstruction before the rdk hooks).
   */
  readonly plugins: readonly PluginEntry[];
  /** Plugins the config names that are not installed and were skipped with a warning. */
  readonly skipped: readonly SkippedPlugin[];
  /** Absolute path of the container's rootfs on the host (`root.path`, relative to the bundle). */
  readonly rootfs: string;
  /** The bundle the config was read from (plugins read the container's user and mappings there). */
  readonly bundle?: string;
  /**
   * Every selected plugin's postStop and preDestruction need nothing of the runtime's container
   * (they say so, or have none): after an exit, the runtime deletes it while they run.
   */
  readonly teardownBesideRuntime?: boolean;
  /**
   * The hook points at which a selected plugin has a hook: the container's states for the others
   * are skipped. Absent: not worked out, every point is entered.
   */
  readonly hookPoints?: readonly HookPoint[];
}

/** Plugin names are matched case-insensitively everywhere (Dobby lowercases rdk plugin names). */
export function pluginKey(name: string): string {
  return name.toLowerCase();
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function bad(path: string, message: string): DobbyError {
  return new DobbyError('BUNDLE_INVALID', `config.json ${path}: ${message}`);
}

function readEntries(config: Record<string, unknown>, kind: PluginKind): PluginEntry[] {
  const section = kind === 'rdk' ? 'rdkPlugins' : 'legacyPlugins';
  const raw = Object.hasOwn(config, section) ? config[section] : undefined;
  if (raw === undefined || raw === null) return [];
  if (!isObject(raw)) throw bad(section, `must be an object of {"<plugin name>": {"required": bool, "data": {...}}}, got ${describe(raw)}`);
  const entries: PluginEntry[] = [];
  const seen = new Map<string, string>();
  for (const [name, value] of Object.entries(raw)) {
    const path = `${section}.${name}`;
    if (name.length === 0) throw bad(section, 'has a plugin with an empty name');
    const other = seen.get(pluginKey(name));
    if (other !== undefined) throw bad(path, `names the same plugin as ${section}.${other} (names are case-insensitive); list it once`);
    seen.set(pluginKey(name), name);
    if (value !== null && !isObject(value)) throw bad(path, `must be an object like {"required": false, "data": {}}, got ${describe(value)}`);
    const entry = value ?? {};
    const required = Object.hasOwn(entry, 'required') ? entry['required'] : undefined;
    if (required !== undefined && required !== null && typeof required !== 'boolean') {
      throw bad(`${path}.required`, `must be true or false, got ${describe(required)}`);
    }
    let dependsOn: string[] = [];
    const deps = Object.hasOwn(entry, 'dependsOn') ? entry['dependsOn'] : undefined;
    if (deps !== undefined && deps !== null) {
      if (kind === 'legacy') throw bad(`${path}.dependsOn`, 'legacy plugins run in the order they are listed; dependsOn is for rdkPlugins only');
      if (!Array.isArray(deps) || !deps.every((d): d is string => typeof d === 'string' && d.length > 0)) {
        throw bad(`${path}.dependsOn`, `must be an array of plugin names, got ${describe(deps)}`);
      }
      dependsOn = deps;
    }
    const data = Object.hasOwn(entry, 'data') ? (entry['data'] ?? null) : null;
    // Dobby's rdk default is required=false; a legacy entry is required unless it says otherwise.
    entries.push({ name, kind, required: typeof required === 'boolean' ? required : kind === 'legacy', dependsOn, data });
  }
  return entries;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

/**
 * Dobby's base order of rdk plugins: the order of its config schema (defs-plugins.json), not the
 * order the config lists them in. Plugins Dobby does not know (our plugin files) follow, as listed.
 */
export const DOBBY_PLUGIN_ORDER: readonly string[] = [
  'appservicesrdk', 'ipc', 'gpu', 'ionmemory', 'logging', 'networking', 'storage', 'minidump', 'localtime',
  'rtscheduling', 'httpproxy', 'thunder', 'testrdkplugin', 'oomcrash', 'devicemapper', 'gamepad',
];

function baseRank(name: string): number {
  const rank = DOBBY_PLUGIN_ORDER.indexOf(pluginKey(name));
  return rank < 0 ? DOBBY_PLUGIN_ORDER.length : rank;
}

/**
 * Orders rdk plugins as Dobby's dependency solver does: plugins are taken in Dobby's base order
 * (DOBBY_PLUGIN_ORDER, then unknown ones as listed) and each one's dependencies are put right
 * before it, depth first, unless already placed (so without dependsOn this is the base order).
 * A dependency on a plugin not in the config, or a cycle, is an error naming the plugins.
 */
export function orderByDependencies(entries: readonly PluginEntry[]): PluginEntry[] {
  const index = new Map(entries.map((e, i) => [pluginKey(e.name), i]));
  const deps = entries.map((e) =>
    e.dependsOn.map((d) => {
      const i = index.get(pluginKey(d));
      if (i === undefined) {
        const known = entries.map((x) => x.name).join(', ');
        throw bad(`rdkPlugins.${e.name}.dependsOn`, `names '${d}', which is not in rdkPlugins (it has: ${known}); add '${d}' or remove the dependency`);
      }
      return i;
    }),
  );
  const base = entries.map((_, i) => i).sort((a, b) => baseRank(entries[a]!.name) - baseRank(entries[b]!.name) || a - b);
  const placed = new Set<number>();
  const order: PluginEntry[] = [];
  const path: number[] = [];
  const visit = (i: number): void => {
    if (placed.has(i)) return;
    const at = path.indexOf(i);
    if (at >= 0) {
      const cycle = [...path.slice(at), i].map((n) => entries[n]!.name);
      throw bad('rdkPlugins', `the dependsOn entries form a cycle: ${cycle.join(' -> ')}; a plugin cannot (indirectly) depend on itself`);
    }
    path.push(i);
    for (const d of deps[i]!) visit(d);
    path.pop();
    placed.add(i);
    order.push(entries[i]!);
  };
  for (const i of base) visit(i);
  return order;
}

export interface SelectOptions {
  /** Whether a plugin of this name (matched case-insensitively) is installed. */
  readonly isInstalled: (name: string) => boolean;
  /** Told about every plugin that is skipped. */
  readonly warn?: (skipped: SkippedPlugin) => void;
  /** Skip (with a warning) a required plugin that is not installed instead of failing: for teardown hooks. */
  readonly skipMissingRequired?: boolean;
}

/**
 * The plugins a container's config selects. Rules: a `required: false` rdk plugin that is not
 * installed is skipped with a warning, a required one fails the start; a legacy plugin that is not
 * installed is skipped with a warning whatever its `required` says, as Dobby's legacy plugin
 * manager does (the spec converter marks every legacy plugin required).
 */
export function selectPlugins(config: unknown, bundle: string, options: SelectOptions): PluginSelection {
  if (!isObject(config)) throw new DobbyError('BUNDLE_INVALID', `config.json in '${bundle}' is not a JSON object`);
  const legacy = readEntries(config, 'legacy');
  const rdk = orderByDependencies(readEntries(config, 'rdk'));
  const plugins: PluginEntry[] = [];
  const skipped: SkippedPlugin[] = [];
  for (const entry of [...legacy, ...rdk]) {
    if (options.isInstalled(entry.name)) {
      plugins.push(entry);
      continue;
    }
    if (entry.kind === 'rdk' && entry.required && options.skipMissingRequired !== true) {
      throw new DobbyError(
        'BUNDLE_INVALID',
        `config.json rdkPlugins.${entry.name} is required, but no plugin named '${entry.name}' is installed; install it or set "required": false`,
      );
    }
    const skip: SkippedPlugin = { name: entry.name, kind: entry.kind, required: entry.required, reason: `no plugin named '${entry.name}' is installed` };
    skipped.push(skip);
    options.warn?.(skip);
  }
  return { plugins, skipped, rootfs: rootfsOf(config, bundle), bundle };
}

function rootfsOf(config: Record<string, unknown>, bundle: string): string {
  const root = config['root'];
  const path = isObject(root) && typeof root['path'] === 'string' && root['path'].length > 0 ? root['path'] : 'rootfs';
  return isAbsolute(path) ? path : resolve(bundle, path);
}

/**
 * Reads `<bundle>/config.json` and selects its plugins. A config that cannot be read or parsed
 * selects none: the create step then fails with the runtime's own account of what is wrong.
 */
export async function readPluginSelection(bundle: string, options: SelectOptions): Promise<PluginSelection> {
  let config: unknown;
  try {
    config = await readConfigJson(bundle);
  } catch {
    return { plugins: [], skipped: [], rootfs: join(bundle, 'rootfs') };
  }
  if (!isObject(config)) return { plugins: [], skipped: [], rootfs: join(bundle, 'rootfs') };
  return selectPlugins(config, bundle, options);
}
