// Builds GetInfo's document (reference §3.7): id, state, monotonic timestamp, pids, processes, cpu, memory, annotations.

import type { ContainerStats } from '../../drivers/stats/reader.ts';
import type { ContainerSummary } from '../../manager-types.ts';
import { formatJsonLikeJsoncpp, type JsonValue } from '../json-format.ts';

/** GetInfo's `state` strings, by wire state (0 is how Dobby names a leftover it cannot control). */
const STATE_NAMES = ['unknown', 'starting', 'running', 'stopping', 'paused', 'hibernating', 'hibernated', 'awakening'] as const;

const NO_MEMORY = { limit: null, usage: null, max: null, failcnt: null };

export function infoDocument(
  summary: ContainerSummary,
  stats: ContainerStats,
  annotations: ReadonlyMap<string, string> | undefined,
  timestampNs: bigint,
): JsonValue {
  const doc: Record<string, JsonValue> = {
    id: summary.id,
    state: STATE_NAMES[summary.wireState] ?? 'unknown',
    timestamp: timestampNs,
    pids: stats.pids,
    processes: stats.processes.map((p) => ({ pid: p.pid, nsPid: p.nsPid, executable: p.executable, cmdline: p.cmdline })),
    cpu: stats.cpu === null
      ? { usage: { total: null } }
      : { usage: stats.cpu.usage.percpu === undefined ? { total: stats.cpu.usage.total } : { total: stats.cpu.usage.total, percpu: stats.cpu.usage.percpu } },
    memory: { user: stats.memory === null ? NO_MEMORY : { ...stats.memory.user } },
  };
  if (annotations !== undefined && annotations.size > 0) doc['annotations'] = Object.fromEntries(annotations);
  return doc;
}

export function infoText(
  summary: ContainerSummary,
  stats: ContainerStats,
  annotations: ReadonlyMap<string, string> | undefined,
  timestampNs: bigint,
): string {
  return formatJsonLikeJsoncpp(infoDocument(summary, stats, annotations, timestampNs));
}
