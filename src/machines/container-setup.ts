// The named pieces of the container machine: the actors it invokes, its delays, guards and actions.
// The chart in container.ts only names these, so it reads as the lifecycle.

import { assign, emit, enqueueActions, fromCallback, fromPromise, setup, type AnyMachineSnapshot } from 'xstate';
import { DobbyError } from '../errors.ts';
import { exitStatusFromCode, type ExitStatus } from '../exit-status.ts';
import type { HookRun } from '../plugins/types.ts';
import { phaseOf } from './container-phase.ts';
import type {
  AdoptOutput,
  ConstructInput,
  ConstructOutput,
  ContainerContext,
  ContainerEmitted,
  ContainerEvent,
  ContainerInput,
  ContainerOutput,
  CreateInput,
  CreateOutput,
  DeleteInput,
  ExecInput,
  ExecOutput,
  HookInput,
  HookOutput,
  IdInput,
  InspectInput,
  LaterHookPoint,
  ProbeOutput,
  RawExit,
  SignalInput,
  TeardownInput,
  WatchInput,
} from './container-types.ts';

/** Actor logic placeholders: the composition root provides the real ones with machine.provide(). */
function notProvided(name: string): () => Promise<never> {
  return () => Promise.reject(new DobbyError('INTERNAL', `actor '${name}' was not provided to the container machine`));
}

/** A container gone without a recorded exit was last sent SIGKILL by us. */
export const KILLED_WITHOUT_RECORD: RawExit = { code: 128 + 9, oomKilled: false };

/** SIGKILL deliveries tried before a stop call is told the container is stuck. */
const MAX_KILL_ATTEMPTS = 3;

/** The commands a caller sends, by event type, as a refusal names them. */
const COMMAND_OPS: Readonly<Record<string, string>> = { START: 'start', STOP: 'stop', PAUSE: 'pause', RESUME: 'resume', EXEC: 'exec' };

/**
 * The commands the current state accepts, read from the chart itself: a command is accepted where a
 * state below the root handles it (the root only refuses), so the chart is the one table.
 */
export function acceptedCommands(snapshot: AnyMachineSnapshot): string[] {
  const accepted = new Set<string>();
  // _nodes: the active state nodes, which XState keeps on every snapshot; only read here.
  for (const node of snapshot._nodes) {
    if (node.parent === undefined) continue;
    for (const type of node.transitions.keys()) if (COMMAND_OPS[type] !== undefined) accepted.add(COMMAND_OPS[type]);
  }
  return Object.values(COMMAND_OPS).filter((op) => accepted.has(op));
}

export const containerSetup = setup({
  types: {
    context: {} as ContainerContext,
    events: {} as ContainerEvent,
    input: {} as ContainerInput,
    emitted: {} as ContainerEmitted,
    output: {} as ContainerOutput,
  },
  actors: {
    adoptContainer: fromPromise<AdoptOutput, IdInput>(notProvided('adoptContainer')),
    // One actor per hook point, so each hook state names its point (they share one implementation).
    postConstructionHooks: fromPromise<ConstructOutput, ConstructInput>(notProvided('postConstructionHooks')),
    preStartHooks: fromPromise<HookOutput, HookInput>(notProvided('preStartHooks')),
    postStartHooks: fromPromise<HookOutput, HookInput>(notProvided('postStartHooks')),
    postStopHooks: fromPromise<HookOutput, HookInput>(notProvided('postStopHooks')),
    preDestructionHooks: fromPromise<HookOutput, HookInput>(notProvided('preDestructionHooks')),
    createContainer: fromPromise<CreateOutput, CreateInput>(notProvided('createContainer')),
    startContainer: fromPromise<void, IdInput>(notProvided('startContainer')),
    signalContainer: fromPromise<void, SignalInput>(notProvided('signalContainer')),
    pauseContainer: fromPromise<void, IdInput>(notProvided('pauseContainer')),
    resumeContainer: fromPromise<void, IdInput>(notProvided('resumeContainer')),
    execInContainer: fromPromise<ExecOutput, ExecInput>(notProvided('execInContainer')),
    probeContainer: fromPromise<ProbeOutput, IdInput>(notProvided('probeContainer')),
    inspectExit: fromPromise<ExitStatus, InspectInput>(notProvided('inspectExit')),
    deleteFromRuntime: fromPromise<void, DeleteInput>(notProvided('deleteFromRuntime')),
    teardown: fromPromise<void, TeardownInput>(notProvided('teardown')),
    watchExit: fromCallback<ContainerEvent, WatchInput>(() => {
      throw new DobbyError('INTERNAL', "actor 'watchExit' was not provided to the container machine");
    }),
  },
  delays: {
    stopGrace: ({ context }) => context.stopGraceMs,
    killWait: ({ context }) => context.killWaitMs,
    stuckRetry: ({ context }) => context.killWaitMs,
    killRetry: ({ context }) => Math.min(100, context.killWaitMs),
  },
  guards: {
    stopRequested: ({ context }) => context.stopRequest !== null,
    stopForced: ({ context }) => context.stopRequest?.force === true,
    frozen: ({ context }) => context.frozen,
    hasExit: ({ context }) => context.exit !== null,
    forcedStopEvent: ({ event }) => event.type === 'STOP' && event.force,
    mayRetryKill: ({ context }) => context.killAttempts < MAX_KILL_ATTEMPTS,
    adoptedRunning: (_, output: AdoptOutput) => output.status === 'running',
    adoptedPaused: (_, output: AdoptOutput) => output.status === 'paused',
    adoptedCreated: (_, output: AdoptOutput) => output.status === 'created',
    adoptedExited: (_, output: AdoptOutput) => output.status === 'exited',
    probeFoundGone: (_, output: ProbeOutput) => output.gone,
    hooksFailed: (_, output: { readonly failure: DobbyError | null }) => output.failure !== null,
    wasCreated: ({ context }) => context.pid !== null,
    /** No plugin was selected at postConstruction: no later hook point has anything to run. */
    noPlugins: ({ context }) => hasNoPlugins(context),
    /** No selected plugin has a hook at this point: its state is skipped. */
    nothingAt: ({ context }, params: { point: LaterHookPoint }) => nothingToRunAt(context, params.point),
    startedByCreate: ({ context }) => context.startedByCreate,
    /** The selected plugins said their teardown hooks need nothing of the runtime's container. */
    teardownBesideRuntime: ({ context }) => !context.adopted && context.plugins?.teardownBesideRuntime === true,
  },
  actions: {
    /** Every hook state records the runs its actor reports, in the order they ended. */
    recordHooks: assign(({ context, event }) => ({ hookRuns: [...context.hookRuns, ...hookRunsOf(event)] })),
    noteExit: assign(({ context, event }) => ({ exit: event.type === 'EXITED' ? event.exit : context.exit })),
    /** The step failed: keep its error as the start's failure, in words naming the step. */
    failWith: assign(({ context, event }, params: { verb: string }) => ({
      failure: asDobbyError(errorOf(event), context.id, `could not ${params.verb} container '${context.id}'`),
    })),
    cancelByStop: assign(({ context }) => ({
      failure: new DobbyError('ABORTED', `start of container '${context.id}' was cancelled by a stop`, { containerId: context.id }),
    })),
    diedBeforeStart: assign(({ context }) => ({
      failure: new DobbyError('RUNTIME_FAILED', `container '${context.id}' died before it was started`, { containerId: context.id }),
    })),
    /** Tells the supervisor (when there is one) that this actor knows what is true of its container now. */
    reportAdopted: enqueueActions(({ context, self, enqueue }) => {
      if (self._parent !== undefined) enqueue.sendParent({ type: 'ADOPTED', descriptor: context.descriptor });
    }),
    refuse: emit(({ context, event, self }) => {
      const snapshot = self.getSnapshot() as AnyMachineSnapshot;
      const op = COMMAND_OPS[event.type] ?? 'start';
      const phase = phaseOf(snapshot.value);
      const accepted = acceptedCommands(snapshot);
      const hint = accepted.length === 0 ? 'it accepts no commands' : `it accepts only: ${accepted.join(', ')}`;
      return {
        type: 'reply' as const,
        requestId: 'requestId' in event ? event.requestId : '',
        ok: false as const,
        error: new DobbyError('ILLEGAL_STATE', `cannot ${op} container '${context.id}' while it is ${phase}; ${hint}`, { containerId: context.id }),
      };
    }),
    // The one STOP policy: every stop is recorded (force once anyone forced); it is answered at
    // once where there is nothing to signal (answerStop), or once the signal went out (holdStop).
    holdStop: assign(({ context, event }) => stopNoted(context, event)),
    answerStop: enqueueActions(({ context, event, enqueue }) => {
      const noted = stopNoted(context, event);
      for (const requestId of noted.stopReplies ?? context.stopReplies) enqueue.emit({ type: 'reply', requestId, ok: true });
      enqueue.assign({ ...noted, stopReplies: [] });
    }),
    flushStopReplies: enqueueActions(({ context, enqueue }) => {
      for (const requestId of context.stopReplies) enqueue.emit({ type: 'reply', requestId, ok: true });
      enqueue.assign({ stopReplies: [] });
    }),
    failStopReplies: enqueueActions(({ context, enqueue }, params: { error: unknown }) => {
      const error = new DobbyError('RUNTIME_FAILED', `could not signal container '${context.id}': ${messageOf(params.error)}`, {
        containerId: context.id,
        cause: params.error,
      });
      for (const requestId of context.stopReplies) enqueue.emit({ type: 'reply', requestId, ok: false, error });
      enqueue.assign({ stopReplies: [] });
    }),
    holdOp: assign(({ context, event }) => ({ opRequestId: 'requestId' in event ? event.requestId : context.opRequestId })),
    replyOpOk: enqueueActions(({ context, enqueue }) => {
      if (context.opRequestId !== null) enqueue.emit({ type: 'reply', requestId: context.opRequestId, ok: true });
      enqueue.assign({ opRequestId: null });
    }),
    replyOpError: enqueueActions(({ context, enqueue, event }, params: { verb: string }) => {
      if (context.opRequestId !== null) {
        enqueue.emit({
          type: 'reply',
          requestId: context.opRequestId,
          ok: false,
          error: asDobbyError(errorOf(event), context.id, `could not ${params.verb} container '${context.id}'`),
        });
      }
      enqueue.assign({ opRequestId: null });
    }),
    lifecycle: emit((_, params: { event: 'created' | 'started' | 'paused' | 'resumed' | 'deleted' }) => ({
      type: 'lifecycle' as const,
      event: params.event,
    })),
    startFailed: emit(({ context }) => ({
      type: 'lifecycle' as const,
      event: 'start-failed' as const,
      error: context.failure ?? new DobbyError('INTERNAL', `start of '${context.id}' failed`, { containerId: context.id }),
    })),
    /** The exit is interpreted (or could not be: the raw record stands): tell everyone. */
    exited: enqueueActions(({ context, event, enqueue }) => {
      const status = event.type.startsWith('xstate.done.') ? (event as unknown as { output: ExitStatus }).output : rawToStatus(context.exit);
      enqueue.assign({ exitStatus: status });
      enqueue.emit({ type: 'lifecycle', event: 'exited', exit: status });
    }),
    replyStarted: enqueueActions(({ context, enqueue }) => {
      if (context.startRequestId !== null) {
        enqueue.emit({ type: 'reply', requestId: context.startRequestId, ok: true, value: context.descriptor });
      }
      enqueue.assign({ startRequestId: null });
    }),
    replyStartFailed: enqueueActions(({ context, enqueue }) => {
      if (context.startRequestId !== null && context.failure !== null) {
        enqueue.emit({ type: 'reply', requestId: context.startRequestId, ok: false, error: context.failure });
      }
      enqueue.assign({ startRequestId: null });
    }),
    replyExec: emit(({ context, event }) => {
      if (event.type.startsWith('xstate.done.')) {
        const { output } = event as unknown as { output: ExecOutput };
        return { type: 'reply' as const, requestId: output.requestId, ok: true as const, value: output.pid };
      }
      const { actorId, error } = event as unknown as { actorId: string; error: unknown };
      return {
        type: 'reply' as const,
        requestId: actorId.slice('exec.'.length),
        ok: false as const,
        error: asDobbyError(error, context.id, `exec in container '${context.id}' failed`),
      };
    }),
    /** A container that ended while a command was in flight: answer everyone who waits. */
    settleWaiters: enqueueActions(({ context, enqueue }) => {
      if (context.opRequestId !== null) {
        enqueue.emit({
          type: 'reply',
          requestId: context.opRequestId,
          ok: false,
          error: new DobbyError('ILLEGAL_STATE', `container '${context.id}' exited before the command completed`, {
            containerId: context.id,
          }),
        });
      }
      for (const requestId of context.stopReplies) enqueue.emit({ type: 'reply', requestId, ok: true });
      enqueue.assign({ opRequestId: null, stopReplies: [] });
    }),
  },
});

/** A stop recorded: force once anyone forced, the caller waiting with the others. */
function stopNoted(context: ContainerContext, event: ContainerEvent): Partial<Pick<ContainerContext, 'stopRequest' | 'stopReplies'>> {
  if (event.type !== 'STOP') return {};
  return {
    stopRequest: { force: event.force || context.stopRequest?.force === true },
    stopReplies: [...context.stopReplies, event.requestId],
  };
}

/** No plugin selected (or none could be, for an adopted container): no hook point has anything to run. */
export function hasNoPlugins(context: ContainerContext): boolean {
  return !context.adopted && (context.plugins === null || context.plugins.plugins.length === 0);
}

/** Nothing to run at `point`: no plugin, or none of the selected ones has a hook there (an adopted container's are unknown). */
export function nothingToRunAt(context: ContainerContext, point: LaterHookPoint): boolean {
  if (hasNoPlugins(context)) return true;
  const points = context.plugins?.hookPoints;
  return !context.adopted && points !== undefined && !points.includes(point);
}

export function hookInput(context: ContainerContext, point: LaterHookPoint): HookInput {
  return {
    id: context.id,
    descriptor: context.descriptor,
    point,
    selection: context.plugins,
    pid: context.pid,
    exit: context.exitStatus,
    adopted: context.adopted,
  };
}

export function ownedBundleOf(context: ContainerContext): string | null {
  return context.request?.ownedBundle === true ? context.request.bundle : null;
}

export function adoptedFields(output: AdoptOutput): Partial<ContainerContext> {
  if (output.status !== 'running' && output.status !== 'paused') return {};
  return { pid: output.pid, monitorPid: output.monitorPid, cgroup: output.cgroup, runtimeHasContainer: true };
}

export function asDobbyError(err: unknown, id: string, context: string): DobbyError {
  if (err instanceof DobbyError) return err;
  return new DobbyError('INTERNAL', `${context}: ${messageOf(err)}`, { containerId: id, cause: err });
}

function rawToStatus(exit: RawExit | null): ExitStatus {
  const raw = exit ?? KILLED_WITHOUT_RECORD;
  return exitStatusFromCode(raw.code, raw.oomKilled);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The error of an actor's error event (the chart's events union does not list them). */
function errorOf(event: unknown): unknown {
  return (event as { error?: unknown }).error;
}

/** The hook runs a hook actor's done event carries (none on an error event). */
function hookRunsOf(event: unknown): readonly HookRun[] {
  return (event as { output?: { runs?: readonly HookRun[] } }).output?.runs ?? [];
}
