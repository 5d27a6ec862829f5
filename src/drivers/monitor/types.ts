// The per-container monitor interface: creates the container, holds its exit status and console log.

import type { Observable } from 'rxjs';

export interface CreateOptions {
  readonly id: string;
  /** The caller's bundle directory: only read, never written (it may be on a read-only file system). */
  readonly bundle: string;
  /**
   * The OCI config to create from, already parsed (a launch config dobbyd derived): saves a read.
   * Relative paths in it (root.path, bind sources) resolve against `bundle`.
   */
  readonly config?: { readonly [key: string]: unknown };
  /** Else a config file to create from instead of `<bundle>/config.json`; same resolution. */
  readonly configPath?: string;
  /** Where the container's console output goes (conmon's k8s-file format); unused when `logDriver` is 'none'. */
  readonly logPath: string;
  /** 'none' keeps no console output at all (the devnull sink); default 'k8s-file'. */
  readonly logDriver?: 'k8s-file' | 'none';
  /** Size cap of the console log in bytes, past which conmon starts the file over; unlimited when absent. */
  readonly logSizeMax?: number;
  /** Total bytes conmon writes to the console log before it stops writing (keeps the start); unlimited when absent. */
  readonly logTotalMax?: number;
  /** The config asks for a terminal (process.terminal): the monitor holds the pty and logs what it prints. */
  readonly terminal?: boolean;
  /** Open file descriptors to pass in; they become fds 3, 4, ... inside the container. */
  readonly fds?: readonly number[];
  /**
   * The caller's own preparations (its record of the container): the monitor makes its files
   * meanwhile and starts only once this resolves; a rejection fails the create with that reason,
   * and nothing of the monitor's is left.
   */
  readonly ready?: Promise<unknown>;
  /**
   * Start the container as it is created (the runtime's `run --detach`), for a container with
   * nothing to do between the two. A monitor may decline: CreatedContainer.started says.
   */
  readonly start?: boolean;
  /** Called once the monitor process is launched (or the create ends before it is): the caller's turn is over. */
  readonly launched?: () => void;
}

export interface CreatedContainer {
  /** Host pid of the container's init process. */
  readonly pid: number;
  /** Pid of the monitor process (conmon) that holds the exit status. */
  readonly monitorPid: number;
  /** The container's cgroups as the monitor read them at create, when it reads them at all. */
  readonly cgroup?: { readonly v1: Readonly<Record<string, string>>; readonly v2: string | null } | null;
  /** The container runs already (asked for with CreateOptions.start); otherwise it waits for the runtime's start. */
  readonly started?: boolean;
}

export interface MonitorExit {
  readonly id: string;
  /** As the monitor recorded it: the exit code, or 128+N for a death by signal N. */
  readonly code: number;
  /** True when the monitor or the cgroup saw an OOM kill. */
  readonly oomKilled: boolean;
}

/**
 * Creates containers through a monitor process that outlives the daemon and records each
 * container's exit. Exits are observed (inotify on the exit dir), never polled.
 */
export interface Monitor {
  create(options: CreateOptions): Promise<CreatedContainer>;
  /** Every exit the monitor records, for any container, as it happens. */
  readonly exits$: Observable<MonitorExit>;
  /** The recorded exit of a container, or null if it has none yet (after a daemon restart). */
  readExit(id: string): Promise<MonitorExit | null>;
  /** Pid of the live monitor process for a container, or null. */
  monitorPid(id: string): Promise<number | null>;
  /** Removes everything the monitor keeps for the container (pid, exit and oom files). */
  release(id: string): Promise<void>;
  /** Stops watching; idempotent. */
  close(): void;
}
