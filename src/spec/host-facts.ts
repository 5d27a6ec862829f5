// Reads the host facts specToOci depends on (cgroup version, limits, devices, ...) for each spec start.

import { existsSync, readFileSync, statSync, statfsSync } from 'node:fs';
import { availableParallelism, release } from 'node:os';
import type { MountSourceKind, SpecToOciOptions } from './options.ts';
import { INIT_PATH_IN_CONTAINER } from './options.ts';

const CGROUP2_SUPER_MAGIC = 0x63677270;

export type HostFacts = Pick<
  SpecToOciOptions,
  | 'cgroupVersion' | 'hasLib64' | 'initTargetExists' | 'onlineCpus' | 'realtimeCpu' | 'lastCap' | 'hardLimits' | 'driverMajors'
  | 'mountSourceKind' | 'capSysResource' | 'oomScoreAdj' | 'blkioWeight' | 'kernelMemory' | 'hasDevLog'
>;

/** /proc/<pid>/limits row names → RLIMIT_* (fs/proc/base.c). */
export const LIMIT_NAMES: Readonly<Record<string, string>> = {
  'Max cpu time': 'RLIMIT_CPU',
  'Max file size': 'RLIMIT_FSIZE',
  'Max data size': 'RLIMIT_DATA',
  'Max stack size': 'RLIMIT_STACK',
  'Max core file size': 'RLIMIT_CORE',
  'Max resident set': 'RLIMIT_RSS',
  'Max processes': 'RLIMIT_NPROC',
  'Max open files': 'RLIMIT_NOFILE',
  'Max locked memory': 'RLIMIT_MEMLOCK',
  'Max address space': 'RLIMIT_AS',
  'Max file locks': 'RLIMIT_LOCKS',
  'Max pending signals': 'RLIMIT_SIGPENDING',
  'Max msgqueue size': 'RLIMIT_MSGQUEUE',
  'Max nice priority': 'RLIMIT_NICE',
  'Max realtime priority': 'RLIMIT_RTPRIO',
  'Max realtime timeout': 'RLIMIT_RTTIME',
};

const CAP_SYS_RESOURCE = 24;

/** Whether a /proc/<pid>/status text's CapEff holds `cap`. */
export function hasEffectiveCap(statusText: string, cap: number): boolean {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(statusText);
  return m !== null && ((BigInt(`0x${m[1]}`) >> BigInt(cap)) & 1n) === 1n;
}

/** Linux dropped kernel memory limits in 6.1 (memory.kmem.limit_in_bytes is still there but ignored). */
export function kernelHonoursKmemLimit(kernelRelease: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(kernelRelease);
  if (m === null) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major < 6 || (major === 6 && minor < 1);
}

/** Hard limits from /proc/self/limits text, by RLIMIT_* name ("unlimited" is left out). */
export function parseProcLimits(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    const name = m === null ? undefined : LIMIT_NAMES[m[1]!];
    if (m === null || name === undefined) continue;
    const hard = Number(m[3]);
    if (Number.isInteger(hard)) out[name] = hard;
  }
  return out;
}

/** Character-device driver names → majors from /proc/devices text (the first major wins for a repeated name). */
export function parseProcDevices(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  let inChar = false;
  for (const line of text.split('\n')) {
    if (/^Character devices:/.test(line)) inChar = true;
    else if (/^Block devices:/.test(line)) inChar = false;
    else if (inChar) {
      const m = /^\s*(\d+)\s+(\S+)\s*$/.exec(line);
      if (m !== null && !Object.hasOwn(out, m[2]!)) out[m[2]!] = Number(m[1]);
    }
  }
  return out;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export function mountSourceKind(source: string): MountSourceKind {
  try {
    return statSync(source).isDirectory() ? 'directory' : 'file';
  } catch {
    return 'missing';
  }
}

/** What cannot change while the daemon runs (its kernel, cgroup mount, own capabilities, the installed init). */
type FixedFacts = Pick<HostFacts, 'cgroupVersion' | 'hasLib64' | 'initTargetExists' | 'realtimeCpu' | 'lastCap' | 'capSysResource' | 'kernelMemory'>;

let fixed: FixedFacts | null = null;

function readFixedFacts(): FixedFacts {
  let cgroupVersion: 1 | 2 = 1;
  try {
    if (statfsSync('/sys/fs/cgroup').type === CGROUP2_SUPER_MAGIC) cgroupVersion = 2;
  } catch {
    // no cgroup mount: the daemon's host check reports it
  }
  const lastCap = Number(readText('/proc/sys/kernel/cap_last_cap').trim());
  return {
    cgroupVersion,
    hasLib64: existsSync('/lib64'),
    initTargetExists: existsSync(INIT_PATH_IN_CONTAINER),
    // The cpu controller alone, or co-mounted with cpuacct without the usual `cpu` link.
    realtimeCpu: cgroupVersion === 1 && ['cpu', 'cpu,cpuacct'].some((d) => existsSync(`/sys/fs/cgroup/${d}/cpu.rt_runtime_us`)),
    ...(Number.isInteger(lastCap) && lastCap > 0 ? { lastCap } : {}),
    capSysResource: hasEffectiveCap(readText('/proc/self/status'), CAP_SYS_RESOURCE),
    kernelMemory: cgroupVersion === 1 && kernelHonoursKmemLimit(release()),
  };
}

/**
 * This host's facts; anything unreadable is left to specToOci's defaults. What cannot change is read
 * once per daemon; what can (limits, oom_score_adj, drivers, /dev/log, the I/O scheduler) at each call.
 */
export function readHostFacts(): HostFacts {
  fixed ??= readFixedFacts();
  const oomScoreAdj = Number(readText('/proc/self/oom_score_adj').trim());
  const blkioWeight = fixed.cgroupVersion === 1
    // crun 1.8.1 writes blkio.weight on cgroup v1 and fails where the kernel has no CFQ (seen here: only blkio.bfq.*).
    ? existsSync('/sys/fs/cgroup/blkio/blkio.weight')
    : /(^|\s)io(\s|$)/.test(readText('/sys/fs/cgroup/cgroup.controllers'));
  return {
    ...fixed,
    onlineCpus: availableParallelism(),
    hardLimits: parseProcLimits(readText('/proc/self/limits')),
    driverMajors: parseProcDevices(readText('/proc/devices')),
    mountSourceKind,
    oomScoreAdj: Number.isInteger(oomScoreAdj) ? oomScoreAdj : 0,
    blkioWeight,
    hasDevLog: existsSync('/dev/log'),
  };
}
