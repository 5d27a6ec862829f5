// The rtscheduling plugin's data (Dobby's rdkPlugins.rtscheduling.data): the container's
// RLIMIT_RTPRIO and the SCHED_RR priority of its init, 0 meaning Dobby's default of 6, clamped to 1-99.

import { readPluginData } from '../plugin-data.ts';

/** What 0 (or an absent field) means, as in Dobby. */
export const DEFAULT_RT_PRIORITY = 6;

export interface RtSchedulingData {
  readonly rtlimit: number;
  readonly rtdefault: number;
}

function effective(value: number): number {
  return Math.min(99, Math.max(1, value === 0 ? DEFAULT_RT_PRIORITY : value));
}

export function parseRtSchedulingData(input: unknown): { readonly data: RtSchedulingData; readonly warnings: readonly string[] } {
  // Dobby's README writes default/limit, but its parser reads only rtdefault/rtlimit.
  const d = readPluginData('rtscheduling', input, ['rtlimit', 'rtdefault'], {
    unknownHints: { limit: 'Dobby reads rtlimit', default: 'Dobby reads rtdefault' },
  });
  const rtlimit = effective(d.integer('rtlimit', 0));
  const rtdefault = effective(d.integer('rtdefault', 0));
  const warnings = [...d.warnings];
  if (rtdefault > rtlimit) warnings.push(`rtscheduling.data.rtdefault ${rtdefault} is above rtlimit ${rtlimit}; the init is given ${rtdefault} anyway (as Dobby does), but the app cannot raise a thread that high itself`);
  return { data: { rtlimit, rtdefault }, warnings };
}
