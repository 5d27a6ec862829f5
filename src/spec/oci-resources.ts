// The OCI `linux.resources` cgroup limits of a spec container: memory, cpu, block I/O and pids (seeds §3.3).
//
// Fields crun refuses on cgroup v2 (swappiness, disableOOMKiller, kernel memory), and any the host cannot apply
// (block I/O weight without a weighting I/O scheduler, kernel memory on Linux >= 6.1), are left out with a warning
// rather than given to crun, which would fail the start.

import type { DobbySpec } from './types.ts';
import type { OciCpu, OciDeviceRule, OciMemory, OciResources } from './oci-types.ts';
import type { SpecToOciOptions } from './options.ts';
import type { Issues } from './result.ts';
import { DEFAULT_PIDS_LIMIT } from './options.ts';
import { MAX_SPEC_CORES } from './cpuset.ts';

/** Dobby's template writes swappiness 60 on cgroup v1. */
export const DEFAULT_SWAPPINESS = 60;

/** Dobby's percentage → cgroup v1 shares, with its float32 arithmetic: int((1024.0f / 100.0f) * shares). */
export function cpuSharesFromPercent(percent: number): number {
  return Math.trunc(Math.fround(Math.fround(1024 / 100) * percent));
}

function memory(spec: DobbySpec, options: SpecToOciOptions, issues: Issues): OciMemory {
  const r = spec.resources;
  const v1 = options.cgroupVersion === 1;
  const out: OciMemory = { limit: spec.memLimit, swap: spec.swapLimit ?? -1 };
  if (r.memoryReservation !== null) out.reservation = r.memoryReservation;
  if (r.kernelMemory !== null) {
    // crun refuses kernel memory on cgroup v2 whatever the host facts say.
    if (v1 && options.kernelMemory !== false) out.kernel = r.kernelMemory;
    else {
      issues.warn(v1
        ? 'resources.kernelMemory: left out; this kernel ignores kernel memory limits (Linux 6.1 and later)'
        : 'resources.kernelMemory: left out; cgroup v2 has no kernel memory limit (crun refuses it); memLimit counts kernel memory');
    }
  }
  const swappiness = r.swappiness ?? DEFAULT_SWAPPINESS;
  if (v1 && swappiness !== -1) out.swappiness = swappiness;
  else if (!v1 && r.swappiness !== null && r.swappiness !== -1) {
    issues.warn('resources.swappiness: left out; cgroup v2 has no per-cgroup swappiness (crun refuses it), vm.swappiness applies');
  }
  if (r.oomKillDisable) {
    if (v1) out.disableOOMKiller = true;
    else issues.warn('resources.oomKillDisable: left out; cgroup v2 cannot disable the OOM killer (crun refuses it), the container is OOM-killed at memLimit');
  }
  return out;
}

function cpu(spec: DobbySpec, options: SpecToOciOptions, issues: Issues): OciCpu | undefined {
  const out: OciCpu = {};
  if (spec.cpu?.shares != null) out.shares = cpuSharesFromPercent(spec.cpu.shares);
  if (spec.resources.cpuQuota !== null) out.quota = spec.resources.cpuQuota;
  if (spec.resources.cpuPeriod !== null) out.period = spec.resources.cpuPeriod;
  if (spec.cpu?.cores != null) {
    const limit = Math.min(MAX_SPEC_CORES, options.onlineCpus ?? MAX_SPEC_CORES);
    const cores = spec.cpu.cores.filter((c) => c < limit);
    if (cores.length > 0) out.cpus = cores.join(',');
    else issues.warn(`cpu.cores: none of CPUs ${spec.cpu.cores.join(',')} is online here (${limit} CPUs); the container may use any CPU`);
  }
  if (options.realtimeCpu === true && options.cgroupVersion === 1) {
    out.realtimeRuntime = 1000;
    out.realtimePeriod = 1000000;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

export function buildResources(spec: DobbySpec, options: SpecToOciOptions, devices: OciDeviceRule[], issues: Issues): OciResources {
  const resources: OciResources = { devices, memory: memory(spec, options, issues) };
  const c = cpu(spec, options, issues);
  if (c !== undefined) resources.cpu = c;
  const weight = spec.resources.blkioWeight;
  if (weight !== null) {
    if (options.blkioWeight !== false) resources.blockIO = { weight };
    else {
      issues.warn(options.cgroupVersion === 1
        ? 'resources.blkioWeight: left out; this host\'s blkio cgroup has no blkio.weight (no CFQ I/O scheduler), crun would fail'
        : 'resources.blkioWeight: left out; this host\'s cgroup v2 has no io controller');
    }
  }
  // The spec's own limit wins over the daemon's setting; -1 means none.
  const pids = spec.resources.pidsLimit ?? (options.pidsLimit === undefined ? DEFAULT_PIDS_LIMIT : options.pidsLimit);
  if (pids !== null && pids !== -1) resources.pids = { limit: pids };
  return resources;
}
