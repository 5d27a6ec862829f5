// The Dobby spec after validation: every field present, defaults applied, names normalised.

export type SpecVersion = '1.0' | '1.1';

/** `absent`: own network namespace, loopback only. `host`: the spec said `null` (Dobby's quirk: host networking). */
export type NetworkMode = 'absent' | 'nat' | 'open' | 'private' | 'host';

export type DbusBus = 'system' | 'ai-public' | 'ai-private';

/** An ordinary mount, copied into the OCI config. */
export interface SpecMount {
  readonly kind: 'mount';
  readonly source: string;
  /** Normalised: absolute, no `.`/`..` components, no repeated or trailing slashes. */
  readonly destination: string;
  readonly type: string;
  readonly options: readonly string[];
}

/** A `type: "loop"` mount: done by the storage plugin, not by crun. */
export interface SpecLoopMount {
  readonly kind: 'loop';
  readonly source: string;
  readonly destination: string;
  readonly fstype: string;
  readonly options: readonly string[];
}

export interface SpecDevice {
  /** A driver name from /proc/devices (`hidraw`) or a number. */
  readonly major: string | number;
  readonly minor: number;
  /** Lower case: `r`, `w`, `rw` or `wr`. */
  readonly access: string;
}

/** Capability names are upper case with the `CAP_` prefix, or `ALL`. */
export interface SpecCapabilities {
  readonly add: readonly string[];
  readonly drop: readonly string[];
}

export interface SpecSeccomp {
  readonly defaultAction: 'SCMP_ACT_ALLOW' | 'SCMP_ACT_ERRNO';
  readonly syscalls: { readonly names: readonly string[]; readonly action: 'SCMP_ACT_ALLOW' | 'SCMP_ACT_ERRNO' };
}

export interface SpecEtc {
  readonly services: readonly string[];
  readonly hosts: readonly string[];
  readonly passwd: readonly string[];
  readonly group: readonly string[];
  readonly ldPreload: readonly string[];
}

/** A namespace the container shares with the host (spec extension `hostNamespaces`). */
export type HostNamespace = 'network' | 'ipc' | 'pid' | 'uts';

/** One resource limit (spec extension `resources.rlimits`); `type` is the OCI name, e.g. `RLIMIT_NOFILE`. */
export interface SpecRlimit {
  readonly type: string;
  /** The Docker ulimit name it was given as (`nofile`), for messages. */
  readonly name: string;
  readonly soft: number;
  readonly hard: number;
}

/** The spec extension `resources` (docs/spec-extensions.md): execdriver resources Dobby's format lacks. */
export interface SpecResources {
  /** Microseconds of CPU time per period; null: no quota. */
  readonly cpuQuota: number | null;
  /** Microseconds; null: the kernel's default (100000). */
  readonly cpuPeriod: number | null;
  /** null: the daemon's setting; -1: no limit. */
  readonly pidsLimit: number | null;
  /** 10..1000; null: not set. */
  readonly blkioWeight: number | null;
  /** Bytes, <= memLimit; null: not set. */
  readonly memoryReservation: number | null;
  /** Bytes; null: not set. */
  readonly kernelMemory: number | null;
  /** 0..100; -1: leave the kernel's value; null: Dobby's 60 (cgroup v1 only). */
  readonly swappiness: number | null;
  readonly oomKillDisable: boolean;
  /** -1000..1000; null: inherited from the daemon. */
  readonly oomScoreAdj: number | null;
  /** In the order given, one per type. */
  readonly rlimits: readonly SpecRlimit[];
}

export interface RdkPluginSpec {
  readonly required: boolean | null;
  readonly dependsOn: readonly string[] | null;
  readonly data: { readonly [key: string]: unknown } | null;
}

export interface DobbySpec {
  readonly version: SpecVersion;
  readonly args: readonly string[];
  readonly user: { readonly uid: number; readonly gid: number };
  readonly userNs: boolean;
  /** Bytes. */
  readonly memLimit: number;
  /** Bytes of memory+swap; null when absent (unlimited). */
  readonly swapLimit: number | null;
  readonly env: readonly string[];
  /** Absolute path inside the container; `/` when absent. */
  readonly cwd: string;
  /** null when absent (no logging plugin); `devnull` when the spec says null or gives no path. */
  readonly console: { readonly sink: 'file'; readonly path: string; readonly limit: number } | { readonly sink: 'devnull' } | null;
  readonly network: NetworkMode;
  readonly mounts: readonly (SpecMount | SpecLoopMount)[];
  /** shares is Dobby's percentage (1..100); cores the CPU numbers listed (0..7). */
  readonly cpu: { readonly shares: number | null; readonly cores: readonly number[] | null } | null;
  /** The rtscheduling plugin's rtdefault and rtlimit; 0 means its default (6). A 1.0 integer N is {N, 0}, as Dobby writes it. */
  readonly rtPriority: { readonly default: number; readonly limit: number } | null;
  readonly gpu: { readonly enable: boolean; readonly memLimit: number | null } | null;
  readonly vpu: { readonly enable: boolean } | null;
  readonly dbus: { readonly system?: DbusBus; readonly session?: DbusBus; readonly debug?: DbusBus } | null;
  readonly syslog: boolean;
  readonly devices: readonly SpecDevice[];
  /** null when absent: the default set, noNewPrivileges true. */
  readonly capabilities: SpecCapabilities | null;
  readonly seccomp: SpecSeccomp | null;
  readonly etc: SpecEtc;
  readonly restartOnCrash: boolean;
  readonly plugins: readonly { readonly name: string; readonly data: unknown }[];
  readonly rdkPlugins: { readonly [name: string]: RdkPluginSpec };
  // Extensions (not in Dobby's format; Dobby ignores them): docs/spec-extensions.md.
  readonly resources: SpecResources;
  /** Default true, as Dobby's template; false makes the rootfs writable by the container's user. */
  readonly readonlyRootfs: boolean;
  readonly hostNamespaces: readonly HostNamespace[];
  /** null: Dobby's rule (on unless capabilities are added). */
  readonly noNewPrivileges: boolean | null;
}
