// A container's plugins as GetInfo shows them: each selected plugin with its hook runs, and the skipped ones.

import type { PluginSelection } from './selection.ts';
import type { HookPoint, HookRun } from './types.ts';

export interface PluginHookReport {
  readonly hook: HookPoint;
  readonly mode: 'sync' | 'async';
  readonly ok: boolean;
  readonly durationMs: number;
  readonly error?: string;
}

export interface PluginReport {
  readonly name: string;
  readonly kind: 'legacy' | 'rdk';
  readonly required: boolean;
  /** Why the plugin did not run (not installed); absent for a plugin that runs. */
  readonly skipped?: string;
  /** Its hook runs so far, in the order they ended. */
  readonly hooks: readonly PluginHookReport[];
}

export function pluginReport(selection: PluginSelection, runs: readonly HookRun[]): PluginReport[] {
  const ran: PluginReport[] = selection.plugins.map((p) => ({
    name: p.name,
    kind: p.kind,
    required: p.required,
    hooks: runs
      .filter((r) => r.plugin.toLowerCase() === p.name.toLowerCase())
      .map((r) => ({ hook: r.hook, mode: r.mode, ok: r.ok, durationMs: r.durationMs, ...(r.error === undefined ? {} : { error: r.error }) })),
  }));
  const skipped: PluginReport[] = selection.skipped.map((p) => ({ name: p.name, kind: p.kind, required: p.required, skipped: p.reason, hooks: [] }));
  return [...ran, ...skipped];
}
