// Reads a container's pids, processes, cpu and memory counters from its cgroups and /proc, for GetInfo.

import { readFile, readlink } from 'node:fs/promises';
import { cgroupDir, parseCgroupMounts, parseProcCgroup, v1MountFor, type CgroupMounts, type CgroupPaths } from '../cgroup/index.ts';
import type { ContainerStats, MemoryStats, ProcessInfo } from '../../host-services.ts';
import { parseCmdline, parseLimit, parseNsPid, parseSingleValue, parseV2CpuTotalNs, parseValueList, type CgroupValue } from './parse.ts';

/** The file system as the stats reader sees it; tests replace it with recorded text. */
export interface StatsFs {
  readText(path: string): Promise<string | null>;
  readLink(path: string): Promise<string | null>;
}

export const hostStatsFs: StatsFs = {
  readText: (path) => readFile(path, 'utf8').catch(() => null),
  readLink: (path) => readlink(path).catch(() => null),
};

export interface StatsDirs {
  readonly version: 1 | 2;
  /** Directory holding cgroup.procs and the cpu counters. */
  readonly cpu: string | null;
  readonly memory: string | null;
  /** Directory holding pids.current and pids.max. */
  readonly pids: string | null;
}

/** Which cgroup directories to read: v1 controllers where mounted (hybrid hosts included), else the v2 tree. */
export function statsDirs(paths: CgroupPaths, mounts: CgroupMounts): StatsDirs {
  const cpuacct = v1MountFor(mounts, 'cpuacct');
  const cpuPath = paths.v1['cpuacct'];
  if (cpuacct !== null && cpuPath !== undefined) {
    const v1Dir = (controller: string): string | null => {
      const mount = v1MountFor(mounts, controller);
      const path = paths.v1[controller];
      return mount !== null && path !== undefined ? cgroupDir(mount, path) : null;
    };
    return { version: 1, cpu: cgroupDir(cpuacct, cpuPath), memory: v1Dir('memory'), pids: v1Dir('pids') };
  }
  if (mounts.v2 !== null && paths.v2 !== null) {
    const dir = cgroupDir(mounts.v2, paths.v2);
    return { version: 2, cpu: dir, memory: dir, pids: dir };
  }
  return { version: cpuacct !== null ? 1 : 2, cpu: null, memory: null, pids: null };
}

/** The cgroup directories of the container whose init has host pid `pid`; null if it is gone. */
export async function statsDirsOfPid(pid: number | null, fs: StatsFs): Promise<StatsDirs | null> {
  if (pid === null || pid <= 0) return null;
  const [procCgroup, mountinfo] = await Promise.all([fs.readText(`/proc/${pid}/cgroup`), fs.readText('/proc/self/mountinfo')]);
  if (procCgroup === null || mountinfo === null) return null;
  return statsDirs(parseProcCgroup(procCgroup), parseCgroupMounts(mountinfo));
}

const EMPTY: ContainerStats = { pids: [], processes: [], cpu: null, memory: null };

/**
 * Stats of the container whose init has host pid `pid`: the cgroup is found from
 * /proc/<pid>/cgroup (so any cgroup path the runtime chose works), mounts from /proc/self/mountinfo.
 */
export async function readContainerStats(pid: number | null, fs: StatsFs = hostStatsFs): Promise<ContainerStats> {
  const dirs = await statsDirsOfPid(pid, fs);
  if (dirs === null) return EMPTY;
  const read = (dir: string | null, file: string): Promise<string | null> =>
    dir === null ? Promise.resolve(null) : fs.readText(`${dir}/${file}`);

  const pids = parseValueList(await read(dirs.cpu, 'cgroup.procs'));
  const processes = await Promise.all(pids.map((p) => processInfo(Number(p), fs)));
  let cpu: ContainerStats['cpu'];
  if (dirs.version === 1) {
    const [total, percpu] = await Promise.all([read(dirs.cpu, 'cpuacct.usage'), read(dirs.cpu, 'cpuacct.usage_percpu')]);
    cpu = { usage: { total: parseSingleValue(total), percpu: parseValueList(percpu) } };
  } else {
    cpu = { usage: { total: parseV2CpuTotalNs(await read(dirs.cpu, 'cpu.stat')) } };
  }
  const files = dirs.version === 1
    ? ['memory.limit_in_bytes', 'memory.usage_in_bytes', 'memory.max_usage_in_bytes', 'memory.failcnt']
    : ['memory.max', 'memory.current', 'memory.peak'];
  // The limit is the first file: "unlimited" in any spelling becomes -1 (reference §3.7).
  const values = await Promise.all(files.map(async (f, i) => (i === 0 ? parseLimit : parseSingleValue)(await read(dirs.memory, f))));
  const memory = { user: { limit: values[0] ?? null, usage: values[1] ?? null, max: values[2] ?? null, failcnt: values[3] ?? null } };
  return { pids, processes, cpu, memory };
}

async function processInfo(pid: number, fs: StatsFs): Promise<ProcessInfo> {
  const [exe, cmdline, status] = await Promise.all([
    fs.readLink(`/proc/${pid}/exe`),
    fs.readText(`/proc/${pid}/cmdline`),
    fs.readText(`/proc/${pid}/status`),
  ]);
  return { pid, nsPid: parseNsPid(status, pid), executable: exe ?? '', cmdline: parseCmdline(cmdline) };
}
