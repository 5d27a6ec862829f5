// The installed plugins: built-in ones registered by the composition root and external ones loaded
// from the plugin directory, looked up case-insensitively by name; load problems are kept for listing.

import { DobbyError } from '../errors.ts';
import { pluginKey } from './selection.ts';
import type { DobbyPlugin } from './types.ts';
import { pluginProblem } from './validate.ts';

/** Where a plugin came from: `builtin`, or the file it was loaded from. */
export interface InstalledPlugin {
  readonly name: string;
  readonly source: string;
  readonly plugin: DobbyPlugin;
}

/** A plugin file that could not be loaded (or a plugin that could not be registered). */
export interface PluginProblem {
  readonly source: string;
  readonly error: string;
}

export class PluginRegistry {
  readonly #plugins = new Map<string, InstalledPlugin>();
  readonly #problems: PluginProblem[] = [];

  /**
   * Installs a plugin. Throws a DobbyError (INVALID_ARGUMENT) when it does not have the plugin
   * shape or when a plugin of the same name (case-insensitively) is already installed: the first
   * one stays, so a file in the plugin directory never replaces a built-in plugin.
   */
  register(plugin: DobbyPlugin, source = 'builtin'): void {
    const problem = pluginProblem(plugin);
    if (problem !== null) throw new DobbyError('INVALID_ARGUMENT', `cannot install the plugin from ${source}: ${problem}`);
    const existing = this.#plugins.get(pluginKey(plugin.name));
    if (existing !== undefined) {
      throw new DobbyError(
        'INVALID_ARGUMENT',
        `cannot install plugin '${plugin.name}' from ${source}: plugin '${existing.name}' from ${existing.source} is already installed (names are case-insensitive)`,
      );
    }
    this.#plugins.set(pluginKey(plugin.name), { name: plugin.name, source, plugin });
  }

  /** The plugin of that name, matched case-insensitively. */
  get(name: string): DobbyPlugin | undefined {
    return this.#plugins.get(pluginKey(name))?.plugin;
  }

  has(name: string): boolean {
    return this.#plugins.has(pluginKey(name));
  }

  /** Every installed plugin, sorted by name. */
  list(): InstalledPlugin[] {
    return [...this.#plugins.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Records a plugin that could not be installed, for `problems()`. */
  reportProblem(problem: PluginProblem): void {
    this.#problems.push(problem);
  }

  /** Plugin files that were skipped, and why. */
  problems(): readonly PluginProblem[] {
    return [...this.#problems];
  }
}
