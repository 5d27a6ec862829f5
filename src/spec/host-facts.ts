// Reads the host facts specToOci depends on (cgroup version, limits, devices, ...), once, at daemon start-up.

import { existsSync, readFileSync, statSync, statfsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { MountSourceKind, SpecToOciOptions } from './options.ts';
import { INIT_PATH_IN_CONTAINER } from './options.ts';

const CGROUP2_SUPER_MAGIC = 0x63677270;

export type HostFacts = Pick<
  SpecToOciOptions,
  'cgroupVersion' | 'hasLib64' | 'initTargetExists' | 'onlineCpus' | 'realtimeCpu' | 'lastCap' | 'hardLimits' | 'driverMajors' | 'mountSourceKind'
>;

const LIMIT_NAMES: Readonly<Record<string, string>> = {
  'Max open files': 'RLIMIT_NOFILE',
  'Max processes': 'RLIMIT_NPROC',
  'Max realtime priority': 'RLIMIT_RTPRIO',
};

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

/** This host's facts; anything unreadable is left to specToOci's defaults. */
export function readHostFacts(): HostFacts {
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
    onlineCpus: availableParallelism(),
    realtimeCpu: cgroupVersion === 1 && existsSync('/sys/fs/cgroup/cpu/cpu.rt_runtime_us'),
    ...(Number.isInteger(lastCap) && lastCap > 0 ? { lastCap } : {}),
    hardLimits: parseProcLimits(readText('/proc/self/limits')),
    driverMajors: parseProcDevices(readText('/proc/devices')),
    mountSourceKind,
  };
}
