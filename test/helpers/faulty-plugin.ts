// A test plugin with a sync hook at every point that fails when and how the test says (throws,
// returns false, or never resolves), for the fault-injection properties.

import { HOOK_POINTS, syncHint, type DobbyPlugin, type HookPoint } from '../../src/plugins/types.ts';

export type HookFailure = 'throw' | 'false' | 'hang';

/** `failure(point)` is asked at each hook: null lets the hook succeed. */
export function faultyPlugin(failure: (point: HookPoint) => HookFailure | null, name = 'faulty'): DobbyPlugin {
  const plugin: Record<string, unknown> = { name, hookHints: HOOK_POINTS.reduce((bits, p) => bits | syncHint(p), 0) };
  for (const point of HOOK_POINTS) {
    plugin[point] = () => {
      const how = failure(point);
      if (how === null) return true;
      if (how === 'throw') throw new Error(`injected ${point} failure`);
      if (how === 'false') return false;
      return new Promise(() => {});
    };
  }
  // Built from the hook point names: the shape is checked by the registry when it is installed.
  return plugin as unknown as DobbyPlugin;
}
