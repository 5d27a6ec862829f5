// What the API asks of the host beside the manager, as interfaces and data shapes: a container's
// stats (GetInfo) and usage (GetStats), and mounts inside its namespace. The drivers in src/drivers
// implement them; daemon.ts wires the real ones in.

/** A cgroup counter; null where the host does not count it. */
export type CgroupValue = number | bigint | null;

export interface ProcessInfo {
  readonly pid: number;
  readonly nsPid: number;
  readonly executable: string;
  readonly cmdline: string;
}

export interface MemoryStats {
  readonly limit: CgroupValue;
  readonly usage: CgroupValue;
  readonly max: CgroupValue;
  readonly failcnt: CgroupValue;
}

export interface ContainerStats {
  readonly pids: (number | bigint)[];
  readonly processes: ProcessInfo[];
  /** `percpu` only exists on cgroup v1 (Dobby leaves it out on v2). */
  readonly cpu: { readonly usage: { readonly total: CgroupValue; readonly percpu?: (number | bigint)[] } } | null;
  readonly memory: { readonly user: MemoryStats } | null;
}

export interface ContainerUsage {
  /** Which cgroup layout the numbers came from (1 also on a hybrid host). */
  readonly cgroupVersion: 1 | 2;
  /** Nanoseconds; null where the host does not count it. */
  readonly cpu: { readonly totalNs: CgroupValue; readonly userNs: CgroupValue; readonly systemNs: CgroupValue };
  /** Bytes; `limit` is -1 when unlimited; `failcnt` only on v1 (v2: the `max` events of memory.events). */
  readonly memory: { readonly usage: CgroupValue; readonly peak: CgroupValue; readonly limit: CgroupValue; readonly failcnt: CgroupValue };
  /** Tasks in the cgroup and the pids limit (-1: unlimited). */
  readonly pids: { readonly current: CgroupValue; readonly limit: CgroupValue };
}

export interface MountRequest {
  /** Host pid of the container's init: its mount namespace and root are the target. */
  readonly pid: number;
  readonly source: string;
  /** Path inside the container; must not exist yet (it is created, as Dobby does). */
  readonly destination: string;
  readonly flags: readonly string[];
  /** Ignored: a bind mount takes no filesystem data (Dobby's open_tree path ignores it too). */
  readonly data?: string;
}

export interface UnmountRequest {
  readonly pid: number;
  readonly destination: string;
}

export interface ContainerMounter {
  /** Resolves once mounted; rejects with a DobbyError naming what is wrong. */
  mount(request: MountRequest): Promise<{ readonly ignoredFlags: readonly string[] }>;
  unmount(request: UnmountRequest): Promise<void>;
}
