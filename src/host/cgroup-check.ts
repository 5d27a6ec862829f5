// Finds the cgroup problems that stop containers: no cgroups, hybrid layout crun refuses, no memory/freezer.
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { dirname, join } from 'node:path';
import type { HostProblem } from './problem.ts';
import {
  holdsControllers, layoutKind, parseCgroupMounts, parseControllerList, parseProcCgroups, v1MountFor, type CgroupMounts,
} from '../drivers/cgroup/index.ts';

export interface CgroupInputs {
  /** Text of /proc/self/mountinfo. */
  readonly mountinfo: string;
  /** Reads `<cgroup2 mount>/cgroup.controllers`; undefined when unreadable. */
  readonly readControllers: (mountPoint: string) => string | undefined;
  /** Text of /proc/cgroups, when known (tells "not mounted" from "not in the kernel"). */
  readonly procCgroups?: string | undefined;
  /** `uname -r`, for the cgroup v2 freezer (kernel 5.2 or later). */
  readonly kernelRelease?: string | undefined;
  /** Basename of the OCI runtime that will run containers (`crun`, `runc`, ...). */
  readonly runtimeName: string;
}

const REQUIRED_CONTROLLERS = ['memory', 'freezer'] as const;

/** Where new v1 hierarchies go: beside the existing ones, else /sys/fs/cgroup. */
function v1Base(mounts: CgroupMounts): string {
  const first = mounts.v1.find(holdsControllers);
  return first !== undefined ? dirname(first.mountPoint) : '/sys/fs/cgroup';
}

/** The command that mounts one controller as its own v1 hierarchy. */
export function mountV1Command(base: string, controller: string): string {
  const dir = join(base, controller);
  return `mkdir -p ${dir} && mount -t cgroup -o ${controller} cgroup ${dir}`;
}

function kernelAtLeast(releaseText: string | undefined, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(releaseText ?? '');
  if (m === null) return true; // unknown: do not complain
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > major || (maj === major && min >= minor);
}

/** Pure: the cgroup problems implied by the given inputs. */
export function cgroupProblems(input: CgroupInputs): HostProblem[] {
  const mounts = parseCgroupMounts(input.mountinfo);
  const problems: HostProblem[] = [];
  // Not layoutKind's 'none': named-only v1 hierarchies (e.g. name=systemd) are mounts, just without controllers.
  if (mounts.v2 === null && mounts.v1.length === 0) {
    return [{
      code: 'cgroup-none',
      what: 'no cgroup filesystem is mounted (none in /proc/self/mountinfo)',
      fix: 'mount -t cgroup2 cgroup2 /sys/fs/cgroup',
      fatal: true,
    }];
  }
  const layout = layoutKind(mounts);
  const v2Held = mounts.v2 !== null ? parseControllerList(input.readControllers(mounts.v2.mountPoint), { sorted: true }) : [];
  const base = v1Base(mounts);
  const isCrun = input.runtimeName.includes('crun');
  if (layout === 'hybrid' && v2Held.length > 0) {
    problems.push({
      code: 'cgroup-hybrid-controllers',
      what: `crun 1.8 refuses hybrid cgroups while cgroup2 holds controllers: ${v2Held.join(', ')}` +
        ` (cgroup2 at ${mounts.v2!.mountPoint}${isCrun ? '' : `; ${input.runtimeName} may not mind`})`,
      fix: v2Held.map((c) => mountV1Command(base, c)).join(' && '),
      fatal: isCrun,
    });
  }
  const enabled = input.procCgroups !== undefined ? parseProcCgroups(input.procCgroups) : undefined;
  if (layout === 'v2') {
    if (!v2Held.includes('memory')) {
      problems.push({
        code: 'cgroup-memory-missing',
        what: `the cgroup2 hierarchy at ${mounts.v2!.mountPoint} has no memory controller (cgroup.controllers: ${v2Held.join(' ') || 'empty'})`,
        fix: 'boot the kernel with cgroup_enable=memory (and CONFIG_MEMCG=y)',
        fatal: true,
      });
    }
    if (!kernelAtLeast(input.kernelRelease, 5, 2)) {
      problems.push({
        code: 'cgroup-freezer-missing',
        what: `kernel ${input.kernelRelease} is too old for the cgroup2 freezer (cgroup.freeze needs 5.2)`,
        fix: 'boot a kernel >= 5.2, or use cgroup v1 with a freezer hierarchy',
        fatal: true,
      });
    }
    return problems;
  }
  for (const controller of REQUIRED_CONTROLLERS) {
    if (v1MountFor(mounts, controller) !== null || v2Held.includes(controller)) continue; // v2-held ones are covered above
    const inKernel = enabled === undefined || enabled.get(controller) === true;
    problems.push({
      code: `cgroup-${controller}-missing`,
      what: inKernel
        ? `no cgroup v1 hierarchy has the ${controller} controller`
        : `the kernel has no enabled ${controller} cgroup controller (/proc/cgroups)`,
      fix: inKernel ? mountV1Command(base, controller) : `boot the kernel with cgroup_enable=${controller}`,
      fatal: true,
    });
  }
  return problems;
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export interface CgroupPaths {
  readonly mountinfoPath?: string;
  readonly procCgroupsPath?: string;
}

/** Reads this host's cgroup facts and checks them. */
export function checkCgroups(runtimeName: string, paths: CgroupPaths = {}): HostProblem[] {
  const mountinfo = readOrUndefined(paths.mountinfoPath ?? '/proc/self/mountinfo') ?? '';
  return cgroupProblems({
    mountinfo,
    readControllers: (mountPoint) => readOrUndefined(join(mountPoint, 'cgroup.controllers')),
    procCgroups: readOrUndefined(paths.procCgroupsPath ?? '/proc/cgroups'),
    kernelRelease: release(),
    runtimeName,
  });
}
