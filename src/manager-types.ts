// The container manager's interface: what the D-Bus API, the CLI's in-process tests and benchmarks call.

import type { Observable } from 'rxjs';
import type { LifecycleEvent } from './bus.ts';
import type { PluginReport } from './plugins/report.ts';

/** Dobby's wire values for container states (GetState). */
export const WireState = {
  INVALID: 0,
  STARTING: 1,
  RUNNING: 2,
  STOPPING: 3,
  PAUSED: 4,
  HIBERNATING: 5,
  HIBERNATED: 6,
  AWAKENING: 7,
} as const;
export type WireState = (typeof WireState)[keyof typeof WireState];

/** What a user sees of a container's state (the machine's transitional states included). */
export type ContainerPhase =
  | 'unknown'
  | 'adopting'
  | 'creating'
  | 'created'
  | 'starting'
  | 'running'
  | 'pausing'
  | 'paused'
  | 'resuming'
  | 'stopping'
  | 'stopped';

export interface StartRequest {
  readonly id: string;
  /** Absolute path of an OCI bundle directory (config.json + rootfs). */
  readonly bundle: string;
  /** File descriptors to pass into the container (fds 3.. in order). The manager does not close them. */
  readonly fds?: readonly number[];
  /** Console log destination; default `<state dir>/logs/<id>.log`. */
  readonly logPath?: string;
  readonly logSizeMax?: number;
  /** Milliseconds between SIGTERM and SIGKILL for a graceful stop; default from the daemon options. */
  readonly stopGraceMs?: number;
  /** The daemon made this bundle (from a spec) and removes it with the container. */
  readonly ownedBundle?: boolean;
  /** A spec's restartOnCrash: start it again (same descriptor, bundle and fds) after an abnormal exit. */
  readonly restartOnCrash?: boolean;
  // Per-launch settings (StartFromBundle's and StartFromSpec's long arities), applied through a
  // launch config dobbyd writes under its state dir; the bundle's config.json is never changed.
  /** Replaces the command: process.args = ["/usr/libexec/DobbyInit", ...command]. */
  readonly command?: readonly string[];
  /** A Wayland (westeros) socket bind-mounted at /tmp/westeros, with WAYLAND_DISPLAY and XDG_RUNTIME_DIR set. */
  readonly displaySocket?: string;
  /** `KEY=VALUE` entries appended to process.env unless the same entry is already there. */
  readonly env?: readonly string[];
  /** When both are > 0 and the config has no mappings: container root runs as these host ids in a user namespace. */
  readonly userId?: number;
  readonly groupId?: number;
}

export interface ContainerSummary {
  readonly descriptor: number;
  readonly id: string;
  readonly phase: ContainerPhase;
  readonly wireState: WireState;
  readonly pid: number | null;
  readonly bundle: string;
  /** restartOnCrash: restarts after crashes so far; absent for a container that does not restart. */
  readonly restarts?: number;
  /** Where its launch config would be (the config it runs with when it differs from the bundle's); absent if unknown. */
  readonly launchConfig?: string;
  /** The container's plugins and their hook runs (GetInfo's `plugins`); absent when it has none. */
  readonly plugins?: readonly PluginReport[];
}

export interface ExecRequest {
  readonly args: readonly string[];
  readonly env?: readonly string[];
  readonly cwd?: string;
  readonly tty?: boolean;
}

/**
 * Owns the supervisor actor. Every method resolves or rejects with a DobbyError; none throws
 * synchronously. Status queries are answered from actor snapshots, never by running the runtime.
 */
export interface ContainerManager {
  /** Resolves with the descriptor once the container is running. */
  start(request: StartRequest): Promise<number>;
  /** Resolves once the stop signal was delivered (graceful) or sent (force). */
  stop(descriptor: number, force: boolean): Promise<void>;
  pause(descriptor: number): Promise<void>;
  resume(descriptor: number): Promise<void>;
  /** Launches a command inside a running container, detached; resolves with its host pid. */
  exec(descriptor: number, request: ExecRequest): Promise<number>;
  get(descriptor: number): ContainerSummary | undefined;
  findById(id: string): ContainerSummary | undefined;
  /** All containers in any state, sorted by id. */
  list(): ContainerSummary[];
  /** Sets an annotation (shown in GetInfo); false for an unknown descriptor. */
  annotate(descriptor: number, key: string, value: string): boolean;
  /** Removes an annotation; false when the descriptor or the key is unknown. */
  removeAnnotation(descriptor: number, key: string): boolean;
  /** The container's annotations, or undefined for an unknown descriptor. */
  annotations(descriptor: number): ReadonlyMap<string, string> | undefined;
  /** Lifecycle events of every container. */
  readonly events$: Observable<LifecycleEvent>;
  /** Stops every container (graceful, then SIGKILL) and waits for their teardown. */
  shutdown(): Promise<void>;
}
