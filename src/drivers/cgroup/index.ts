// The cgroup driver's public face: placement, OOM counters, the host's cgroup layout and the parsers behind them.

export { parseMountinfo, parseMountinfoLine, type MountEntry } from './mountinfo.ts';
export {
  cgroupDir, holdsControllers, layoutKind, parseCgroupMounts, parseControllerList, parseOomKill, parseProcCgroup,
  parseProcCgroups, v1MountFor,
  type CgroupLayoutKind, type CgroupMount, type CgroupMounts, type CgroupPaths, type CgroupV1Mount, type ControllerListOptions,
} from './parse.ts';
export {
  cgroupPathsOfPid, detectCgroupLayout, oomKillCount, readCgroupMounts, readOomKillCount, removeEmptyCgroups, type CgroupLayout,
} from './reader.ts';
