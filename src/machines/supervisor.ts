// The root actor as a statechart: it owns one container actor per container (its children), hands
// out Dobby's descriptors, restarts a container that crashed when its start asked for it
// (restartOnCrash, with backoff), replaces a container actor that crashed by one that re-adopts the
// container from the host, adopts the containers an earlier daemon left, and shuts them all down.
// The guards and actions named here are in supervisor-setup.ts.

import { and, type ActorRefFrom } from 'xstate';
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

/** Commands for one container, the same while serving and while shutting down. */
const COMMANDS = {
  COMMAND: [
    { guard: 'unknownDescriptor', actions: 'refuseUnknown' },
    { guard: and(['waitingToRestart', 'isStop']), actions: 'cancelRestart' },
    { guard: 'waitingToRestart', actions: 'refuseWhileWaiting' },
    { actions: 'forwardCommand' },
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
  initial: 'serving',
  states: {
    serving: {
      on: {
        START: { actions: 'spawnAndStart' },
        // A container an earlier daemon left: its actor finds out what is true of it now.
        ADOPT: { actions: 'spawnAndAdopt' },
        ...COMMANDS,
        // A container actor ended: a crash with restarts left waits out its backoff, anything else goes.
        'xstate.done.actor.ctr.*': [
          { guard: 'crashedWithRestartLeft', actions: 'scheduleRestart' },
          { guard: 'crashedWithoutRestartLeft', actions: ['restartExhausted', 'release'] },
          { actions: 'release' },
        ],
        RESTART_DUE: { actions: 'respawnAndStart' },
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
});

export type ContainerActorRef = ActorRefFrom<typeof containerMachine>;
