// Types shared by the container machine, the actors that implement its side effects, and its owners.

import type { DobbyError } from '../errors.ts';
import type { ExitStatus } from '../exit-status.ts';
import type { ExecRequest, StartRequest } from '../manager-types.ts';
import type { PluginSelection } from '../plugins/selection.ts';
import type { HookRun, StartAdditions } from '../plugins/types.ts';

/** Where the kernel accounts the container: cgroup path per v1 controller, and the v2 path. */
export interface CgroupPaths {
  readonly v1: Readonly<Record<string, string>>;
  readonly v2: string | null;
}

/** A recorded exit before it is interpreted: the monitor's code and its own OOM flag. */
export interface RawExit {
  readonly code: number;
  readonly oomKilled: boolean;
}

// ---- actor inputs and outputs --------------------------------------------------------------

export interface IdInput {
  readonly id: string;
}

export interface WatchInput {
  readonly id: string;
  /** Also look for an exit recorded before the watch began (an adopted container). */
  readonly checkRecorded: boolean;
}

export interface CreateInput {
  readonly id: string;
  readonly descriptor: number;
  readonly request: StartRequest;
  /** Env vars, fds and mounts the postConstruction hooks added; applied through the launch config. */
  readonly additions?: StartAdditions;
  /** Nothing is due between create and start (no preStart hook): the monitor may start the container as it creates it. */
  readonly start?: boolean;
}

/** postConstruction: select the bundle's plugins, then run their postConstruction hooks. */
export interface ConstructInput {
  readonly id: string;
  readonly descriptor: number;
  readonly request: StartRequest;
}

export interface ConstructOutput {
  readonly selection: PluginSelection;
  readonly additions: StartAdditions;
  readonly runs: readonly HookRun[];
  /** A hook failed in a way that aborts the start. */
  readonly failure: DobbyError | null;
}

/** The hook points after postConstruction. */
export type LaterHookPoint = 'preStart' | 'postStart' | 'postStop' | 'preDestruction';

export interface HookInput {
  readonly id: string;
  readonly descriptor: number;
  readonly point: LaterHookPoint;
  /** null: no plugins (none selected, or the container was adopted and its plugin state is gone). */
  readonly selection: PluginSelection | null;
  readonly pid: number | null;
  readonly exit: ExitStatus | null;
  /** Adopted from an earlier daemon: without a selection, the teardown hooks select from the bundle again. */
  readonly adopted: boolean;
}

export interface HookOutput {
  readonly runs: readonly HookRun[];
  /** A hook failed in a way that aborts the start (preStart only). */
  readonly failure: DobbyError | null;
}

export interface CreateOutput {
  readonly pid: number;
  readonly monitorPid: number;
  readonly cgroup: CgroupPaths | null;
  /** The monitor started it too (CreateInput.start): it runs already. */
  readonly started?: boolean;
}

export interface SignalInput {
  readonly id: string;
  readonly signal: 'SIGTERM' | 'SIGKILL';
  /** How long a SIGTERM the init dropped for want of a handler may be sent again (the grace period). */
  readonly resendWithinMs?: number;
  /** The init and its monitor, when the daemon knows both: the runtime may signal it without asking for its state. */
  readonly init?: { readonly pid: number; readonly monitorPid: number };
}

export interface ExecInput {
  readonly id: string;
  readonly requestId: string;
  readonly exec: ExecRequest;
}

export interface ExecOutput {
  readonly requestId: string;
  readonly pid: number;
}

export interface InspectInput {
  readonly id: string;
  readonly cgroup: CgroupPaths | null;
  readonly exit: RawExit;
}

export interface TeardownInput {
  readonly id: string;
  /** The container may still have processes: kill them before deleting. */
  readonly force: boolean;
  /** A bundle the daemon generated for this container, to remove with it. */
  readonly ownedBundle: string | null;
  /** The runtime has deleted it already (beside the teardown hooks): the rest only. */
  readonly runtimeDeleted: boolean;
}

export interface DeleteInput {
  readonly id: string;
  /** The container may still have processes: kill them before deleting. */
  readonly force: boolean;
}

/** What is true on the host about a container the daemon did not see being made. */
export type AdoptOutput =
  | { readonly status: 'running' | 'paused'; readonly pid: number; readonly monitorPid: number | null; readonly cgroup: CgroupPaths | null }
  | { readonly status: 'created'; readonly pid: number }
  | { readonly status: 'exited'; readonly exit: RawExit }
  | { readonly status: 'missing' };

export type ProbeOutput = { readonly gone: true; readonly exit: RawExit | null } | { readonly gone: false };

// ---- machine ---------------------------------------------------------------------------------

export interface ContainerInput {
  readonly id: string;
  readonly descriptor: number;
  /** Milliseconds between SIGTERM and SIGKILL on a graceful stop. */
  readonly stopGraceMs: number;
  /** Milliseconds to wait for an exit after SIGKILL before probing the host. */
  readonly killWaitMs?: number;
}

/** What a container actor reports to its parent when it is gone: how it ended, if it ran. */
export interface ContainerOutput {
  /** null: it never ran (a failed or cancelled start) or was found gone. */
  readonly exitStatus: ExitStatus | null;
}

export type ContainerEvent =
  | { readonly type: 'START'; readonly requestId: string; readonly request: StartRequest }
  | { readonly type: 'ADOPT' }
  | { readonly type: 'STOP'; readonly requestId: string; readonly force: boolean }
  | { readonly type: 'PAUSE'; readonly requestId: string }
  | { readonly type: 'RESUME'; readonly requestId: string }
  | { readonly type: 'EXEC'; readonly requestId: string; readonly exec: ExecRequest }
  | { readonly type: 'EXITED'; readonly exit: RawExit }
  | { readonly type: `xstate.done.actor.exec.${string}`; readonly output: ExecOutput; readonly actorId: string }
  | { readonly type: `xstate.error.actor.exec.${string}`; readonly error: unknown; readonly actorId: string };

export type CommandType = 'START' | 'STOP' | 'PAUSE' | 'RESUME' | 'EXEC';

export type Reply =
  | { readonly type: 'reply'; readonly requestId: string; readonly ok: true; readonly value?: number }
  | { readonly type: 'reply'; readonly requestId: string; readonly ok: false; readonly error: DobbyError };

export type Lifecycle =
  | { readonly type: 'lifecycle'; readonly event: 'created' | 'started' | 'paused' | 'resumed' | 'deleted' }
  | { readonly type: 'lifecycle'; readonly event: 'exited'; readonly exit: ExitStatus }
  | { readonly type: 'lifecycle'; readonly event: 'start-failed'; readonly error: DobbyError };

export type ContainerEmitted = Reply | Lifecycle;

export interface ContainerContext {
  readonly id: string;
  readonly descriptor: number;
  readonly stopGraceMs: number;
  readonly killWaitMs: number;
  readonly request: StartRequest | null;
  readonly pid: number | null;
  readonly monitorPid: number | null;
  readonly cgroup: CgroupPaths | null;
  /** The freezer holds it: a signal would not be delivered until it is thawed. */
  readonly frozen: boolean;
  /** The start call waiting for Running (or for its failure). */
  readonly startRequestId: string | null;
  /** A stop asked for; `force` once any caller wanted SIGKILL. */
  readonly stopRequest: { readonly force: boolean } | null;
  /** Stop calls waiting for their signal to be delivered. */
  readonly stopReplies: readonly string[];
  /** The pause or resume call in flight. */
  readonly opRequestId: string | null;
  readonly exit: RawExit | null;
  readonly exitStatus: ExitStatus | null;
  readonly failure: DobbyError | null;
  /** True once the runtime has (or may have) a container to delete. */
  readonly runtimeHasContainer: boolean;
  /** SIGKILL deliveries tried during this stop. */
  readonly killAttempts: number;
  /** The plugins selected at postConstruction; set once postConstruction ran, so teardown hooks are due. */
  readonly plugins: PluginSelection | null;
  /** What the postConstruction hooks added (env, fds, mounts), for the create. */
  readonly additions: StartAdditions | null;
  /** Every hook run of this start, in the order they ended (GetInfo shows them). */
  readonly hookRuns: readonly HookRun[];
  /** Rebuilt from the host after a daemon restart (its plugins' postConstruction ran in an earlier daemon). */
  readonly adopted: boolean;
  /** The monitor started the container as it created it (no preStart hook): there is no runtime start to make. */
  readonly startedByCreate: boolean;
}
