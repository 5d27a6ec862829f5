// The named pieces of the supervisor chart: its types, guards and actions (spawning, restarting,
// re-adopting and releasing container actors). The chart itself is in supervisor.ts.

import { enqueueActions, setup } from 'xstate';
import { idProblem } from '../container-id.ts';
import { DobbyError } from '../errors.ts';
import type { StartRequest } from '../manager-types.ts';
import { containerMachine } from './container.ts';
import type { ContainerEvent, ContainerOutput } from './container-types.ts';
import { allocateDescriptor } from './descriptors.ts';
import { decideRestart, NO_RESTARTS, type RestartHistory, type RestartPolicy } from './restart-policy.ts';

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
  /** The restart decided when the crashed container's actor ended; due after its backoff. */
  readonly pendingRestart?: { readonly delayMs: number; readonly attempt: number } | null;
  /** Waiting out the backoff: no container actor exists until the restart. */
  readonly waiting?: boolean;
  /** Its actor is finding out what is true of the container on the host (until it reports ADOPTED). */
  readonly adopting?: boolean;
}

export interface SupervisorContext {
  readonly lfsr: number;
  /** Live containers by descriptor (a container waiting to be restarted included). */
  readonly entries: Readonly<Record<number, SupervisedEntry>>;
  readonly stopGraceMs: number;
  readonly killWaitMs: number;
  readonly maxRestarts: number;
  readonly restartPolicy: RestartPolicy;
  /** SHUTDOWN asked for SIGKILL: a container re-adopted during the shutdown is killed too. */
  readonly forceShutdown: boolean;
}

export type ContainerCommand = Extract<ContainerEvent, { type: 'STOP' | 'PAUSE' | 'RESUME' | 'EXEC' }>;

type ChildDone = { readonly type: `xstate.done.actor.ctr.${string}`; readonly actorId: string; readonly output: ContainerOutput | undefined };
type ChildError = { readonly type: `xstate.error.actor.ctr.${string}`; readonly actorId: string; readonly error: unknown };

export type SupervisorEvent =
  | { readonly type: 'START'; readonly requestId: string; readonly request: StartRequest }
  /** A container found on the host; it keeps its recorded descriptor when it has one that is free. */
  | { readonly type: 'ADOPT'; readonly id: string; readonly descriptor?: number }
  | { readonly type: 'COMMAND'; readonly descriptor: number; readonly command: ContainerCommand }
  | { readonly type: 'SHUTDOWN'; readonly force: boolean }
  /** The backoff of a restart is over (raised by the supervisor itself, delayed). */
  | { readonly type: 'RESTART_DUE'; readonly descriptor: number }
  /** A container actor that was adopting knows what is true of its container now (sent by the child). */
  | { readonly type: 'ADOPTED'; readonly descriptor: number }
  | ChildDone
  | ChildError;

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

const descriptorOfChild = (actorId: string): number => Number(actorId.slice('ctr.'.length));

const usedDescriptors = (entries: Readonly<Record<number, SupervisedEntry>>): Set<number> => new Set(Object.keys(entries).map(Number));

function findDescriptor(entries: Readonly<Record<number, SupervisedEntry>>, id: string): number | undefined {
  for (const [descriptor, entry] of Object.entries(entries)) if (entry.id === id) return Number(descriptor);
  return undefined;
}

function without(entries: Readonly<Record<number, SupervisedEntry>>, descriptor: number): Record<number, SupervisedEntry> {
  const { [descriptor]: _removed, ...rest } = entries;
  return rest;
}

function shuttingDownError(): DobbyError {
  return new DobbyError('ILLEGAL_STATE', 'the daemon is shutting down; no new containers are started');
}

/** Why a start cannot be accepted, or null. */
function startRefusal(context: SupervisorContext, request: StartRequest): DobbyError | null {
  const problem = idProblem(request.id);
  if (problem !== null) return new DobbyError('INVALID_ID', problem);
  if (findDescriptor(context.entries, request.id) !== undefined) {
    return new DobbyError('DUPLICATE_ID', `a container with id '${request.id}' already exists; stop it first or pick another id`, {
      containerId: request.id,
    });
  }
  return null;
}

/** The descriptor an adopted container gets: its recorded one when free, else the next free one. */
function adoptionDescriptor(context: SupervisorContext, recorded: number | undefined): { descriptor: number; lfsr: number } | null {
  if (recorded !== undefined && recorded >= 1 && recorded <= 1023 && context.entries[recorded] === undefined) return { descriptor: recorded, lfsr: context.lfsr };
  const allocation = allocateDescriptor(context.lfsr, usedDescriptors(context.entries));
  return allocation === null ? null : { descriptor: allocation.descriptor, lfsr: allocation.state };
}

/** The restart a container's end calls for, if any (the clock is read here, where the exit is learned). */
function restartDecision(context: SupervisorContext, event: ChildDone) {
  const entry = context.entries[descriptorOfChild(event.actorId)];
  const status = event.output?.exitStatus?.status;
  if (entry?.request === undefined || entry.stopRequested === true || status === undefined) return null;
  return decideRestart(context.restartPolicy, entry.crashes ?? NO_RESTARTS, status, Date.now());
}

const childInput = (context: SupervisorContext, id: string, descriptor: number, request?: StartRequest) => ({
  id,
  descriptor,
  stopGraceMs: request?.stopGraceMs ?? context.stopGraceMs,
  killWaitMs: context.killWaitMs,
});

export const supervisorSetup = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    input: {} as SupervisorInput,
    emitted: {} as SupervisorEmitted,
  },
  actors: { container: containerMachine },
  guards: {
    noContainers: ({ context }) => Object.keys(context.entries).length === 0,
    someAdopting: ({ context }) => Object.values(context.entries).some((entry) => entry.adopting === true),
    /** The restart this event is about is the only one pending. */
    lastPendingRestart: ({ context, event }) => {
      if (event.type !== 'RESTART_DUE' && event.type !== 'COMMAND') return false;
      const waiting = Object.keys(context.entries).filter((key) => context.entries[Number(key)]!.waiting === true);
      return waiting.length === 1 && Number(waiting[0]) === event.descriptor;
    },
    unknownDescriptor: ({ context, event }) => event.type === 'COMMAND' && context.entries[event.descriptor] === undefined,
    waitingToRestart: ({ context, event }) => event.type === 'COMMAND' && context.entries[event.descriptor]?.waiting === true,
    isStop: ({ event }) => event.type === 'COMMAND' && event.command.type === 'STOP',
    /** The container crashed and its policy has an attempt left. */
    crashedWithRestartLeft: ({ context, event }) => restartDecision(context, event as ChildDone)?.restart === true,
    crashedWithoutRestartLeft: ({ context, event }) => {
      const decision = restartDecision(context, event as ChildDone);
      return decision?.restart === false && decision.reason === 'attempts-exhausted';
    },
    /** A crashed container actor may be replaced by one that re-adopts the container. */
    mayReplaceActor: ({ context, event }) => {
      const entry = context.entries[descriptorOfChild((event as ChildError).actorId)];
      return entry !== undefined && entry.restarts < context.maxRestarts;
    },
  },
  actions: {
    spawnAndStart: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'START') return;
      const refusal = startRefusal(context, event.request);
      const allocation = refusal === null ? allocateDescriptor(context.lfsr, usedDescriptors(context.entries)) : null;
      if (refusal !== null || allocation === null) {
        const error = refusal ?? new DobbyError('NO_DESCRIPTORS', 'all 1023 container descriptors are in use; stop a container first');
        enqueue.emit({ type: 'reply', requestId: event.requestId, ok: false, error });
        return;
      }
      const { descriptor } = allocation;
      const { request } = event;
      const entry: SupervisedEntry = request.restartOnCrash === true ? { id: request.id, restarts: 0, request, crashes: NO_RESTARTS } : { id: request.id, restarts: 0 };
      enqueue.assign({ lfsr: allocation.state, entries: { ...context.entries, [descriptor]: entry } });
      enqueue.spawnChild('container', { id: childIdOf(descriptor), systemId: request.id, input: childInput(context, request.id, descriptor, request) });
      enqueue.sendTo(childIdOf(descriptor), { type: 'START', requestId: event.requestId, request });
    }),
    refuseStart: enqueueActions(({ event, enqueue }) => {
      if (event.type === 'START') enqueue.emit({ type: 'reply', requestId: event.requestId, ok: false, error: shuttingDownError() });
    }),
    spawnAndAdopt: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'ADOPT' || idProblem(event.id) !== null || findDescriptor(context.entries, event.id) !== undefined) return;
      const taken = adoptionDescriptor(context, event.descriptor);
      if (taken === null) return;
      enqueue.assign({ lfsr: taken.lfsr, entries: { ...context.entries, [taken.descriptor]: { id: event.id, restarts: 0, adopting: true } } });
      enqueue.spawnChild('container', { id: childIdOf(taken.descriptor), systemId: event.id, input: childInput(context, event.id, taken.descriptor) });
      enqueue.sendTo(childIdOf(taken.descriptor), { type: 'ADOPT' });
    }),
    refuseUnknown: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'COMMAND') return;
      const error = new DobbyError('UNKNOWN_CONTAINER', `no container has descriptor ${event.descriptor}; list the containers to find it`);
      enqueue.emit({ type: 'reply', requestId: event.command.requestId, ok: false, error });
    }),
    /** Between a crash and its restart there is no container: a stop just drops the restart. */
    cancelRestart: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'COMMAND') return;
      const entry = context.entries[event.descriptor]!;
      enqueue.cancel(restartTimerOf(event.descriptor));
      enqueue.assign({ entries: without(context.entries, event.descriptor) });
      enqueue.emit({ type: 'restart-cancelled', descriptor: event.descriptor, id: entry.id });
      enqueue.emit({ type: 'acknowledged', requestId: event.command.requestId });
      enqueue.emit({ type: 'removed', descriptor: event.descriptor, id: entry.id });
    }),
    refuseWhileWaiting: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'COMMAND') return;
      const id = context.entries[event.descriptor]!.id;
      const error = new DobbyError('ILLEGAL_STATE', `container '${id}' crashed and is waiting to be restarted; it can only be stopped now`, { containerId: id });
      enqueue.emit({ type: 'reply', requestId: event.command.requestId, ok: false, error });
    }),
    forwardCommand: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'COMMAND') return;
      const entry = context.entries[event.descriptor]!;
      // The exit this stop causes is no crash.
      if (event.command.type === 'STOP' && entry.request !== undefined) {
        enqueue.assign({ entries: { ...context.entries, [event.descriptor]: { ...entry, stopRequested: true } } });
      }
      enqueue.sendTo(childIdOf(event.descriptor), event.command);
    }),
    /** The crashed container is torn down: keep its descriptor and id through the backoff, then start it again. */
    scheduleRestart: enqueueActions(({ context, event, enqueue }) => {
      const done = event as ChildDone;
      const decision = restartDecision(context, done);
      const descriptor = descriptorOfChild(done.actorId);
      const entry = context.entries[descriptor];
      enqueue.stopChild(done.actorId);
      if (decision?.restart !== true || entry === undefined) return;
      const pendingRestart = { delayMs: decision.delayMs, attempt: decision.attempt };
      enqueue.assign({ entries: { ...context.entries, [descriptor]: { ...entry, crashes: decision.history, pendingRestart, waiting: true } } });
      enqueue.emit({ type: 'restart-scheduled', descriptor, id: entry.id, ...pendingRestart });
      enqueue.raise({ type: 'RESTART_DUE', descriptor }, { id: restartTimerOf(descriptor), delay: pendingRestart.delayMs });
    }),
    restartExhausted: enqueueActions(({ context, event, enqueue }) => {
      const descriptor = descriptorOfChild((event as ChildDone).actorId);
      const entry = context.entries[descriptor];
      if (entry !== undefined) enqueue.emit({ type: 'restart-exhausted', descriptor, id: entry.id, attempts: entry.crashes?.attempts ?? 0 });
    }),
    respawnAndStart: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'RESTART_DUE') return;
      const entry = context.entries[event.descriptor];
      if (entry?.waiting !== true || entry.request === undefined || entry.pendingRestart == null) return;
      const { attempt } = entry.pendingRestart;
      const restarted: SupervisedEntry = { ...entry, waiting: false, pendingRestart: null, stopRequested: false, restartCount: (entry.restartCount ?? 0) + 1 };
      enqueue.assign({ entries: { ...context.entries, [event.descriptor]: restarted } });
      enqueue.spawnChild('container', { id: childIdOf(event.descriptor), systemId: entry.id, input: childInput(context, entry.id, event.descriptor, entry.request) });
      enqueue.sendTo(childIdOf(event.descriptor), { type: 'START', requestId: restartRequestId(event.descriptor, attempt), request: entry.request });
      enqueue.emit({ type: 'restarting', descriptor: event.descriptor, id: entry.id, attempt });
    }),
    noteAdopted: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'ADOPTED') return;
      const entry = context.entries[event.descriptor];
      if (entry?.adopting === true) enqueue.assign({ entries: { ...context.entries, [event.descriptor]: { ...entry, adopting: false } } });
    }),
    /** A container actor ended: the container is gone, its descriptor free again. */
    release: enqueueActions(({ context, event, enqueue }) => {
      const { actorId } = event as ChildDone | ChildError;
      const descriptor = descriptorOfChild(actorId);
      const entry = context.entries[descriptor];
      enqueue.stopChild(actorId);
      if (entry === undefined) return;
      enqueue.assign({ entries: without(context.entries, descriptor) });
      enqueue.emit({ type: 'removed', descriptor, id: entry.id });
    }),
    /** A container actor crashed: XState leaves it dead, so replace it with one that re-adopts. */
    replaceActor: enqueueActions(({ context, event, enqueue }) => {
      const { actorId, error } = event as ChildError;
      const descriptor = descriptorOfChild(actorId);
      const entry = context.entries[descriptor]!;
      enqueue.stopChild(actorId);
      enqueue.assign({ entries: { ...context.entries, [descriptor]: { ...entry, restarts: entry.restarts + 1, adopting: true } } });
      enqueue.spawnChild('container', { id: childIdOf(descriptor), systemId: entry.id, input: childInput(context, entry.id, descriptor) });
      enqueue.sendTo(childIdOf(descriptor), { type: 'ADOPT' });
      enqueue.emit({ type: 'restarted', descriptor, id: entry.id, error });
    }),
    abandonActor: enqueueActions(({ context, event, enqueue }) => {
      const { actorId, error } = event as ChildError;
      const descriptor = descriptorOfChild(actorId);
      const entry = context.entries[descriptor];
      enqueue.stopChild(actorId);
      if (entry === undefined) return;
      enqueue.assign({ entries: without(context.entries, descriptor) });
      enqueue.emit({ type: 'abandoned', descriptor, id: entry.id, error });
    }),
    /** During the shutdown a re-adopted container is stopped at once. */
    stopReplaced: enqueueActions(({ context, event, enqueue }) => {
      const descriptor = descriptorOfChild((event as ChildError).actorId);
      enqueue.sendTo(childIdOf(descriptor), { type: 'STOP', requestId: `shutdown.${descriptor}`, force: context.forceShutdown });
    }),
    /** Shutdown: pending restarts are dropped, every container is stopped (and a re-adopted one again). */
    stopAll: enqueueActions(({ context, event, enqueue }) => {
      const force = event.type === 'SHUTDOWN' ? event.force || context.forceShutdown : context.forceShutdown;
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
        entries = { ...entries, [descriptor]: { ...entry, stopRequested: true } };
        enqueue.sendTo(childIdOf(descriptor), { type: 'STOP', requestId: `shutdown.${descriptor}`, force });
      }
      enqueue.assign({ entries, forceShutdown: force });
    }),
  },
});
