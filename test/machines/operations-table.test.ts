// The machine accepts exactly the commands the table below lists, in every phase, transitional
// ones included, and refuses the rest with a typed error naming the state and what it accepts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createActor, fromCallback, fromPromise } from 'xstate';
import type { ExitStatus } from '../../src/exit-status.ts';
import { containerMachine, phaseOf } from '../../src/machines/container.ts';
import type {
  AdoptOutput,
  ConstructOutput,
  ContainerEvent,
  CreateOutput,
  ExecInput,
  ExecOutput,
  HookInput,
  HookOutput,
  IdInput,
  InspectInput,
  ProbeOutput,
  Reply,
  TeardownInput,
} from '../../src/machines/container-types.ts';
import type { ContainerPhase } from '../../src/manager-types.ts';

type Operation = 'start' | 'stop' | 'pause' | 'resume' | 'exec';

/**
 * What each phase accepts. Stop is accepted in every live state: during a start it cancels the
 * start, during a stop it is a no-op (or upgrades a graceful stop to a forced one), as Dobby's Stop does.
 */
const allowedOperations: Readonly<Record<ContainerPhase, readonly Operation[]>> = {
  unknown: ['start'],
  adopting: ['stop'],
  creating: ['stop'],
  created: ['stop'],
  starting: ['stop'],
  running: ['stop', 'pause', 'exec'],
  pausing: ['stop'],
  paused: ['stop', 'resume'],
  resuming: ['stop'],
  stopping: ['stop'],
  stopped: [],
};

type Step = 'create' | 'start' | 'pause' | 'resume' | 'signal' | 'adopt' | 'postConstruction' | 'preStart' | 'postStart' | 'postStop' | 'preDestruction';

/** Actors that complete at once, except the one named `hold`, which never settles. */
function machineHolding(hold: Step | null) {
  // The input type is whatever each actor declares; these actors never look at it.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const settle = <T>(step: Step, value: T) => fromPromise<T, any>(() => (step === hold ? new Promise<T>(() => {}) : Promise.resolve(value)));
  const holdingHooks = fromPromise<HookOutput, HookInput>(({ input }) =>
    input.point === hold ? new Promise<HookOutput>(() => {}) : Promise.resolve({ runs: [], failure: null }),
  );
  return containerMachine.provide({
    actors: {
      adoptContainer: settle<AdoptOutput>('adopt', { status: 'running', pid: 1, monitorPid: 2, cgroup: null }),
      postConstructionHooks: settle<ConstructOutput>('postConstruction', {
        // One plugin, so that every hook state is entered (with none, the later ones are skipped).
        selection: { plugins: [{ name: 'tracer', kind: 'rdk', required: true, dependsOn: [], data: null }], skipped: [], rootfs: '/b/rootfs' },
        additions: { env: [], fds: [], mounts: [] },
        runs: [],
        failure: null,
      }),
      preStartHooks: holdingHooks,
      postStartHooks: holdingHooks,
      postStopHooks: holdingHooks,
      preDestructionHooks: holdingHooks,
      createContainer: settle<CreateOutput>('create', { pid: 10, monitorPid: 9, cgroup: null }),
      startContainer: settle<void>('start', undefined),
      pauseContainer: settle<void>('pause', undefined),
      resumeContainer: settle<void>('resume', undefined),
      signalContainer: settle<void>('signal', undefined),
      execInContainer: fromPromise<ExecOutput, ExecInput>(async ({ input }) => ({ requestId: input.requestId, pid: 5 })),
      probeContainer: fromPromise<ProbeOutput, IdInput>(async () => ({ gone: false })),
      inspectExit: fromPromise<ExitStatus, InspectInput>(async () => ({ exitCode: 0, signal: null, oomKilled: false, status: 0 })),
      teardown: fromPromise<void, TeardownInput>(async () => undefined),
      watchExit: fromCallback(() => () => {}),
    },
  });
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

/** How to bring a fresh machine into each phase (the `stopped` phase is final: tested below). */
interface Route {
  readonly phase: Exclude<ContainerPhase, 'stopped'>;
  readonly hold: Step | null;
  readonly events: ContainerEvent[];
}

const START: ContainerEvent = { type: 'START', requestId: 's', request: { id: 'c', bundle: '/b' } };

/** The plugin hook states, each held in the phase it shows as. */
const hookRoutes: Route[] = [
  { phase: 'creating', hold: 'postConstruction', events: [START] },
  { phase: 'created', hold: 'preStart', events: [START] },
  { phase: 'starting', hold: 'postStart', events: [START] },
  { phase: 'stopping', hold: 'postStop', events: [START, { type: 'EXITED', exit: { code: 0, oomKilled: false } }] },
  { phase: 'stopping', hold: 'preDestruction', events: [START, { type: 'EXITED', exit: { code: 0, oomKilled: false } }] },
];

const routes: Record<Exclude<ContainerPhase, 'created' | 'stopped'>, { hold: Step | null; events: ContainerEvent[] }> = {
  unknown: { hold: null, events: [] },
  adopting: { hold: 'adopt', events: [{ type: 'ADOPT' }] },
  creating: { hold: 'create', events: [{ type: 'START', requestId: 's', request: { id: 'c', bundle: '/b' } }] },
  starting: { hold: 'start', events: [{ type: 'START', requestId: 's', request: { id: 'c', bundle: '/b' } }] },
  running: { hold: null, events: [{ type: 'START', requestId: 's', request: { id: 'c', bundle: '/b' } }] },
  pausing: { hold: 'pause', events: [{ type: 'START', requestId: 's', request: { id: 'c', bundle: '/b' } }, { type: 'PAUSE', requestId: 'p' }] },
  paused: { hold: null, events: [{ type: 'START', requestId: 's', request: { id: 'c', bundle: '/b' } }, { type: 'PAUSE', requestId: 'p' }] },
  resuming: {
    hold: 'resume',
    events: [{ type: 'START', requestId: 's', request: { id: 'c', bundle: '/b' } }, { type: 'PAUSE', requestId: 'p' }, { type: 'RESUME', requestId: 'r' }],
  },
  stopping: { hold: 'signal', events: [{ type: 'START', requestId: 's', request: { id: 'c', bundle: '/b' } }, { type: 'STOP', requestId: 'x', force: false }] },
};

const commandFor: Record<Operation, ContainerEvent> = {
  start: { type: 'START', requestId: 'probe', request: { id: 'c', bundle: '/b' } },
  stop: { type: 'STOP', requestId: 'probe', force: false },
  pause: { type: 'PAUSE', requestId: 'probe' },
  resume: { type: 'RESUME', requestId: 'probe' },
  exec: { type: 'EXEC', requestId: 'probe', exec: { args: ['/bin/true'] } },
};

const allRoutes: Route[] = [
  ...(Object.entries(routes) as Array<[keyof typeof routes, (typeof routes)[keyof typeof routes]]>).map(([phase, r]) => ({ phase, ...r })),
  ...hookRoutes,
];

for (const { phase, ...route } of allRoutes) {
  const where = route.hold !== null && hookRoutes.some((r) => r.hold === route.hold) ? ` (held in ${route.hold})` : '';
  test(`in ${phase}${where} the machine accepts exactly ${allowedOperations[phase].join(', ') || 'nothing'}`, async () => {
    for (const op of Object.keys(commandFor) as Operation[]) {
      const actor = createActor(machineHolding(route.hold), { input: { id: 'c', descriptor: 7, stopGraceMs: 60_000 } });
      const replies: Reply[] = [];
      actor.on('reply', (e) => replies.push(e));
      actor.start();
      for (const event of route.events) {
        actor.send(event);
        await flush();
      }
      assert.equal(phaseOf(actor.getSnapshot().value), phase, `could not reach ${phase}`);
      actor.send(commandFor[op]);
      await flush();
      const refusal = replies.find((r): r is Extract<Reply, { ok: false }> => r.requestId === 'probe' && !r.ok);
      const allowed = allowedOperations[phase].includes(op);
      if (allowed) {
        assert.equal(refusal, undefined, `${op} in ${phase} was refused`);
      } else {
        assert.ok(refusal !== undefined, `${op} in ${phase} was not refused`);
        assert.equal(refusal.error.code, 'ILLEGAL_STATE');
        assert.match(refusal.error.message, new RegExp(`cannot ${op} container 'c' while it is ${phase}`));
        const hint = allowedOperations[phase].length === 0 ? 'it accepts no commands' : `it accepts only: ${allowedOperations[phase].join(', ')}`;
        assert.ok(refusal.error.message.endsWith(`; ${hint}`), `refusal in ${phase}: ${refusal.error.message}`);
      }
      actor.stop();
    }
  });
}

test('a stopped container is final: it takes no commands', async () => {
  // An adopted container that is missing on the host goes straight to stopped.
  const missing = createActor(
    containerMachine.provide({ actors: { adoptContainer: fromPromise<AdoptOutput, IdInput>(async () => ({ status: 'missing' })) } }),
    { input: { id: 'c', descriptor: 7, stopGraceMs: 1 } },
  );
  missing.start();
  missing.send({ type: 'ADOPT' });
  await flush();
  assert.equal(missing.getSnapshot().status, 'done');
  assert.equal(phaseOf(missing.getSnapshot().value), 'stopped');
  assert.deepEqual(allowedOperations.stopped, []);
});
