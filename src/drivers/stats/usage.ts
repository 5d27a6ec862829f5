// Reads a container's resource usage (cpu time, memory usage/peak/limit, pids count/limit) from
// cgroupfs v1 or v2, for GetStats and `dobby stats`.

import type { ContainerUsage } from '../../host-services.ts';
import { parseCpuacctStat, parseFlatKey, parseLimit, parseSingleValue, parseV2CpuSplitNs, type CgroupValue } from './parse.ts';
import { hostStatsFs, statsDirsOfPid, type StatsFs } from './reader.ts';

/** The usage of the container whose init has host pid `pid`; null when it has no readable cgroup. */
export async function readContainerUsage(pid: number | null, fs: StatsFs = hostStatsFs): Promise<ContainerUsage | null> {
  const dirs = await statsDirsOfPid(pid, fs);
  if (dirs === null || (dirs.cpu === null && dirs.memory === null && dirs.pids === null)) return null;
  const read = (dir: string | null, file: string): Promise<string | null> =>
    dir === null ? Promise.resolve(null) : fs.readText(`${dir}/${file}`);
  const [pidsCurrent, pidsMax] = await Promise.all([read(dirs.pids, 'pids.current'), read(dirs.pids, 'pids.max')]);
  const pids = { current: parseSingleValue(pidsCurrent), limit: parseLimit(pidsMax) };

  if (dirs.version === 1) {
    const [total, user, sys, stat, usage, peak, limit, failcnt] = await Promise.all([
      read(dirs.cpu, 'cpuacct.usage'),
      read(dirs.cpu, 'cpuacct.usage_user'),
      read(dirs.cpu, 'cpuacct.usage_sys'),
      read(dirs.cpu, 'cpuacct.stat'),
      read(dirs.memory, 'memory.usage_in_bytes'),
      read(dirs.memory, 'memory.max_usage_in_bytes'),
      read(dirs.memory, 'memory.limit_in_bytes'),
      read(dirs.memory, 'memory.failcnt'),
    ]);
    // usage_user/usage_sys (ns, kernel 4.7+) are exact; cpuacct.stat's ticks are the fallback.
    const ticks = parseCpuacctStat(stat);
    return {
      cgroupVersion: 1,
      cpu: { totalNs: parseSingleValue(total), userNs: parseSingleValue(user) ?? ticks.user, systemNs: parseSingleValue(sys) ?? ticks.system },
      memory: { usage: parseSingleValue(usage), peak: parseSingleValue(peak), limit: parseLimit(limit), failcnt: parseSingleValue(failcnt) },
      pids,
    };
  }
  const [cpuStat, current, peak, max, events] = await Promise.all([
    read(dirs.cpu, 'cpu.stat'),
    read(dirs.memory, 'memory.current'),
    read(dirs.memory, 'memory.peak'),
    read(dirs.memory, 'memory.max'),
    read(dirs.memory, 'memory.events'),
  ]);
  const split = parseV2CpuSplitNs(cpuStat);
  const usec = parseFlatKey(cpuStat, 'usage_usec');
  return {
    cgroupVersion: 2,
    cpu: { totalNs: usec === null ? null : toNs(usec), userNs: split.user, systemNs: split.system },
    memory: { usage: parseSingleValue(current), peak: parseSingleValue(peak), limit: parseLimit(max), failcnt: parseFlatKey(events, 'max') },
    pids,
  };
}

function toNs(usec: number | bigint): number | bigint {
  const ns = BigInt(usec) * 1000n;
  return ns <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(ns) : ns;
}
