// The user-visible phase of a container machine state value (GetState, List, refusals).

import type { ContainerPhase } from '../manager-types.ts';

/** The hook states of a live container, shown as the phase they belong to. */
const HOOK_STATE_PHASES: Readonly<Record<string, ContainerPhase>> = {
  constructing: 'creating',
  preStarting: 'created',
  postStarting: 'starting',
};

/** The user-visible phase of a container machine state value. */
export function phaseOf(value: unknown): ContainerPhase {
  if (typeof value === 'string') {
    if (value === 'failing' || value === 'forgetting') return 'stopping';
    if (value === 'unknown' || value === 'adopting' || value === 'stopped') return value;
    return 'unknown';
  }
  if (value !== null && typeof value === 'object') {
    if ('live' in value) {
      const live = (value as { live: unknown }).live;
      const key = typeof live === 'string' ? live : Object.keys(live as object)[0];
      if (key === undefined) return 'unknown';
      return HOOK_STATE_PHASES[key] ?? (key as ContainerPhase);
    }
    if ('exited' in value || 'failing' in value) return 'stopping';
  }
  return 'unknown';
}
