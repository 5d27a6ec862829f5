// The cgroup driver's public face: placement, OOM counters and the host's cgroup layout.

export {
  cgroupDir, layoutKind, parseCgroupMounts, parseControllerList, parseOomKill, parseProcCgroup, v1MountFor,
  type CgroupLayoutKind, type CgroupMount, type CgroupMounts, type CgroupPaths, type CgroupV1Mount,
} from './parse.ts';
export { cgroupPathsOfPid, detectCgroupLayout, oomKillCount, readCgroupMounts, readOomKillCount, type CgroupLayout } from './reader.ts';
