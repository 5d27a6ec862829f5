// The container lifecycle as one XState machine: states, guards and which actor each state invokes.
// Pure definition: every side effect is an actor named here and implemented in src/actors; the
// named guards and actions are in container-setup.ts, the teardown sequence in container-teardown.ts.

import { and, assign, raise, spawnChild } from 'xstate';
import { DobbyError } from '../errors.ts';
import { adoptedFields, asDobbyError, containerSetup, hookInput, KILLED_WITHOUT_RECORD, nothingToRunAt, ownedBundleOf } from './container-setup.ts';
import { teardownBesideRuntimeStates, teardownStates } from './container-teardown.ts';
import type { ExecInput } from './container-types.ts';

export { phaseOf } from './container-phase.ts';

/** Stop while there is nothing to signal (a start or a teardown in progress): noted and answered at once. */
const STOP_ANSWERED = { STOP: { actions: 'answerStop' as const } };
/** Stop while a signal is about to go out: noted, answered once it did. */
const STOP_HELD = { STOP: { actions: 'holdStop' as const } };
/** An exit while the start is still in progress: kept for when the start ends. */
const EXIT_NOTED = { EXITED: { actions: 'noteExit' as const } };
/**
 * After an exit is inspected: the teardown, with the runtime's delete beside the hooks when they
 * allow it. Without plugins the hooks have nothing to do and cost nothing: no actor, no event.
 */
const TEARDOWN_AFTER_EXIT = [
  { guard: 'noPlugins' as const, target: 'besideRuntime.hooks.hooksDone', actions: 'exited' as const },
  { guard: 'teardownBesideRuntime' as const, target: 'besideRuntime', actions: 'exited' as const },
  { target: 'postStopping', actions: 'exited' as const },
];
/** The container runs: Started, then the start's reply (Dobby's order). */
const STARTED = [{ type: 'lifecycle' as const, params: { event: 'started' as const } }, 'replyStarted' as const];

export const containerMachine = containerSetup.createMachine({
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
    startedByCreate: false,
  }),
  initial: 'unknown',
  // The parent decides on a restart from how the container ended.
  output: ({ context }) => ({ exitStatus: context.exitStatus }),
  // Commands that reach the root were not accepted by the current state: refuse them, never drop.
  on: {
    START: { actions: 'refuse' },
    STOP: { actions: 'refuse' },
    PAUSE: { actions: 'refuse' },
    RESUME: { actions: 'refuse' },
    EXEC: { actions: 'refuse' },
    'xstate.done.actor.exec.*': { actions: 'replyExec' },
    'xstate.error.actor.exec.*': { actions: 'replyExec' },
  },
  states: {
    unknown: {
      on: {
        START: { target: 'live', actions: assign(({ event }) => ({ request: event.request, startRequestId: event.requestId })) },
        ADOPT: { target: 'adopting', actions: assign({ adopted: true }) },
      },
    },

    // After a daemon restart or an actor crash: rebuild from what is true on the host.
    adopting: {
      exit: 'reportAdopted',
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
            actions: assign(({ event }) => ({ runtimeHasContainer: true, exit: event.output.status === 'exited' ? event.output.exit : null })),
          },
          { target: 'forgetting' },
        ],
        onError: {
          target: 'failing',
          actions: [assign({ runtimeHasContainer: true }), { type: 'failWith', params: { verb: 'adopt' } }],
        },
      },
      on: STOP_HELD,
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
      on: { EXITED: { target: 'exited', actions: 'noteExit' } },
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
                actions: [assign(({ event }) => ({ plugins: event.output.selection, failure: event.output.failure })), 'recordHooks'],
              },
              {
                guard: 'stopRequested',
                target: '#container.failing',
                actions: [assign(({ event }) => ({ plugins: event.output.selection })), 'cancelByStop', 'recordHooks'],
              },
              {
                target: 'creating',
                actions: [assign(({ event }) => ({ plugins: event.output.selection, additions: event.output.additions })), 'recordHooks'],
              },
            ],
            // The plugins could not be selected (a required one missing, a dependsOn cycle): no hook ran.
            onError: { target: '#container.failing', actions: { type: 'failWith', params: { verb: 'set up the plugins of' } } },
          },
          on: STOP_ANSWERED,
        },

        creating: {
          invoke: {
            src: 'createContainer',
            input: ({ context }) => {
              if (context.request === null) throw new DobbyError('INTERNAL', 'creating without a start request');
              const { id, descriptor, request, additions } = context;
              // Nothing between create and start: one runtime process may do both.
              return { id, descriptor, request, ...(additions === null ? {} : { additions }), ...(nothingToRunAt(context, 'preStart') ? { start: true } : {}) };
            },
            onDone: {
              target: 'created',
              actions: [
                assign(({ event }) => ({
                  pid: event.output.pid, monitorPid: event.output.monitorPid, cgroup: event.output.cgroup, runtimeHasContainer: true,
                  startedByCreate: event.output.started === true,
                })),
                { type: 'lifecycle', params: { event: 'created' } },
              ],
            },
            // A failed create may still have left runtime state behind: clean up as if it had.
            onError: { target: '#container.failing', actions: [assign({ runtimeHasContainer: true }), { type: 'failWith', params: { verb: 'create' } }] },
          },
          on: { ...STOP_ANSWERED, ...EXIT_NOTED },
        },

        created: {
          always: [
            { guard: 'stopRequested', target: '#container.failing', actions: 'cancelByStop' },
            // Started as it was created: an exit meanwhile is the container's own, seen once it runs.
            {
              guard: and(['startedByCreate', { type: 'nothingAt', params: { point: 'postStart' as const } }]),
              target: 'running',
              actions: STARTED,
            },
            { guard: 'startedByCreate', target: 'postStarting' },
            { guard: 'hasExit', target: '#container.failing', actions: 'diedBeforeStart' },
            // Hooks that have nothing to do cost nothing: no actor, no event.
            { guard: { type: 'nothingAt', params: { point: 'preStart' } }, target: 'starting' },
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
                actions: [assign(({ event }) => ({ failure: event.output.failure })), 'recordHooks'],
              },
              { guard: 'stopRequested', target: '#container.failing', actions: ['cancelByStop', 'recordHooks'] },
              { guard: 'hasExit', target: '#container.failing', actions: ['diedBeforeStart', 'recordHooks'] },
              { target: 'starting', actions: 'recordHooks' },
            ],
            onError: {
              target: '#container.failing',
              actions: assign(({ context, event }) => ({
                failure: asDobbyError(event.error, context.id, `preStart hooks of container '${context.id}' failed`),
              })),
            },
          },
          on: { ...STOP_ANSWERED, ...EXIT_NOTED },
        },

        starting: {
          invoke: {
            src: 'startContainer',
            input: ({ context }) => ({ id: context.id }),
            onDone: [
              { guard: { type: 'nothingAt', params: { point: 'postStart' } }, target: 'running', actions: STARTED },
              { target: 'postStarting' },
            ],
            onError: { target: '#container.failing', actions: { type: 'failWith', params: { verb: 'start' } } },
          },
          // The process may exit before `start` returns: keep the exit for after Started.
          on: { ...STOP_ANSWERED, ...EXIT_NOTED },
        },

        // postStart: the container runs; Started (and the start reply) follow the hooks, as in Dobby.
        // A failed postStart hook is logged and reported; it does not undo the start.
        postStarting: {
          invoke: {
            src: 'postStartHooks',
            input: ({ context }) => hookInput(context, 'postStart'),
            onDone: { target: 'running', actions: ['recordHooks', ...STARTED] },
            onError: { target: 'running', actions: STARTED },
          },
          on: { ...STOP_ANSWERED, ...EXIT_NOTED },
        },

        running: {
          always: [
            { guard: 'hasExit', target: '#container.exited' },
            { guard: 'stopRequested', target: 'stopping' },
          ],
          on: {
            STOP: { target: 'stopping', actions: 'holdStop' },
            PAUSE: { target: 'pausing', actions: 'holdOp' },
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
            onDone: { target: 'paused', actions: [assign({ frozen: true }), { type: 'lifecycle', params: { event: 'paused' } }, 'replyOpOk'] },
            onError: { target: 'running', actions: { type: 'replyOpError', params: { verb: 'pause' } } },
          },
          on: STOP_HELD,
        },

        paused: {
          always: { guard: 'stopRequested', target: 'stopping' },
          on: {
            STOP: { target: 'stopping', actions: 'holdStop' },
            RESUME: { target: 'resuming', actions: 'holdOp' },
          },
        },

        resuming: {
          invoke: {
            src: 'resumeContainer',
            input: ({ context }) => ({ id: context.id }),
            onDone: { target: 'running', actions: [assign({ frozen: false }), { type: 'lifecycle', params: { event: 'resumed' } }, 'replyOpOk'] },
            onError: { target: 'paused', actions: { type: 'replyOpError', params: { verb: 'resume' } } },
          },
          on: STOP_HELD,
        },

        stopping: {
          initial: 'deciding',
          on: STOP_HELD,
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
                input: ({ context }) => ({
                  id: context.id, signal: 'SIGTERM' as const, resendWithinMs: context.stopGraceMs,
                  ...(context.pid !== null && context.monitorPid !== null && context.monitorPid > 0 ? { init: { pid: context.pid, monitorPid: context.monitorPid } } : {}),
                }),
                onDone: { target: 'graceWait', actions: 'flushStopReplies' },
                onError: { target: 'killing' },
              },
            },
            graceWait: {
              after: { stopGrace: { target: 'killing' } },
              on: {
                STOP: [{ guard: 'forcedStopEvent', target: 'killing', actions: 'holdStop' }, { actions: 'answerStop' }],
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
              on: STOP_ANSWERED,
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
                      raise(({ event }) => ({ type: 'EXITED' as const, exit: (event.output.gone ? event.output.exit : null) ?? KILLED_WITHOUT_RECORD })),
                    ],
                  },
                  { guard: 'mayRetryKill', target: 'retrying' },
                  { target: 'stuck' },
                ],
                onError: [{ guard: 'mayRetryKill', target: 'retrying' }, { target: 'stuck' }],
              },
            },
            // Delivering SIGKILL failed but the container is still there: try again shortly.
            retrying: { after: { killRetry: { target: 'killing' } } },
            // Processes that ignore SIGKILL (uninterruptible sleep): keep trying, never give up the id.
            stuck: {
              entry: { type: 'failStopReplies', params: { error: 'the container did not die after SIGKILL' } },
              after: { stuckRetry: { target: 'killing' } },
              on: STOP_ANSWERED,
            },
          },
        },
      },
    },

    exited: {
      entry: 'settleWaiters',
      initial: 'inspecting',
      on: STOP_ANSWERED,
      states: {
        inspecting: {
          invoke: {
            src: 'inspectExit',
            input: ({ context }) => ({ id: context.id, cgroup: context.cgroup, exit: context.exit ?? KILLED_WITHOUT_RECORD }),
            // An exit whose status could not be inspected is torn down all the same.
            onDone: TEARDOWN_AFTER_EXIT,
            onError: TEARDOWN_AFTER_EXIT,
          },
        },
        ...teardownStates({ force: false }),
        ...teardownBesideRuntimeStates(),
      },
    },

    // The start failed (or was cancelled): undo whatever was done, then answer the start call.
    failing: {
      entry: ['settleWaiters', 'startFailed'],
      on: STOP_ANSWERED,
      initial: 'deciding',
      states: {
        // postStop only for a container that was created; preDestruction whenever postConstruction ran.
        deciding: {
          always: [{ guard: 'noPlugins', target: 'tearingDown' }, { guard: 'wasCreated', target: 'postStopping' }, { target: 'preDestructing' }],
        },
        ...teardownStates({ force: true, finish: 'replyStartFailed' }),
      },
    },

    // Adopted but gone from the host: clear what is left of it (monitor files, the daemon's record).
    forgetting: {
      on: STOP_ANSWERED,
      invoke: {
        src: 'teardown',
        input: ({ context }) => ({ id: context.id, force: true, ownedBundle: ownedBundleOf(context), runtimeDeleted: false }),
        onDone: { target: 'stopped' },
        onError: { target: 'stopped' },
      },
    },

    stopped: { type: 'final', entry: { type: 'lifecycle', params: { event: 'deleted' } } },
  },
});
