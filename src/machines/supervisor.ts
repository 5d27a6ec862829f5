// The root actor: validates ids, hands out descriptors, owns one container actor per container, and
// replaces a container actor that crashed with a fresh one that re-adopts the container from the host.

import { enqueueActions, setup, type ActorRefFrom } from 'xstate';
import { idProblem } from '../container-id.ts';
import { DobbyError } from '../errors.ts';
import type { StartRequest } from '../manager-types.ts';
import { containerMachine } from './container.ts';
import type { ContainerEvent } from './container-types.ts';
import { allocateDescriptor, DESCRIPTOR_SEED } from './descriptors.ts';

export interface SupervisorInput {
  readonly stopGraceMs: number;
  readonly killWaitMs?: number;
  /** How often one container's actor may be replaced after crashing before it is given up. */
  readonly maxRestarts?: number;
}

export interface SupervisedEntry {
  readonly id: string;
  readonly restarts: number;
}

export interface SupervisorContext {
  readonly lfsr: number;
  /** Live containers by descriptor. */
  readonly entries: Readonly<Record<number, SupervisedEntry>>;
  readonly stopGraceMs: number;
  readonly killWaitMs: number;
  readonly maxRestarts: number;
  readonly shuttingDown: boolean;
}

export type ContainerCommand = Extract<ContainerEvent, { type: 'STOP' | 'PAUSE' | 'RESUME' | 'EXEC' }>;

export type SupervisorEvent =
  | { readonly type: 'START'; readonly requestId: string; readonly request: StartRequest }
  /** A container found on the host; it keeps its recorded descriptor when it has one that is free. */
  | { readonly type: 'ADOPT'; readonly id: string; readonly descriptor?: number }
  | { readonly type: 'COMMAND'; readonly descriptor: number; readonly command: ContainerCommand }
  | { readonly type: 'SHUTDOWN'; readonly force: boolean }
  | { readonly type: `xstate.done.actor.ctr.${string}`; readonly actorId: string; readonly output: unknown }
  | { readonly type: `xstate.error.actor.ctr.${string}`; readonly actorId: string; readonly error: unknown };

export type SupervisorEmitted =
  | { readonly type: 'reply'; readonly requestId: string; readonly ok: false; readonly error: DobbyError }
  | { readonly type: 'restarted'; readonly descriptor: number; readonly id: string; readonly error: unknown }
  | { readonly type: 'abandoned'; readonly descriptor: number; readonly id: string; readonly error: unknown }
  | { readonly type: 'removed'; readonly descriptor: number; readonly id: string };

export const childIdOf = (descriptor: number): string => `ctr.${descriptor}`;

function descriptorOfChild(actorId: string): number {
  return Number(actorId.slice('ctr.'.length));
}

function usedDescriptors(entries: Readonly<Record<number, SupervisedEntry>>): Set<number> {
  return new Set(Object.keys(entries).map(Number));
}

function findDescriptor(entries: Readonly<Record<number, SupervisedEntry>>, id: string): number | undefined {
  for (const [descriptor, entry] of Object.entries(entries)) if (entry.id === id) return Number(descriptor);
  return undefined;
}

/** Why a start cannot be accepted, or null. */
function startRefusal(context: SupervisorContext, request: StartRequest): DobbyError | null {
  if (context.shuttingDown) return new DobbyError('ILLEGAL_STATE', 'the daemon is shutting down; no new containers are started');
  const problem = idProblem(request.id);
  if (problem !== null) return new DobbyError('INVALID_ID', problem);
  if (findDescriptor(context.entries, request.id) !== undefined) {
    return new DobbyError('DUPLICATE_ID', `a container with id '${request.id}' already exists; stop it first or pick another id`, {
      containerId: request.id,
    });
  }
  return null;
}

export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    input: {} as SupervisorInput,
    emitted: {} as SupervisorEmitted,
  },
  actors: { container: containerMachine },
}).createMachine({
  id: 'supervisor',
  context: ({ input }) => ({
    lfsr: DESCRIPTOR_SEED,
    entries: {},
    stopGraceMs: input.stopGraceMs,
    killWaitMs: input.killWaitMs ?? 10_000,
    maxRestarts: input.maxRestarts ?? 3,
    shuttingDown: false,
  }),
  initial: 'serving',
  states: {
    serving: {
      on: {
        START: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const refusal = startRefusal(context, event.request);
            const allocation = refusal === null ? allocateDescriptor(context.lfsr, usedDescriptors(context.entries)) : null;
            if (refusal !== null || allocation === null) {
              const error = refusal ?? new DobbyError('NO_DESCRIPTORS', 'all 1023 container descriptors are in use; stop a container first');
              enqueue.emit({ type: 'reply', requestId: event.requestId, ok: false, error });
              return;
            }
            const { descriptor } = allocation;
            enqueue.assign({
              lfsr: allocation.state,
              entries: { ...context.entries, [descriptor]: { id: event.request.id, restarts: 0 } },
            });
            enqueue.spawnChild('container', {
              id: childIdOf(descriptor),
              systemId: event.request.id,
              input: { id: event.request.id, descriptor, stopGraceMs: event.request.stopGraceMs ?? context.stopGraceMs, killWaitMs: context.killWaitMs },
            });
            enqueue.sendTo(childIdOf(descriptor), { type: 'START', requestId: event.requestId, request: event.request });
          }),
        },
        ADOPT: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            if (idProblem(event.id) !== null || findDescriptor(context.entries, event.id) !== undefined) return;
            const recorded = event.descriptor;
            let descriptor: number;
            let lfsr = context.lfsr;
            if (recorded !== undefined && recorded >= 1 && recorded <= 1023 && context.entries[recorded] === undefined) {
              descriptor = recorded;
            } else {
              const allocation = allocateDescriptor(context.lfsr, usedDescriptors(context.entries));
              if (allocation === null) return;
              descriptor = allocation.descriptor;
              lfsr = allocation.state;
            }
            enqueue.assign({ lfsr, entries: { ...context.entries, [descriptor]: { id: event.id, restarts: 0 } } });
            enqueue.spawnChild('container', {
              id: childIdOf(descriptor),
              systemId: event.id,
              input: { id: event.id, descriptor, stopGraceMs: context.stopGraceMs, killWaitMs: context.killWaitMs },
            });
            enqueue.sendTo(childIdOf(descriptor), { type: 'ADOPT' });
          }),
        },
        COMMAND: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            if (context.entries[event.descriptor] === undefined) {
              enqueue.emit({
                type: 'reply',
                requestId: event.command.requestId,
                ok: false,
                error: new DobbyError('UNKNOWN_CONTAINER', `no container has descriptor ${event.descriptor}; list the containers to find it`),
              });
              return;
            }
            enqueue.sendTo(childIdOf(event.descriptor), event.command);
          }),
        },
        SHUTDOWN: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            enqueue.assign({ shuttingDown: true });
            for (const descriptor of Object.keys(context.entries)) {
              enqueue.sendTo(childIdOf(Number(descriptor)), {
                type: 'STOP',
                requestId: `shutdown.${descriptor}`,
                force: event.force,
              });
            }
          }),
        },
        'xstate.done.actor.ctr.*': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const descriptor = descriptorOfChild(event.actorId);
            const entry = context.entries[descriptor];
            enqueue.stopChild(event.actorId);
            if (entry === undefined) return;
            const { [descriptor]: _removed, ...rest } = context.entries;
            enqueue.assign({ entries: rest });
            enqueue.emit({ type: 'removed', descriptor, id: entry.id });
          }),
        },
        // A container actor crashed: XState leaves it dead, so replace it with one that re-adopts.
        'xstate.error.actor.ctr.*': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const descriptor = descriptorOfChild(event.actorId);
            const entry = context.entries[descriptor];
            enqueue.stopChild(event.actorId);
            if (entry === undefined) return;
            if (entry.restarts >= context.maxRestarts) {
              const { [descriptor]: _dropped, ...rest } = context.entries;
              enqueue.assign({ entries: rest });
              enqueue.emit({ type: 'abandoned', descriptor, id: entry.id, error: event.error });
              return;
            }
            enqueue.assign({ entries: { ...context.entries, [descriptor]: { id: entry.id, restarts: entry.restarts + 1 } } });
            enqueue.spawnChild('container', {
              id: childIdOf(descriptor),
              systemId: entry.id,
              input: { id: entry.id, descriptor, stopGraceMs: context.stopGraceMs, killWaitMs: context.killWaitMs },
            });
            enqueue.sendTo(childIdOf(descriptor), { type: 'ADOPT' });
            if (context.shuttingDown) {
              enqueue.sendTo(childIdOf(descriptor), { type: 'STOP', requestId: `shutdown.${descriptor}`, force: false });
            }
            enqueue.emit({ type: 'restarted', descriptor, id: entry.id, error: event.error });
          }),
        },
      },
    },
  },
});

export type ContainerActorRef = ActorRefFrom<typeof containerMachine>;

