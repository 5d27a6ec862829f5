// Spec extensions (docs/spec-extensions.md): `resources`, `readonlyRootfs`, `hostNamespaces`, `noNewPrivileges`.
//
// Dobby ignores unknown top-level keys, so a spec using them still starts under Dobby (without their effect).
// Checks that need other fields (memLimit, userNs, network, rtPriority) are in checkExtensions.

import type { Issues } from './result.ts';
import type { DobbySpec, HostNamespace, SpecResources } from './types.ts';
import { parseRlimits } from './rlimits.ts';
import { childPath, has, indexPath, own, quote, readBoolean, readInteger, readObject, warnUnknownKeys, wrongType } from './json-read.ts';

export const RESOURCE_FIELDS = [
  'cpuQuota', 'cpuPeriod', 'pidsLimit', 'blkioWeight', 'memoryReservation', 'kernelMemory', 'swappiness',
  'oomKillDisable', 'oomScoreAdj', 'rlimits',
] as const;

export const NO_RESOURCES: SpecResources = {
  cpuQuota: null, cpuPeriod: null, pidsLimit: null, blkioWeight: null, memoryReservation: null, kernelMemory: null,
  swappiness: null, oomKillDisable: false, oomScoreAdj: null, rlimits: [],
};

/** The kernel's bounds for CFS bandwidth (kernel/sched/core.c): period 1 ms..1 s, quota >= 1 ms, < 2^44 us. */
export const CPU_PERIOD_RANGE = { min: 1000, max: 1_000_000 };
export const CPU_QUOTA_RANGE = { min: 1000, max: 2 ** 44 - 1 };
/** Docker's floor for kernel memory limits (daemon_unix.go, v1.10). */
export const MIN_KERNEL_MEMORY = 4 * 1024 * 1024;
/** PID_MAX_LIMIT on 64-bit kernels. */
export const MAX_PIDS = 4 * 1024 * 1024;

type Reader = (issues: Issues, path: string, value: unknown) => number | boolean | undefined;

const int = (min: number, max: number, hint: string): Reader =>
  (issues, path, value) => readInteger(issues, path, value, { min, max, hint });

const READERS: Record<Exclude<(typeof RESOURCE_FIELDS)[number], 'rlimits'>, Reader> = {
  cpuQuota: int(CPU_QUOTA_RANGE.min, CPU_QUOTA_RANGE.max,
    'give microseconds of CPU time per period, at least 1000 (e.g. 50000 with cpuPeriod 100000 for half a CPU)'),
  cpuPeriod: int(CPU_PERIOD_RANGE.min, CPU_PERIOD_RANGE.max, 'give the period in microseconds, 1000..1000000 (the kernel default is 100000)'),
  pidsLimit: (issues, path, value) => (value === -1
    ? -1
    : readInteger(issues, path, value, { min: 1, max: MAX_PIDS, hint: `give the most tasks the container may have (1..${MAX_PIDS}), or -1 for no limit` })),
  blkioWeight: int(10, 1000, 'the block I/O weight is 10..1000 (leave it out for the default)'),
  memoryReservation: int(1, Number.MAX_SAFE_INTEGER, 'give the soft memory limit in bytes, at most memLimit'),
  kernelMemory: int(MIN_KERNEL_MEMORY, Number.MAX_SAFE_INTEGER, `give kernel memory in bytes, at least ${MIN_KERNEL_MEMORY} (4 MiB)`),
  swappiness: int(-1, 100, 'swappiness is 0..100, or -1 to leave the kernel\'s value'),
  oomKillDisable: (issues, path, value) => readBoolean(issues, path, value),
  oomScoreAdj: int(-1000, 1000, 'oom_score_adj is -1000..1000'),
};

export function parseResourcesExtension(issues: Issues, value: unknown): SpecResources | undefined {
  const obj = readObject(issues, 'resources', value, '{"cpuQuota": 50000, "pidsLimit": 64, "rlimits": {"nofile": 1024}}');
  if (obj === undefined) return undefined;
  warnUnknownKeys(issues, 'resources', obj, RESOURCE_FIELDS);
  const out: { -readonly [K in keyof SpecResources]: SpecResources[K] } = { ...NO_RESOURCES };
  let bad = false;
  for (const [key, read] of Object.entries(READERS) as [keyof typeof READERS, Reader][]) {
    const raw = own(obj, key);
    if (raw === undefined || raw === null) continue;
    const v = read(issues, childPath('resources', key), raw);
    if (v === undefined) bad = true;
    else (out as Record<string, unknown>)[key] = v;
  }
  if (has(obj, 'rlimits') && own(obj, 'rlimits') !== null) {
    const rlimits = parseRlimits(issues, 'resources.rlimits', own(obj, 'rlimits'));
    if (rlimits === undefined) bad = true;
    else out.rlimits = rlimits;
  }
  return bad ? undefined : out;
}

const HOST_NAMESPACES: readonly HostNamespace[] = ['network', 'ipc', 'pid', 'uts'];

export function parseHostNamespaces(issues: Issues, value: unknown): HostNamespace[] | undefined {
  if (!Array.isArray(value)) {
    wrongType(issues, 'hostNamespaces', 'an array like ["ipc", "uts"] (any of "network", "ipc", "pid", "uts")', value);
    return undefined;
  }
  const out: HostNamespace[] = [];
  let bad = false;
  value.forEach((entry: unknown, i) => {
    const path = indexPath('hostNamespaces', i);
    if (typeof entry !== 'string') {
      wrongType(issues, path, '"network", "ipc", "pid" or "uts"', entry);
      bad = true;
    } else if (!(HOST_NAMESPACES as readonly string[]).includes(entry)) {
      const hint = entry === 'user' || entry === 'mount' || entry === 'cgroup'
        ? `the ${entry} namespace is always the container's own`
        : 'use "network", "ipc", "pid" or "uts"';
      issues.error('UNKNOWN_NAME', path, `${quote(entry, 30)} is not a namespace the container can share with the host; ${hint}`);
      bad = true;
    } else if (out.includes(entry as HostNamespace)) {
      issues.warn(`${path}: '${entry}' is listed twice`);
    } else {
      out.push(entry as HostNamespace);
    }
  });
  return bad ? undefined : out;
}

export function parseReadonlyRootfs(issues: Issues, value: unknown): boolean | undefined {
  return readBoolean(issues, 'readonlyRootfs', value);
}

export function parseNoNewPrivileges(issues: Issues, value: unknown): boolean | undefined {
  return readBoolean(issues, 'noNewPrivileges', value);
}

/** Checks between an extension and the other fields; each names the extension field. */
export function checkExtensions(
  spec: Pick<DobbySpec, 'resources' | 'memLimit' | 'rtPriority' | 'userNs' | 'network' | 'hostNamespaces'>, issues: Issues,
): void {
  const r = spec.resources;
  if (r.memoryReservation !== null && r.memoryReservation > spec.memLimit) {
    issues.sentence('OUT_OF_RANGE', 'resources.memoryReservation',
      `resources.memoryReservation (${r.memoryReservation}) must be <= memLimit (${spec.memLimit}); it is a soft limit below the hard one`);
  }
  if (r.kernelMemory !== null && r.kernelMemory > spec.memLimit) {
    issues.sentence('OUT_OF_RANGE', 'resources.kernelMemory',
      `resources.kernelMemory (${r.kernelMemory}) must be <= memLimit (${spec.memLimit})`);
  }
  if (spec.rtPriority !== null && r.rlimits.some((l) => l.type === 'RLIMIT_RTPRIO')) {
    const name = r.rlimits.find((l) => l.type === 'RLIMIT_RTPRIO')!.name;
    issues.error('NOT_ALLOWED', childPath('resources.rlimits', name),
      'RLIMIT_RTPRIO is set by the rtscheduling plugin from rtPriority; give one or the other');
  }
  const host = spec.hostNamespaces;
  const at = (ns: HostNamespace) => indexPath('hostNamespaces', host.indexOf(ns));
  if (host.includes('pid') && spec.userNs) {
    issues.error('NOT_ALLOWED', at('pid'),
      "the host's pid namespace needs \"userNs\": false; a user namespace cannot mount /proc for a pid namespace it does not own");
  }
  if (host.includes('network') && (spec.network === 'nat' || spec.network === 'private')) {
    issues.error('NOT_ALLOWED', at('network'),
      `the host's network namespace contradicts "network": "${spec.network}", which gives the container its own; ` +
      'leave out one of them (or use "network": "open")');
  }
}
