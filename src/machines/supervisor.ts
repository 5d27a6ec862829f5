// The root actor: validates ids, hands out descriptors, owns one container actor per container,
// replaces a container actor that crashed with a fresh one that re-adopts the container from the
// host, and restarts a container that crashed when its start asked for it (restartOnCrash).

import { enqueueActions, setup, type ActorRefFrom } from 'xstate';
import { idProblem } from '../container-id.ts';
import { DobbyError } from '../errors.ts';
import type { StartRequest } from '../manager-types.ts';
import { containerMachine } from './container.ts';
import type { ContainerEvent } from './container-types.ts';
import { allocateDescriptor, DESCRIPTOR_SEED } from './descriptors.ts';
import { decideRestart, DEFAULT_RESTART_POLICY, NO_RESTARTS, type RestartHistory, type RestartPolicy } from './restart-policy.ts';

export interface SupervisorInput {
  readonly stopGraceMs: number;
  readonly killWaitMs?: number;
  /** How often one container's actor may be replaced after crashing before it is given up. */
  readonly maxRestarts?: number;
  /** Restart-on-crash limits and backoff; Dobby's limits with a 0.5 s → 30 s backoff by default. */
  readonly restartPolicy?: RestartPolicy;
}

export interface SupervisedEntry {
  readonly id: string;
  /** Replacements of a crashed container actor (not restarts of the container). */
  readonly restarts: number;
  /** Kept only for a start that asked for restartOnCrash: what a restart starts again. */
  readonly request?: StartRequest;
  /** Restarts of the container after it crashed: the policy's window... */
  readonly crashes?: RestartHistory;
  /** ...and every one since the first start. */
  readonly restartCount?: number;
  /** A stop (or the shutdown) asked for: the exit that follows is no crash. */
  readonly stopRequested?: boolean;
  /** A restart decided on the exit; it happens once the old actor has torn the container down. */
  readonly pendingRestart?: { readonly delayMs: number; readonly attempt: number } | null;
  /** Waiting out the backoff: no container actor exists until the restart. */
  readonly waiting?: boolean;
}

export interface SupervisorContext {
  readonly lfsr: number;
  /** Live containers by descriptor (a container waiting to be restarted included). */
  readonly entries: Readonly<Record<number, SupervisedEntry>>;
  readonly stopGraceMs: number;
  readonly killWaitMs: number;
  readonly maxRestarts: number;
  readonly restartPolicy: RestartPolicy;
  readonly shuttingDown: boolean;
}

export type ContainerCommand = Extract<ContainerEvent, { type: 'STOP' | 'PAUSE' | 'RESUME' | 'EXEC' }>;

export type SupervisorEvent =
  | { readonly type: 'START'; readonly requestId: string; readonly request: StartRequest }
  /** A container found on the host; it keeps its recorded descriptor when it has one that is free. */
  | { readonly type: 'ADOPT'; readonly id: string; readonly descriptor?: number }
  | { readonly type: 'COMMAND'; readonly descriptor: number; readonly command: ContainerCommand }
  | { readonly type: 'SHUTDOWN'; readonly force: boolean }
  /** A container's process ended with raw wait status `status` at `at` (ms since the epoch). */
  | { readonly type: 'CONTAINER_EXITED'; readonly descriptor: number; readonly status: number; readonly at: number }
  /** The backoff of a restart is over (raised by the supervisor itself, delayed). */
  | { readonly type: 'RESTART_DUE'; readonly descriptor: number }
  | { readonly type: `xstate.done.actor.ctr.${string}`; readonly actorId: string; readonly output: unknown }
  | { readonly type: `xstate.error.actor.ctr.${string}`; readonly actorId: string; readonly error: unknown };

export type SupervisorEmitted =
  | { readonly type: 'reply'; readonly requestId: string; readonly ok: false; readonly error: DobbyError }
  /** A command the supervisor carried out itself (a stop of a container waiting to be restarted). */
  | { readonly type: 'acknowledged'; readonly requestId: string }
  | { readonly type: 'restarted'; readonly descriptor: number; readonly id: string; readonly error: unknown }
  | { readonly type: 'abandoned'; readonly descriptor: number; readonly id: string; readonly error: unknown }
  | { readonly type: 'removed'; readonly descriptor: number; readonly id: string }
  /** A crash will be followed by a restart after `delayMs`. */
  | { readonly type: 'restart-scheduled'; readonly descriptor: number; readonly id: string; readonly attempt: number; readonly delayMs: number }
  /** The backoff is over: the container is being started again. */
  | { readonly type: 'restarting'; readonly descriptor: number; readonly id: string; readonly attempt: number }
  /** A crash with no restart left: the container goes for good. */
  | { readonly type: 'restart-exhausted'; readonly descriptor: number; readonly id: string; readonly attempts: number }
  /** A pending restart was dropped by a stop or the shutdown. */
  | { readonly type: 'restart-cancelled'; readonly descriptor: number; readonly id: string };

export const childIdOf = (descriptor: number): string => `ctr.${descriptor}`;

/** The id of the delayed RESTART_DUE event of a container, to cancel it. */
const restartTimerOf = (descriptor: number): string => `restart.${descriptor}`;

/** Request ids of the supervisor's own restart starts: nobody waits on their replies. */
export const restartRequestId = (descriptor: number, attempt: number): string => `restart.${descriptor}.${attempt}`;

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

function without(entries: Readonly<Record<number, SupervisedEntry>>, descriptor: number): Record<number, SupervisedEntry> {
  const { [descriptor]: _removed, ...rest } = entries;
  return rest;
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
    restartPolicy: input.restartPolicy ?? DEFAULT_RESTART_POLICY,
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
            const entry: SupervisedEntry = event.request.restartOnCrash === true
              ? { id: event.request.id, restarts: 0, request: event.request, crashes: NO_RESTARTS }
              : { id: event.request.id, restarts: 0 };
            enqueue.assign({ lfsr: allocation.state, entries: { ...context.entries, [descriptor]: entry } });
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
            const entry = context.entries[event.descriptor];
            if (entry === undefined) {
              enqueue.emit({
                type: 'reply',
                requestId: event.command.requestId,
                ok: false,
                error: new DobbyError('UNKNOWN_CONTAINER', `no container has descriptor ${event.descriptor}; list the containers to find it`),
              });
              return;
            }
            if (entry.waiting === true) {
              // Between a crash and its restart there is no container: a stop just drops the restart.
              if (event.command.type === 'STOP') {
                enqueue.cancel(restartTimerOf(event.descriptor));
                enqueue.assign({ entries: without(context.entries, event.descriptor) });
                enqueue.emit({ type: 'restart-cancelled', descriptor: event.descriptor, id: entry.id });
                enqueue.emit({ type: 'acknowledged', requestId: event.command.requestId });
                enqueue.emit({ type: 'removed', descriptor: event.descriptor, id: entry.id });
                return;
              }
              enqueue.emit({
                type: 'reply',
                requestId: event.command.requestId,
                ok: false,
                error: new DobbyError('ILLEGAL_STATE', `container '${entry.id}' crashed and is waiting to be restarted; it can only be stopped now`, {
                  containerId: entry.id,
                }),
              });
              return;
            }
            if (event.command.type === 'STOP' && entry.request !== undefined) {
              if (entry.pendingRestart != null) enqueue.emit({ type: 'restart-cancelled', descriptor: event.descriptor, id: entry.id });
              enqueue.assign({ entries: { ...context.entries, [event.descriptor]: { ...entry, stopRequested: true, pendingRestart: null } } });
            }
            enqueue.sendTo(childIdOf(event.descriptor), event.command);
          }),
        },
        SHUTDOWN: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            enqueue.assign({ shuttingDown: true });
            let entries = context.entries;
            for (const [key, entry] of Object.entries(context.entries)) {
              const descriptor = Number(key);
              if (entry.waiting === true) {
                enqueue.cancel(restartTimerOf(descriptor));
                entries = without(entries, descriptor);
                enqueue.emit({ type: 'restart-cancelled', descriptor, id: entry.id });
                enqueue.emit({ type: 'removed', descriptor, id: entry.id });
                continue;
              }
              if (entry.pendingRestart != null) enqueue.emit({ type: 'restart-cancelled', descriptor, id: entry.id });
              enqueue.sendTo(childIdOf(descriptor), { type: 'STOP', requestId: `shutdown.${descriptor}`, force: event.force });
            }
            enqueue.assign({ entries });
          }),
        },
        CONTAINER_EXITED: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const entry = context.entries[event.descriptor];
            if (entry?.request === undefined || entry.stopRequested === true || context.shuttingDown || entry.waiting === true) return;
            const decision = decideRestart(context.restartPolicy, entry.crashes ?? NO_RESTARTS, event.status, event.at);
            if (!decision.restart) {
              if (decision.reason === 'attempts-exhausted') {
                enqueue.emit({ type: 'restart-exhausted', descriptor: event.descriptor, id: entry.id, attempts: decision.history.attempts });
              }
              return;
            }
            const pendingRestart = { delayMs: decision.delayMs, attempt: decision.attempt };
            enqueue.assign({ entries: { ...context.entries, [event.descriptor]: { ...entry, crashes: decision.history, pendingRestart } } });
            enqueue.emit({ type: 'restart-scheduled', descriptor: event.descriptor, id: entry.id, ...pendingRestart });
          }),
        },
        RESTART_DUE: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const entry = context.entries[event.descriptor];
            if (entry?.waiting !== true || entry.request === undefined || entry.pendingRestart == null) return;
            const { attempt } = entry.pendingRestart;
            enqueue.assign({
              entries: {
                ...context.entries,
                [event.descriptor]: { ...entry, waiting: false, pendingRestart: null, stopRequested: false, restartCount: (entry.restartCount ?? 0) + 1 },
              },
            });
            enqueue.spawnChild('container', {
              id: childIdOf(event.descriptor),
              systemId: entry.id,
              input: {
                id: entry.id,
                descriptor: event.descriptor,
                stopGraceMs: entry.request.stopGraceMs ?? context.stopGraceMs,
                killWaitMs: context.killWaitMs,
              },
            });
            enqueue.sendTo(childIdOf(event.descriptor), { type: 'START', requestId: restartRequestId(event.descriptor, attempt), request: entry.request });
            enqueue.emit({ type: 'restarting', descriptor: event.descriptor, id: entry.id, attempt });
          }),
        },
        'xstate.done.actor.ctr.*': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const descriptor = descriptorOfChild(event.actorId);
            const entry = context.entries[descriptor];
            enqueue.stopChild(event.actorId);
            if (entry === undefined) return;
            const pending = entry.pendingRestart;
            if (pending != null && entry.stopRequested !== true && !context.shuttingDown) {
              // The descriptor and the id stay taken through the backoff: the restart keeps both.
              enqueue.assign({ entries: { ...context.entries, [descriptor]: { ...entry, waiting: true } } });
              enqueue.raise({ type: 'RESTART_DUE', descriptor }, { id: restartTimerOf(descriptor), delay: pending.delayMs });
              return;
            }
            enqueue.assign({ entries: without(context.entries, descriptor) });
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
              enqueue.assign({ entries: without(context.entries, descriptor) });
              enqueue.emit({ type: 'abandoned', descriptor, id: entry.id, error: event.error });
              return;
            }
            enqueue.assign({ entries: { ...context.entries, [descriptor]: { ...entry, restarts: entry.restarts + 1 } } });
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
