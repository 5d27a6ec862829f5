// What specToOci needs to know about the host and the daemon's settings (host-facts.ts reads the host's part).

/** A character device node to create in the container (from settings `gpu.devNodes` / `vpu.devNodes`, globbed). */
export interface DevNode {
  readonly path: string;
  readonly major: number;
  readonly minor: number;
  /** Permission bits, e.g. 0o666. */
  readonly mode: number;
}

export interface ExtraMount {
  readonly source: string;
  readonly destination: string;
  readonly type: string;
  readonly options: readonly string[];
}

/** Dobby's settings `gpu` / `vpu`: applied only when the spec enables the hardware. */
export interface HardwareAccess {
  readonly devNodes: readonly DevNode[];
  readonly groupIds: readonly number[];
  readonly extraMounts: readonly ExtraMount[];
  /** `NAME=value` entries. */
  readonly extraEnv: readonly string[];
}

/** Devices a spec may ask for: a major (number or /proc/devices name) and an inclusive minor range. */
export interface DeviceAllowRange {
  readonly major: number | string;
  readonly firstMinor: number;
  readonly lastMinor: number;
}

/** Dobby's host whitelist: hidraw minors 0-99 and input (13) minors 64-95. */
export const DEFAULT_DEVICE_WHITELIST: readonly DeviceAllowRange[] = [
  { major: 'hidraw', firstMinor: 0, lastMinor: 99 },
  { major: 13, firstMinor: 64, lastMinor: 95 },
];

export const DEFAULT_PIDS_LIMIT = 256;

/** Where the container's init appears inside every container (Dobby's path; clients see it in args[0]). */
export const INIT_PATH_IN_CONTAINER = '/usr/libexec/DobbyInit';

export type MountSourceKind = 'file' | 'directory' | 'missing';

export interface SpecToOciOptions {
  /** The container id; becomes the hostname. */
  readonly id: string;
  /** `root.path`: the bundle's rootfs directory (absolute, or relative to the bundle). */
  readonly rootfsPath: string;
  /** Host path of the init binary (e.g. /usr/bin/tini-static), bind-mounted read-only at /usr/libexec/DobbyInit. */
  readonly initPath: string;
  /** Arguments for the init before the spec's args; default `['--']` (tini). */
  readonly initArgs?: readonly string[];
  readonly cgroupVersion: 1 | 2;
  /** The host has /lib64: bind it read-only like /lib. */
  readonly hasLib64?: boolean;
  /**
   * The host has a file at /usr/libexec/DobbyInit. The init is bind-mounted there, inside the host's read-only
   * /usr; without it crun creates an empty file on the host's /usr to mount onto (seen with crun 1.8.1).
   */
  readonly initTargetExists?: boolean;
  /** Online CPUs; `cpu.cores` beyond them are dropped, as Dobby does. Default: no trimming below 8. */
  readonly onlineCpus?: number;
  /** `linux.resources.pids.limit`; null for none. Default 256 (Dobby's RDK setting). */
  readonly pidsLimit?: number | null;
  /** cgroup v1 with cpu.rt_runtime_us: give the container 1000 us of real-time CPU per second, as Dobby does. */
  readonly realtimeCpu?: boolean;
  /** /proc/sys/kernel/cap_last_cap. Default: every capability known here. */
  readonly lastCap?: number;
  /** The host's hard limits by `RLIMIT_*` name: no rlimit is set above them (raising one needs CAP_SYS_RESOURCE). */
  readonly hardLimits?: Readonly<Partial<Record<string, number>>>;
  /**
   * The daemon (and so crun) holds CAP_SYS_RESOURCE: a spec may then raise rlimits above `hardLimits` and lower
   * oom_score_adj below `oomScoreAdj`. Default true; false turns such requests into errors instead of crun failures.
   */
  readonly capSysResource?: boolean;
  /** The daemon's own /proc/self/oom_score_adj, which the container inherits. Default 0. */
  readonly oomScoreAdj?: number;
  /** The cgroup hierarchy can weight block I/O (v1 blkio.weight; v2 the io controller). Default true. */
  readonly blkioWeight?: boolean;
  /** The host has /dev/log (for `syslog: true`). Default true; false leaves the mount out, with a warning. */
  readonly hasDevLog?: boolean;
  /** Kernel memory limits take effect (cgroup v1 on Linux < 6.1). Default: on cgroup v1. */
  readonly kernelMemory?: boolean;
  /** Character-device driver names → majors, from /proc/devices (for `devices[].major` given as a name). */
  readonly driverMajors?: Readonly<Record<string, number>>;
  readonly deviceWhitelist?: readonly DeviceAllowRange[];
  readonly gpu?: HardwareAccess;
  readonly vpu?: HardwareAccess;
  /** Settings `extraEnvVariables` (`NAME=value`), added to every spec container. */
  readonly extraEnv?: readonly string[];
  /** Settings `defaultPlugins`: plugin name → data, added (required false) to every spec container. */
  readonly defaultPlugins?: Readonly<Record<string, unknown>>;
  readonly apparmorProfile?: string;
  /** Whether a bind mount's host source is a file or a directory (its mount point in the rootfs must match). */
  readonly mountSourceKind?: (source: string) => MountSourceKind;
}
