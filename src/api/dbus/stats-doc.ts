// Builds GetStats' document (dobby-ts's own stats1 interface): cpu time, memory usage/peak/limit and pids count/limit of one container.

import type { ContainerUsage } from '../../host-services.ts';
import type { ContainerSummary } from '../../manager-types.ts';
import { formatJsonLikeJsoncpp, type JsonValue } from '../json-format.ts';
import { WIRE_STATE_NAMES } from './names.ts';

const NO_USAGE = {
  cgroupVersion: null,
  cpu: { totalNs: null, userNs: null, systemNs: null },
  memory: { usage: null, peak: null, limit: null, failcnt: null },
  pids: { current: null, limit: null },
};

/**
 * Counters in bytes, nanoseconds and tasks; -1 is "unlimited" (as in GetInfo), null "not
 * counted here" (the container has no cgroup left, or the host lacks the file).
 */
export function statsDocument(summary: ContainerSummary, usage: ContainerUsage | null): JsonValue {
  return {
    id: summary.id,
    descriptor: summary.descriptor,
    state: WIRE_STATE_NAMES[summary.wireState] ?? 'invalid',
    // restartOnCrash containers only: how often it was restarted after a crash.
    ...(summary.restarts === undefined ? {} : { restarts: summary.restarts }),
    ...(usage === null ? NO_USAGE : { cgroupVersion: usage.cgroupVersion, cpu: { ...usage.cpu }, memory: { ...usage.memory }, pids: { ...usage.pids } }),
  };
}

export function statsText(summary: ContainerSummary, usage: ContainerUsage | null): string {
  return formatJsonLikeJsoncpp(statsDocument(summary, usage));
}
