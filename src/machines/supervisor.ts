// The root actor as a statechart: it owns one container actor per container (its children), hands
// out Dobby's descriptors, restarts a container that crashed when its start asked for it
// (restartOnCrash, with backoff), replaces a container actor that crashed by one that re-adopts the
// container from the host, adopts the containers an earlier daemon left, and shuts them all down.
// Three parallel regions show it: restarts (backing off), adoption (actors finding out what is true
// on the host) and lifecycle (serving, shutting down). The named guards and actions are in
// supervisor-setup.ts.

import { and, not, type ActorRefFrom } from 'xstate';
import type { containerMachine } from './container.ts';
import { DESCRIPTOR_SEED } from './descriptors.ts';
import { DEFAULT_RESTART_POLICY } from './restart-policy.ts';
import { supervisorSetup } from './supervisor-setup.ts';

export {
  childIdOf,
  restartRequestId,
  type ContainerCommand,
  type SupervisedEntry,
  type SupervisorContext,
  type SupervisorEmitted,
  type SupervisorEvent,
  type SupervisorInput,
} from './supervisor-setup.ts';

/** Commands for one container, the same while serving and while shutting down (one waiting to be restarted is the restarts region's). */
const COMMANDS = {
  COMMAND: [
    { guard: 'unknownDescriptor', actions: 'refuseUnknown' },
    { guard: not('waitingToRestart'), actions: 'forwardCommand' },
  ],
} as const;

export const supervisorMachine = supervisorSetup.createMachine({
  id: 'supervisor',
  context: ({ input }) => ({
    lfsr: DESCRIPTOR_SEED,
    entries: {},
    stopGraceMs: input.stopGraceMs,
    killWaitMs: input.killWaitMs ?? 10_000,
    maxRestarts: input.maxRestarts ?? 3,
    restartPolicy: input.restartPolicy ?? DEFAULT_RESTART_POLICY,
    forceShutdown: false,
  }),
  type: 'parallel',
  states: {
    // Crashed containers that asked for restartOnCrash wait out their backoff here. First, so that a
    // crash's own actions run before the lifecycle region releases the container.
    restarts: {
      initial: 'idle',
      on: {
        // A crash with no attempt left: the container goes for good (released by the lifecycle region).
        'xstate.done.actor.ctr.*': { guard: 'crashedWithoutRestartLeft', actions: 'restartExhausted' },
      },
      states: {
        idle: {
          on: {
            'xstate.done.actor.ctr.*': { guard: 'crashedWithRestartLeft', target: 'backingOff', actions: 'scheduleRestart' },
          },
        },
        // At least one restart is pending: its container has no actor until RESTART_DUE.
        backingOff: {
          on: {
            'xstate.done.actor.ctr.*': { guard: 'crashedWithRestartLeft', actions: 'scheduleRestart' },
            RESTART_DUE: [
              { guard: 'lastPendingRestart', target: 'idle', actions: 'respawnAndStart' },
              { actions: 'respawnAndStart' },
            ],
            COMMAND: [
              { guard: and(['waitingToRestart', 'isStop', 'lastPendingRestart']), target: 'idle', actions: 'cancelRestart' },
              { guard: and(['waitingToRestart', 'isStop']), actions: 'cancelRestart' },
              { guard: 'waitingToRestart', actions: 'refuseWhileWaiting' },
            ],
            // The shutdown drops every pending restart (stopAll, on entering shuttingDown).
            SHUTDOWN: { target: 'idle' },
          },
        },
      },
    },
    // Container actors finding out what is true of their container on the host: one an earlier
    // daemon left (ADOPT), or one whose actor crashed and was replaced.
    adoption: {
      initial: 'idle',
      states: {
        idle: {
          always: { guard: 'someAdopting', target: 'adopting' },
        },
        adopting: {
          on: { ADOPTED: { actions: 'noteAdopted' } },
          always: { guard: not('someAdopting'), target: 'idle' },
        },
      },
    },
    lifecycle: {
      initial: 'serving',
      states: {
        serving: {
          on: {
            START: { actions: 'spawnAndStart' },
            // A container an earlier daemon left: its actor finds out what is true of it now.
            ADOPT: { actions: 'spawnAndAdopt' },
            ...COMMANDS,
            // A container actor ended; a crash with a restart left is the restarts region's.
            'xstate.done.actor.ctr.*': { guard: not('crashedWithRestartLeft'), actions: 'release' },
            'xstate.error.actor.ctr.*': [{ guard: 'mayReplaceActor', actions: 'replaceActor' }, { actions: 'abandonActor' }],
            SHUTDOWN: { target: 'shuttingDown' },
          },
        },
        // No new containers; every container is stopped and nothing is restarted.
        shuttingDown: {
          entry: 'stopAll',
          always: { guard: 'noContainers', target: 'shutDown' },
          on: {
            START: { actions: 'refuseStart' },
            ...COMMANDS,
            'xstate.done.actor.ctr.*': { actions: 'release' },
            'xstate.error.actor.ctr.*': [{ guard: 'mayReplaceActor', actions: ['replaceActor', 'stopReplaced'] }, { actions: 'abandonActor' }],
            // A forced shutdown after a graceful one upgrades the stops.
            SHUTDOWN: { actions: 'stopAll' },
          },
        },
        shutDown: {
          on: {
            START: { actions: 'refuseStart' },
            COMMAND: { actions: 'refuseUnknown' },
          },
        },
      },
    },
  },
});

export type ContainerActorRef = ActorRefFrom<typeof containerMachine>;
