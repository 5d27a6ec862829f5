// The part of the OCI runtime-spec config (1.0.2) that specToOci writes.

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

export interface OciIdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface OciRlimit {
  type: string;
  soft: number;
  hard: number;
}

export interface OciSeccomp {
  defaultAction: string;
  syscalls: { names: string[]; action: string }[];
}

export interface OciDevice {
  path: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  fileMode: number;
  uid: number;
  gid: number;
}

export interface OciDeviceRule {
  allow: boolean;
  type?: 'c' | 'b' | 'a';
  major?: number;
  minor?: number;
  access?: string;
}

export interface OciMemory {
  limit: number;
  swap: number;
  reservation?: number;
  /** cgroup v1 only: crun refuses it on v2. */
  kernel?: number;
  /** cgroup v1 only: crun refuses it on v2, even a present value. */
  swappiness?: number;
  /** cgroup v1 only: crun refuses it on v2. */
  disableOOMKiller?: boolean;
}

export interface OciCpu {
  shares?: number;
  quota?: number;
  period?: number;
  cpus?: string;
  realtimeRuntime?: number;
  realtimePeriod?: number;
}

export interface OciResources {
  devices: OciDeviceRule[];
  memory: OciMemory;
  cpu?: OciCpu;
  blockIO?: { weight: number };
  pids?: { limit: number };
}

export interface OciProcess {
  terminal: boolean;
  user: { uid: number; gid: number; additionalGids: number[] };
  args: string[];
  env: string[];
  cwd: string;
  capabilities: { bounding: string[]; effective: string[]; inheritable: string[]; permitted: string[]; ambient: string[] };
  rlimits: OciRlimit[];
  noNewPrivileges: boolean;
  oomScoreAdj?: number;
  apparmorProfile?: string;
}

export interface OciConfig {
  ociVersion: string;
  process: OciProcess;
  root: { path: string; readonly: boolean };
  /** Absent when the container shares the host's UTS namespace (crun: "hostname requires the UTS namespace"). */
  hostname?: string;
  mounts: OciMount[];
  linux: {
    uidMappings?: OciIdMapping[];
    gidMappings?: OciIdMapping[];
    devices: OciDevice[];
    resources: OciResources;
    namespaces: { type: string }[];
    maskedPaths: string[];
    readonlyPaths: string[];
    rootfsPropagation: string;
    seccomp: OciSeccomp;
  };
}
