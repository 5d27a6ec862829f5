// Checks that a value is a usable DobbyPlugin (built-in or loaded from a file) before anything calls it.

import { HOOK_POINTS, asyncHint, syncHint, type DobbyPlugin } from './types.ts';

/** Every hint bit a plugin may set. */
const KNOWN_HINTS = HOOK_POINTS.reduce((bits, point) => bits | syncHint(point) | asyncHint(point), 0);

/** Why `value` is not a DobbyPlugin, or null when it is one. */
export function pluginProblem(value: unknown): string | null {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) {
    return `a plugin must be an object with name, hookHints and hook methods, got ${value === null ? 'null' : typeof value}`;
  }
  const candidate = value as Record<string, unknown>;
  const name = candidate['name'];
  if (typeof name !== 'string' || name.trim().length === 0) return 'its name must be a non-empty string';
  const hints = candidate['hookHints'];
  if (typeof hints !== 'number' || !Number.isInteger(hints) || hints < 0) {
    return `plugin '${name}': hookHints must be a whole number made of HookHint bits, got ${typeof hints === 'number' ? hints : typeof hints}`;
  }
  if ((hints & ~KNOWN_HINTS) !== 0) {
    return `plugin '${name}': hookHints 0x${hints.toString(16)} has bits that name no hook (known: 0x${KNOWN_HINTS.toString(16)})`;
  }
  for (const point of HOOK_POINTS) {
    const hinted = (hints & (syncHint(point) | asyncHint(point))) !== 0;
    if (hinted && typeof candidate[point] !== 'function') {
      return `plugin '${name}': hookHints ask for ${point}, but ${point} is ${typeof candidate[point]}, not a function`;
    }
  }
  const checkData = candidate['checkData'];
  if (checkData !== undefined && typeof checkData !== 'function') return `plugin '${name}': checkData is ${typeof checkData}, not a function`;
  return null;
}

export function isDobbyPlugin(value: unknown): value is DobbyPlugin {
  return pluginProblem(value) === null;
}

/** How a plugin runs a hook: not at all, one after another, or concurrently. Sync wins when both bits are set. */
export function hookMode(plugin: DobbyPlugin, point: (typeof HOOK_POINTS)[number]): 'sync' | 'async' | null {
  if ((plugin.hookHints & syncHint(point)) !== 0) return 'sync';
  if ((plugin.hookHints & asyncHint(point)) !== 0) return 'async';
  return null;
}
