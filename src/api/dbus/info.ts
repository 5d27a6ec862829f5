// Builds GetInfo's document (reference §3.7): id, state, monotonic timestamp, pids, processes, cpu, memory, annotations, plugins.

import type { ContainerStats } from '../../host-services.ts';
import type { ContainerSummary } from '../../manager-types.ts';
import type { PluginReport } from '../../plugins/report.ts';
import { formatJsonLikeJsoncpp, type JsonValue } from '../json-format.ts';
import { dobbyCmdline, dobbyExecutable } from './dobby-process-line.ts';

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
    processes: stats.processes.map((p) => ({ pid: p.pid, nsPid: p.nsPid, executable: dobbyExecutable(p.executable), cmdline: dobbyCmdline(p.cmdline) })),
    cpu: stats.cpu === null
      ? { usage: { total: null } }
      : { usage: stats.cpu.usage.percpu === undefined ? { total: stats.cpu.usage.total } : { total: stats.cpu.usage.total, percpu: stats.cpu.usage.percpu } },
    memory: { user: stats.memory === null ? NO_MEMORY : { ...stats.memory.user } },
  };
  if (annotations !== undefined && annotations.size > 0) doc['annotations'] = Object.fromEntries(annotations);
  // Our extra key (Dobby has none like it): the container's plugins and each hook run's duration.
  if (summary.plugins !== undefined && summary.plugins.length > 0) doc['plugins'] = pluginsDocument(summary.plugins);
  return doc;
}

function pluginsDocument(plugins: readonly PluginReport[]): JsonValue {
  return plugins.map((p) => ({
    name: p.name,
    kind: p.kind,
    required: p.required,
    ...(p.skipped === undefined ? {} : { skipped: p.skipped }),
    hooks: p.hooks.map((h) => ({ hook: h.hook, mode: h.mode, ok: h.ok, durationMs: h.durationMs, ...(h.error === undefined ? {} : { error: h.error }) })),
  }));
}

export function infoText(
  summary: ContainerSummary,
  stats: ContainerStats,
  annotations: ReadonlyMap<string, string> | undefined,
  timestampNs: bigint,
): string {
  return formatJsonLikeJsoncpp(infoDocument(summary, stats, annotations, timestampNs));
}
