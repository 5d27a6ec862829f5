// The container lifecycle as one XState machine: states, guards and which actor each state invokes.
// Pure definition: every side effect is an actor named here and implemented in src/actors.

import { assign, emit, enqueueActions, fromCallback, fromPromise, raise, setup, spawnChild } from 'xstate';
import { DobbyError } from '../errors.ts';
import { exitStatusFromCode, type ExitStatus } from '../exit-status.ts';
import type { ContainerPhase } from '../manager-types.ts';
import type { HookRun } from '../plugins/types.ts';
import type {
  AdoptOutput,
  ConstructInput,
  ConstructOutput,
  ContainerContext,
  ContainerEmitted,
  ContainerEvent,
  ContainerInput,
  CreateInput,
  CreateOutput,
  ExecInput,
  ExecOutput,
  HookInput,
  HookOutput,
  IdInput,
  LaterHookPoint,
  InspectInput,
  ProbeOutput,
  RawExit,
  SignalInput,
  TeardownInput,
  WatchInput,
} from './container-types.ts';
import { type Operation, refusalMessage } from './operations.ts';

/** Actor logic placeholders: the composition root provides the real ones with machine.provide(). */
function notProvided(name: string): () => Promise<never> {
  return () => Promise.reject(new DobbyError('INTERNAL', `actor '${name}' was not provided to the container machine`));
}

/** A container gone without a recorded exit was last sent SIGKILL by us. */
const KILLED_WITHOUT_RECORD: RawExit = { code: 128 + 9, oomKilled: false };

/** SIGKILL deliveries tried before a stop call is told the container is stuck. */
const MAX_KILL_ATTEMPTS = 3;

const commandOps: Readonly<Record<string, Operation>> = {
  START: 'start',
  STOP: 'stop',
  PAUSE: 'pause',
  RESUME: 'resume',
  EXEC: 'exec',
};

export const containerMachine = setup({
  types: {
    context: {} as ContainerContext,
    events: {} as ContainerEvent,
    input: {} as ContainerInput,
    emitted: {} as ContainerEmitted,
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
  },
  actions: {
    recordHooks: assign(({ context }, params: { runs: readonly HookRun[] }) => ({ hookRuns: [...context.hookRuns, ...params.runs] })),
    refuse: emit(({ context, event, self }) => {
      const op = commandOps[event.type] ?? 'start';
      const phase = phaseOf(self.getSnapshot().value);
      const requestId = 'requestId' in event ? event.requestId : '';
      return {
        type: 'reply' as const,
        requestId,
        ok: false as const,
        error: new DobbyError('ILLEGAL_STATE', refusalMessage(context.id, phase, op), { containerId: context.id }),
      };
    }),
    replyOk: emit(({ event }) => ({
      type: 'reply' as const,
      requestId: 'requestId' in event ? event.requestId : '',
      ok: true as const,
    })),
    recordStop: assign(({ context, event }) => {
      if (event.type !== 'STOP') return {};
      return {
        stopRequest: { force: event.force || context.stopRequest?.force === true },
        stopReplies: [...context.stopReplies, event.requestId],
      };
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
    replyOpOk: enqueueActions(({ context, enqueue }) => {
      if (context.opRequestId !== null) enqueue.emit({ type: 'reply', requestId: context.opRequestId, ok: true });
      enqueue.assign({ opRequestId: null });
    }),
    replyOpError: enqueueActions(({ context, enqueue }, params: { error: unknown; verb: string }) => {
      if (context.opRequestId !== null) {
        enqueue.emit({
          type: 'reply',
          requestId: context.opRequestId,
          ok: false,
          error: asDobbyError(params.error, context.id, `could not ${params.verb} container '${context.id}'`),
        });
      }
      enqueue.assign({ opRequestId: null });
    }),
    lifecycle: emit((_, params: { event: 'created' | 'started' | 'paused' | 'resumed' | 'deleted' }) => ({
      type: 'lifecycle' as const,
      event: params.event,
    })),
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
}).createMachine({
  id: 'container',
  context: ({ input }) => ({
    id: input.id,
    descriptor: input.descriptor,
    stopGraceMs: input.stopGraceMs,
    killWaitMs: input.killWaitMs ?? 10_000,
    request: null,
    pid: null,
    monitorPid: null,
    cgroup: null,
    frozen: false,
    startRequestId: null,
    stopRequest: null,
    stopReplies: [],
    opRequestId: null,
    exit: null,
    exitStatus: null,
    failure: null,
    runtimeHasContainer: false,
    killAttempts: 0,
    plugins: null,
    additions: null,
    hookRuns: [],
    adopted: false,
  }),
  initial: 'unknown',
  // Commands that reach the root were not accepted by the current state: refuse them, never drop.
  on: {
    START: { actions: 'refuse' },
    STOP: { actions: 'refuse' },
    PAUSE: { actions: 'refuse' },
    RESUME: { actions: 'refuse' },
    EXEC: { actions: 'refuse' },
    'xstate.done.actor.exec.*': {
      actions: emit(({ event }) => ({
        type: 'reply' as const,
        requestId: (event as { output: ExecOutput }).output.requestId,
        ok: true as const,
        value: (event as { output: ExecOutput }).output.pid,
      })),
    },
    'xstate.error.actor.exec.*': {
      actions: emit(({ context, event }) => ({
        type: 'reply' as const,
        requestId: (event as { actorId: string }).actorId.slice('exec.'.length),
        ok: false as const,
        error: asDobbyError((event as { error: unknown }).error, context.id, `exec in container '${context.id}' failed`),
      })),
    },
  },
  states: {
    unknown: {
      on: {
        START: {
          target: 'live',
          actions: assign(({ event }) => ({ request: event.request, startRequestId: event.requestId })),
        },
        ADOPT: { target: 'adopting', actions: assign({ adopted: true }) },
      },
    },

    // After a daemon restart or an actor crash: rebuild from what is true on the host.
    adopting: {
      invoke: {
        src: 'adoptContainer',
        input: ({ context }) => ({ id: context.id }),
        onDone: [
          {
            guard: { type: 'adoptedRunning', params: ({ event }) => event.output },
            target: 'live.running',
            actions: assign(({ event }) => adoptedFields(event.output)),
          },
          {
            guard: { type: 'adoptedPaused', params: ({ event }) => event.output },
            target: 'live.paused',
            actions: assign(({ event }) => ({ ...adoptedFields(event.output), frozen: true })),
          },
          {
            guard: { type: 'adoptedCreated', params: ({ event }) => event.output },
            target: 'failing',
            actions: assign(({ context }) => ({
              runtimeHasContainer: true,
              failure: new DobbyError('ABORTED', `container '${context.id}' was created but never started; cleaning it up`, {
                containerId: context.id,
              }),
            })),
          },
          {
            guard: { type: 'adoptedExited', params: ({ event }) => event.output },
            target: 'exited',
            actions: assign(({ event }) => ({
              runtimeHasContainer: true,
              exit: event.output.status === 'exited' ? event.output.exit : null,
            })),
          },
          { target: 'forgetting' },
        ],
        onError: {
          target: 'failing',
          actions: assign(({ context, event }) => ({
            runtimeHasContainer: true,
            failure: asDobbyError(event.error, context.id, `could not adopt container '${context.id}'`),
          })),
        },
      },
      on: { STOP: { actions: ['recordStop'] } },
    },

    live: {
      // One exit watch for the whole life of the container, so no exit falls between states.
      invoke: {
        src: 'watchExit',
        input: ({ context }) => ({ id: context.id, checkRecorded: context.pid !== null }),
        // Without a watch an exit would go unseen: answer the waiters and rebuild from the host.
        onError: { target: '#container.adopting', actions: 'settleWaiters' },
      },
      initial: 'constructing',
      on: {
        EXITED: { target: 'exited', actions: assign(({ event }) => ({ exit: event.exit })) },
      },
      states: {
        // postConstruction: the bundle's plugins are selected and may add env, fds and mounts.
        constructing: {
          invoke: {
            src: 'postConstructionHooks',
            input: ({ context }) => {
              if (context.request === null) throw new DobbyError('INTERNAL', 'constructing without a start request');
              return { id: context.id, descriptor: context.descriptor, request: context.request };
            },
            onDone: [
              {
                guard: { type: 'hooksFailed', params: ({ event }) => event.output },
                target: '#container.failing',
                actions: [
                  assign(({ event }) => ({ plugins: event.output.selection, failure: event.output.failure })),
                  { type: 'recordHooks', params: ({ event }) => ({ runs: event.output.runs }) },
                ],
              },
              {
                guard: 'stopRequested',
                target: '#container.failing',
                actions: [
                  assign(({ context, event }) => ({ plugins: event.output.selection, failure: cancelledByStop(context.id) })),
                  { type: 'recordHooks', params: ({ event }) => ({ runs: event.output.runs }) },
                ],
              },
              {
                target: 'creating',
                actions: [
                  assign(({ event }) => ({ plugins: event.output.selection, additions: event.output.additions })),
                  { type: 'recordHooks', params: ({ event }) => ({ runs: event.output.runs }) },
                ],
              },
            ],
            // The plugins could not be selected (a required one missing, a dependsOn cycle): no hook ran.
            onError: {
              target: '#container.failing',
              actions: assign(({ context, event }) => ({
                failure: asDobbyError(event.error, context.id, `could not set up the plugins of container '${context.id}'`),
              })),
            },
          },
          on: { STOP: { actions: ['recordStop', 'flushStopReplies'] } },
        },

        creating: {
          invoke: {
            src: 'createContainer',
            input: ({ context }) => {
              if (context.request === null) throw new DobbyError('INTERNAL', 'creating without a start request');
              return {
                id: context.id,
                descriptor: context.descriptor,
                request: context.request,
                ...(context.additions === null ? {} : { additions: context.additions }),
              };
            },
            onDone: {
              target: 'created',
              actions: [
                assign(({ event }) => ({
                  pid: event.output.pid,
                  monitorPid: event.output.monitorPid,
                  cgroup: event.output.cgroup,
                  runtimeHasContainer: true,
                })),
                { type: 'lifecycle', params: { event: 'created' } },
              ],
            },
            onError: {
              target: '#container.failing',
              actions: assign(({ context, event }) => ({
                // A failed create may still have left runtime state behind: clean up as if it had.
                runtimeHasContainer: true,
                failure: asDobbyError(event.error, context.id, `could not create container '${context.id}'`),
              })),
            },
          },
          on: {
            STOP: { actions: ['recordStop', 'flushStopReplies'] },
            EXITED: { actions: assign(({ event }) => ({ exit: event.exit })) },
          },
        },

        created: {
          always: [
            { guard: 'stopRequested', target: '#container.failing', actions: assign(({ context }) => ({ failure: cancelledByStop(context.id) })) },
            { guard: 'hasExit', target: '#container.failing', actions: assign(({ context }) => ({ failure: diedBeforeStart(context.id) })) },
            { target: 'preStarting' },
          ],
        },

        // preStart: the container exists (pid known, namespaces made) but runs nothing yet.
        preStarting: {
          invoke: {
            src: 'preStartHooks',
            input: ({ context }) => hookInput(context, 'preStart'),
            onDone: [
              {
                guard: { type: 'hooksFailed', params: ({ event }) => event.output },
                target: '#container.failing',
                actions: [
                  assign(({ event }) => ({ failure: event.output.failure })),
                  { type: 'recordHooks', params: ({ event }) => ({ runs: event.output.runs }) },
                ],
              },
              {
                guard: 'stopRequested',
                target: '#container.failing',
                actions: [
                  assign(({ context }) => ({ failure: cancelledByStop(context.id) })),
                  { type: 'recordHooks', params: ({ event }) => ({ runs: event.output.runs }) },
                ],
              },
              {
                guard: 'hasExit',
                target: '#container.failing',
                actions: [
                  assign(({ context }) => ({ failure: diedBeforeStart(context.id) })),
                  { type: 'recordHooks', params: ({ event }) => ({ runs: event.output.runs }) },
                ],
              },
              { target: 'starting', actions: { type: 'recordHooks', params: ({ event }) => ({ runs: event.output.runs }) } },
            ],
            onError: {
              target: '#container.failing',
              actions: assign(({ context, event }) => ({
                failure: asDobbyError(event.error, context.id, `preStart hooks of container '${context.id}' failed`),
              })),
            },
          },
          on: {
            STOP: { actions: ['recordStop', 'flushStopReplies'] },
            EXITED: { actions: assign(({ event }) => ({ exit: event.exit })) },
          },
        },

        starting: {
          invoke: {
            src: 'startContainer',
            input: ({ context }) => ({ id: context.id }),
            onDone: { target: 'postStarting' },
            onError: {
              target: '#container.failing',
              actions: assign(({ context, event }) => ({
                failure: asDobbyError(event.error, context.id, `could not start container '${context.id}'`),
              })),
            },
          },
          on: {
            STOP: { actions: ['recordStop', 'flushStopReplies'] },
            // The process may exit before `start` returns: keep the exit for after Started.
            EXITED: { actions: assign(({ event }) => ({ exit: event.exit })) },
          },
        },

        // postStart: the container runs; Started (and the start reply) follow the hooks, as in Dobby.
        // A failed postStart hook is logged and reported; it does not undo the start.
        postStarting: {
          invoke: {
            src: 'postStartHooks',
            input: ({ context }) => hookInput(context, 'postStart'),
            onDone: {
              target: 'running',
              actions: [
                { type: 'recordHooks', params: ({ event }) => ({ runs: event.output.runs }) },
                { type: 'lifecycle', params: { event: 'started' } },
                'replyStarted',
              ],
            },
            onError: { target: 'running', actions: [{ type: 'lifecycle', params: { event: 'started' } }, 'replyStarted'] },
          },
          on: {
            STOP: { actions: ['recordStop', 'flushStopReplies'] },
            EXITED: { actions: assign(({ event }) => ({ exit: event.exit })) },
          },
        },

        running: {
          always: [
            { guard: 'hasExit', target: '#container.exited' },
            { guard: 'stopRequested', target: 'stopping' },
          ],
          on: {
            STOP: { target: 'stopping', actions: 'recordStop' },
            PAUSE: { target: 'pausing', actions: assign(({ event }) => ({ opRequestId: event.requestId })) },
            EXEC: {
              actions: spawnChild('execInContainer', {
                id: ({ event }) => `exec.${(event as { requestId: string }).requestId}`,
                input: ({ context, event }) => {
                  const e = event as { requestId: string; exec: ExecInput['exec'] };
                  return { id: context.id, requestId: e.requestId, exec: e.exec };
                },
              }),
            },
          },
        },

        pausing: {
          invoke: {
            src: 'pauseContainer',
            input: ({ context }) => ({ id: context.id }),
            onDone: {
              target: 'paused',
              actions: [assign({ frozen: true }), { type: 'lifecycle', params: { event: 'paused' } }, 'replyOpOk'],
            },
            onError: {
              target: 'running',
              actions: { type: 'replyOpError', params: ({ event }) => ({ error: event.error, verb: 'pause' }) },
            },
          },
          on: { STOP: { actions: 'recordStop' } },
        },

        paused: {
          always: { guard: 'stopRequested', target: 'stopping' },
          on: {
            STOP: { target: 'stopping', actions: 'recordStop' },
            RESUME: { target: 'resuming', actions: assign(({ event }) => ({ opRequestId: event.requestId })) },
          },
        },

        resuming: {
          invoke: {
            src: 'resumeContainer',
            input: ({ context }) => ({ id: context.id }),
            onDone: {
              target: 'running',
              actions: [assign({ frozen: false }), { type: 'lifecycle', params: { event: 'resumed' } }, 'replyOpOk'],
            },
            onError: {
              target: 'paused',
              actions: { type: 'replyOpError', params: ({ event }) => ({ error: event.error, verb: 'resume' }) },
            },
          },
          on: { STOP: { actions: 'recordStop' } },
        },

        stopping: {
          initial: 'deciding',
          on: { STOP: { actions: 'recordStop' } },
          states: {
            deciding: {
              always: [
                { guard: 'frozen', target: 'thawing' },
                { guard: 'stopForced', target: 'killing' },
                { target: 'terminating' },
              ],
            },
            // A frozen container cannot receive the signal: thaw it first.
            thawing: {
              invoke: {
                src: 'resumeContainer',
                input: ({ context }) => ({ id: context.id }),
                onDone: { target: 'deciding', actions: assign({ frozen: false }) },
                onError: { target: 'killing' },
              },
            },
            terminating: {
              invoke: {
                src: 'signalContainer',
                input: ({ context }) => ({ id: context.id, signal: 'SIGTERM' as const }),
                onDone: { target: 'graceWait', actions: 'flushStopReplies' },
                onError: { target: 'killing' },
              },
            },
            graceWait: {
              after: { stopGrace: { target: 'killing' } },
              on: {
                STOP: [
                  { guard: 'forcedStopEvent', target: 'killing', actions: 'recordStop' },
                  { actions: ['recordStop', 'flushStopReplies'] },
                ],
              },
            },
            killing: {
              entry: assign(({ context }) => ({ killAttempts: context.killAttempts + 1 })),
              invoke: {
                src: 'signalContainer',
                input: ({ context }) => ({ id: context.id, signal: 'SIGKILL' as const }),
                onDone: { target: 'awaitingExit', actions: 'flushStopReplies' },
                onError: { target: 'probing' },
              },
            },
            awaitingExit: {
              after: { killWait: { target: 'probing' } },
              on: { STOP: { actions: ['recordStop', 'flushStopReplies'] } },
            },
            // No exit arrived: ask the host whether the container is still there.
            probing: {
              invoke: {
                src: 'probeContainer',
                input: ({ context }) => ({ id: context.id }),
                onDone: [
                  {
                    guard: { type: 'probeFoundGone', params: ({ event }) => event.output },
                    actions: [
                      'flushStopReplies',
                      raise(({ event }) => ({
                        type: 'EXITED' as const,
                        exit: (event.output.gone ? event.output.exit : null) ?? KILLED_WITHOUT_RECORD,
                      })),
                    ],
                  },
                  { guard: 'mayRetryKill', target: 'retrying' },
                  { target: 'stuck' },
                ],
                onError: [{ guard: 'mayRetryKill', target: 'retrying' }, { target: 'stuck' }],
              },
            },
            // Delivering SIGKILL failed but the container is still there: try again shortly.
            retrying: {
              after: { killRetry: { target: 'killing' } },
            },
            // Processes that ignore SIGKILL (uninterruptible sleep): keep trying, never give up the id.
            stuck: {
              entry: { type: 'failStopReplies', params: { error: 'the container did not die after SIGKILL' } },
              after: { stuckRetry: { target: 'killing' } },
              on: { STOP: { actions: ['recordStop', 'flushStopReplies'] } },
            },
          },
        },
      },
    },

    exited: {
      entry: 'settleWaiters',
      initial: 'inspecting',
      on: { STOP: { actions: ['recordStop', 'flushStopReplies'] } },
      states: {
        inspecting: {
          invoke: {
            src: 'inspectExit',
            input: ({ context }) => ({ id: context.id, cgroup: context.cgroup, exit: context.exit ?? KILLED_WITHOUT_RECORD }),
            onDone: {
              target: 'postStopping',
              actions: [
                assign(({ event }) => ({ exitStatus: event.output })),
                emit(({ event }) => ({ type: 'lifecycle' as const, event: 'exited' as const, exit: event.output })),
              ],
            },
            onError: {
              target: 'postStopping',
              actions: [
                assign(({ context }) => ({ exitStatus: rawToStatus(context.exit) })),
                emit(({ context }) => ({ type: 'lifecycle' as const, event: 'exited' as const, exit: rawToStatus(context.exit) })),
              ],
            },
          },
        },
        // Teardown hooks: their failures are logged and teardown goes on.
        postStopping: {
          invoke: {
            src: 'postStopHooks',
            input: ({ context }) => hookInput(context, 'postStop'),
            onDone: { target: 'preDestructing', actions: { type: 'recordHooks', params: ({ event }) => ({ runs: event.output.runs }) } },
            onError: { target: 'preDestructing' },
          },
        },
        preDestructing: {
          invoke: {
            src: 'preDestructionHooks',
            input: ({ context }) => hookInput(context, 'preDestruction'),
            onDone: { target: 'tearingDown', actions: { type: 'recordHooks', params: ({ event }) => ({ runs: event.output.runs }) } },
            onError: { target: 'tearingDown' },
          },
        },
        tearingDown: {
          invoke: {
            src: 'teardown',
            input: ({ context }) => ({ id: context.id, force: false, ownedBundle: ownedBundleOf(context) }),
            onDone: { target: '#container.stopped' },
            // Teardown logs its own failures; the container is gone either way.
            onError: { target: '#container.stopped' },
          },
        },
      },
    },

    // The start failed (or was cancelled): undo whatever was done, then answer the start call.
    failing: {
      entry: [
        'settleWaiters',
        emit(({ context }) => ({
          type: 'lifecycle' as const,
          event: 'start-failed' as const,
          error: context.failure ?? new DobbyError('INTERNAL', `start of '${context.id}' failed`, { containerId: context.id }),
        })),
      ],
      on: { STOP: { actions: ['recordStop', 'flushStopReplies'] } },
      initial: 'deciding',
      states: {
        // postStop only for a container that was created; preDestruction whenever postConstruction ran.
        deciding: {
          always: [{ guard: 'wasCreated', target: 'postStopping' }, { target: 'preDestructing' }],
        },
        postStopping: {
          invoke: {
            src: 'postStopHooks',
            input: ({ context }) => hookInput(context, 'postStop'),
            onDone: { target: 'preDestructing', actions: { type: 'recordHooks', params: ({ event }) => ({ runs: event.output.runs }) } },
            onError: { target: 'preDestructing' },
          },
        },
        preDestructing: {
          invoke: {
            src: 'preDestructionHooks',
            input: ({ context }) => hookInput(context, 'preDestruction'),
            onDone: { target: 'tearingDown', actions: { type: 'recordHooks', params: ({ event }) => ({ runs: event.output.runs }) } },
            onError: { target: 'tearingDown' },
          },
        },
        tearingDown: {
          invoke: {
            src: 'teardown',
            input: ({ context }) => ({ id: context.id, force: true, ownedBundle: ownedBundleOf(context) }),
            onDone: { target: '#container.stopped', actions: 'replyStartFailed' },
            onError: { target: '#container.stopped', actions: 'replyStartFailed' },
          },
        },
      },
    },

    // Adopted but gone from the host: clear what is left of it (monitor files, the daemon's record).
    forgetting: {
      on: { STOP: { actions: ['recordStop', 'flushStopReplies'] } },
      invoke: {
        src: 'teardown',
        input: ({ context }) => ({ id: context.id, force: true, ownedBundle: ownedBundleOf(context) }),
        onDone: { target: 'stopped' },
        onError: { target: 'stopped' },
      },
    },

    stopped: {
      type: 'final',
      entry: { type: 'lifecycle', params: { event: 'deleted' } },
    },
  },
});

function hookInput(context: ContainerContext, point: LaterHookPoint): HookInput {
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

function cancelledByStop(id: string): DobbyError {
  return new DobbyError('ABORTED', `start of container '${id}' was cancelled by a stop`, { containerId: id });
}

function diedBeforeStart(id: string): DobbyError {
  return new DobbyError('RUNTIME_FAILED', `container '${id}' died before it was started`, { containerId: id });
}

function ownedBundleOf(context: ContainerContext): string | null {
  return context.request?.ownedBundle === true ? context.request.bundle : null;
}

function adoptedFields(output: AdoptOutput): Partial<ContainerContext> {
  if (output.status !== 'running' && output.status !== 'paused') return {};
  return { pid: output.pid, monitorPid: output.monitorPid, cgroup: output.cgroup, runtimeHasContainer: true };
}

function rawToStatus(exit: RawExit | null) {
  const raw = exit ?? KILLED_WITHOUT_RECORD;
  return exitStatusFromCode(raw.code, raw.oomKilled);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function asDobbyError(err: unknown, id: string, context: string): DobbyError {
  if (err instanceof DobbyError) return err;
  return new DobbyError('INTERNAL', `${context}: ${messageOf(err)}`, { containerId: id, cause: err });
}

/** The hook states of a live container, shown as the phase they belong to. */
const HOOK_STATE_PHASES: Readonly<Record<string, ContainerPhase>> = {
  constructing: 'creating',
  preStarting: 'created',
  postStarting: 'starting',
};

/** The user-visible phase of a container machine state value. */
export function phaseOf(value: unknown): ContainerPhase {
  if (typeof value === 'string') {
    if (value === 'failing' || value === 'forgetting') return 'stopping';
    if (value === 'unknown' || value === 'adopting' || value === 'stopped') return value;
    return 'unknown';
  }
  if (value !== null && typeof value === 'object') {
    if ('live' in value) {
      const live = (value as { live: unknown }).live;
      const key = typeof live === 'string' ? live : Object.keys(live as object)[0];
      if (key === undefined) return 'unknown';
      return HOOK_STATE_PHASES[key] ?? (key as ContainerPhase);
    }
    if ('exited' in value || 'failing' in value) return 'stopping';
  }
  return 'unknown';
}
