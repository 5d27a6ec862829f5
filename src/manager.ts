// The container manager: owns the supervisor actor, turns calls into events and emitted replies into
// promises, publishes lifecycle events on the bus, and answers status queries from snapshots.

import { join } from 'node:path';
import type { Observable } from 'rxjs';
import { createActor, type Actor, type AnyActorRef } from 'xstate';
import { createContainerActors, type CgroupProbe } from './actors/container-actors.ts';
import { createHookActors } from './actors/hook-actors.ts';
import { pluginReport } from './plugins/report.ts';
import { PluginRegistry } from './plugins/registry.ts';
import { EventBus, type LifecycleEvent } from './bus.ts';
import type { Monitor } from './drivers/monitor/types.ts';
import { recordStop, type ContainerRecords } from './drivers/records/container-records.ts';
import type { SpecBundles } from './drivers/bundles/spec-bundles.ts';
import { createFdDuplicator, type FdDuplicator } from './drivers/fds/duplicate.ts';
import { readBundleConfig } from './drivers/bundles/bundle-config.ts';
import type { LaunchConfigs } from './drivers/bundles/launch-configs.ts';
import type { ConsoleSinks } from './drivers/monitor/console-follower.ts';
import type { OciRuntime } from './drivers/runtime/types.ts';
import { idProblem } from './container-id.ts';
import { DobbyError, toDobbyError } from './errors.ts';
import type { Logger } from './log.ts';
import { containerMachine, phaseOf } from './machines/container.ts';
import type { ContainerEmitted, ContainerContext } from './machines/container-types.ts';
import { childIdOf, supervisorMachine, type ContainerCommand, type SupervisorEmitted } from './machines/supervisor.ts';
import { restartPolicyProblem, type RestartPolicy } from './machines/restart-policy.ts';
import {
  WireState,
  type ContainerManager,
  type ContainerPhase,
  type ContainerSummary,
  type ExecRequest,
  type StartRequest,
} from './manager-types.ts';
import { Semaphore } from './semaphore.ts';

export interface ManagerOptions {
  readonly runtime: OciRuntime;
  readonly monitor: Monitor;
  readonly cgroups: CgroupProbe;
  readonly records: ContainerRecords;
  readonly logger: Logger;
  /** The daemon's own state dir (logs, exec pid files). */
  readonly stateDir: string;
  readonly stopGraceMs?: number;
  readonly killWaitMs?: number;
  /** Runtime and monitor processes allowed in flight at once. */
  readonly maxRuntimeProcesses?: number;
  /** Makes bundles from Dobby specs; without it spec starts are refused. */
  readonly specBundles?: SpecBundles;
  /** Limits and backoff of restartOnCrash (default: Dobby's limits, 0.5 s doubling to 30 s). */
  readonly restartPolicy?: RestartPolicy;
  /** Keeps copies of a restartable container's fds for its restarts (default: the real dup). */
  readonly fdDuplicator?: FdDuplicator;
  /** Where per-launch configs are written and how the init of Dobby bundles is found (default: under stateDir). */
  readonly launchConfigs?: LaunchConfigs;
  /** Console followers (file, journald, syslog sinks); default: a set keeping its plans under stateDir. */
  readonly consoleSinks?: ConsoleSinks;
  /** The installed plugins (default: none); bundles name the ones they use. */
  readonly plugins?: PluginRegistry;
  /** Time limit of each plugin hook, in ms (default 4000). */
  readonly hookTimeoutMs?: number;
}

/** A container that restarts on crash: its bundle and fd copies live until it is gone for good. */
interface Restartable {
  readonly bundle: string;
  /** Our copies of the caller's fds (the caller's own are closed once the start is answered). */
  readonly fds: readonly number[];
  /** Known once the first start succeeded. */
  descriptor: number | null;
}

/** A start from a Dobby spec (StartFromSpec): the daemon makes the bundle. */
export interface SpecStartRequest {
  readonly id: string;
  /** Dobby spec JSON text. */
  readonly spec: string;
  readonly fds?: readonly number[];
  /** StartFromSpec's long arity: applied through the launch config, as for bundles. */
  readonly command?: readonly string[];
  readonly displaySocket?: string;
  readonly env?: readonly string[];
}

const WIRE_BY_PHASE: Readonly<Record<ContainerPhase, WireState>> = {
  unknown: WireState.STARTING,
  adopting: WireState.STARTING,
  creating: WireState.STARTING,
  created: WireState.STARTING,
  starting: WireState.STARTING,
  running: WireState.RUNNING,
  pausing: WireState.RUNNING,
  paused: WireState.PAUSED,
  resuming: WireState.PAUSED,
  stopping: WireState.STOPPING,
  stopped: WireState.INVALID,
};

interface Pending {
  resolve(value: number | undefined): void;
  reject(error: DobbyError): void;
}

type SupervisorActor = Actor<typeof supervisorMachine>;

export class Manager implements ContainerManager {
  readonly #supervisor: SupervisorActor;
  readonly #bus: EventBus;
  readonly #logger: Logger;
  readonly #records: ContainerRecords;
  readonly #launchConfigsDir: string;
  readonly #pending = new Map<string, Pending>();
  // A counter, not randomUUID: ids only pair replies with this manager's requests, and node:crypto
  // would cost an idle dobbyd ~0.9 MiB (it is otherwise loaded only when first needed).
  #lastRequest = 0;
  readonly #attached = new WeakSet<AnyActorRef>();
  readonly #annotations = new Map<number, Map<string, string>>();
  readonly #idle = new Set<() => void>();
  readonly #specs = new Map<number, string>();
  readonly #specBundles: SpecBundles | undefined;
  readonly #fdDuplicator: FdDuplicator;
  /** Restartable containers by id (ids are unique among live containers, through restarts too). */
  readonly #restartable = new Map<string, Restartable>();
  /** Final clean-ups (bundle, fd copies) of restartable containers in flight, by descriptor. */
  readonly #cleanups = new Map<number, Promise<void>>();

  constructor(options: ManagerOptions) {
    this.#logger = options.logger;
    this.#records = options.records;
    // The actors' default LaunchConfigs lives there too.
    this.#launchConfigsDir = options.launchConfigs?.dir ?? join(options.stateDir, 'configs');
    this.#specBundles = options.specBundles;
    this.#fdDuplicator = options.fdDuplicator ?? createFdDuplicator();
    const policyProblem = options.restartPolicy === undefined ? null : restartPolicyProblem(options.restartPolicy);
    if (policyProblem !== null) throw new DobbyError('INVALID_ARGUMENT', policyProblem);
    this.#bus = new EventBus((err, event) =>
      this.#logger.error({ err, containerId: event.id, event: event.type }, 'an event listener threw; other listeners are unaffected'),
    );
    const actors = createContainerActors({
      runtime: options.runtime,
      monitor: options.monitor,
      cgroups: options.cgroups,
      records: options.records,
      limiter: new Semaphore(options.maxRuntimeProcesses ?? 8),
      logger: options.logger,
      stateDir: options.stateDir,
      ...(options.launchConfigs === undefined ? {} : { launchConfigs: options.launchConfigs }),
      ...(options.consoleSinks === undefined ? {} : { consoleSinks: options.consoleSinks }),
      ...(options.specBundles === undefined ? {} : { removeBundle: (bundle: string) => this.#removeBundleAtTeardown(bundle) }),
    });
    const hookActors = createHookActors({
      registry: options.plugins ?? new PluginRegistry(),
      logger: options.logger,
      ...(options.hookTimeoutMs === undefined ? {} : { hookTimeoutMs: options.hookTimeoutMs }),
      onHookRun: ({ id, descriptor }, run) => this.#bus.publish({ id, descriptor, at: Date.now(), type: 'hook', ...run }),
      bundleOf: async (id) => (await options.records.list()).find((r) => r.id === id)?.bundle ?? null,
    });
    const machine = supervisorMachine.provide({ actors: { container: containerMachine.provide({ actors: { ...actors, ...hookActors } }) } });
    this.#supervisor = createActor(machine, {
      input: {
        stopGraceMs: options.stopGraceMs ?? 5_000,
        ...(options.killWaitMs === undefined ? {} : { killWaitMs: options.killWaitMs }),
        ...(options.restartPolicy === undefined ? {} : { restartPolicy: options.restartPolicy }),
      },
    });
    this.#supervisor.on('*', (event) => this.#onSupervisorEmitted(event));
    this.#supervisor.subscribe({
      next: () => this.#attachNewChildren(),
      error: (err: unknown) => this.#logger.fatal({ err }, 'the supervisor actor failed'),
    });
    this.#supervisor.start();
  }

  get events$(): Observable<LifecycleEvent> {
    return this.#bus.events$;
  }

  /** The bus itself, for listeners that want error isolation. */
  get bus(): EventBus {
    return this.#bus;
  }

  async start(request: StartRequest): Promise<number> {
    await checkBundle(request.bundle, request.id);
    const value = await this.#request((requestId) => this.#supervisor.send({ type: 'START', requestId, request }));
    if (value === undefined) throw new DobbyError('INTERNAL', `start of '${request.id}' gave no descriptor`);
    return value;
  }

  /** Makes a bundle from a Dobby spec and starts it; the bundle goes when the container goes. */
  async startFromSpec(request: SpecStartRequest): Promise<number> {
    const bundles = this.#requireSpecBundles();
    const made = await bundles.create(request.id, request.spec);
    for (const warning of made.warnings) this.#logger.warn({ containerId: request.id }, `spec: ${warning}`);
    let restartable: Restartable | null = null;
    try {
      let fds = request.fds;
      if (restartOnCrashOf(made.spec) && !this.#restartable.has(request.id) && this.findById(request.id) === undefined) {
        fds = await this.#fdDuplicator.duplicate(request.fds ?? []);
        restartable = { bundle: made.bundle, fds, descriptor: null };
        this.#restartable.set(request.id, restartable);
      }
      const descriptor = await this.start({
        id: request.id,
        bundle: made.bundle,
        ownedBundle: true,
        ...(fds === undefined ? {} : { fds }),
        ...(request.command === undefined ? {} : { command: request.command }),
        ...(request.displaySocket === undefined ? {} : { displaySocket: request.displaySocket }),
        ...(request.env === undefined ? {} : { env: request.env }),
        ...(restartable === null ? {} : { restartOnCrash: true }),
      });
      if (restartable !== null) restartable.descriptor = descriptor;
      this.#specs.set(descriptor, made.spec);
      return descriptor;
    } catch (err) {
      if (restartable !== null && this.#restartable.get(request.id) === restartable) {
        this.#restartable.delete(request.id);
        this.#fdDuplicator.close(restartable.fds);
      }
      // A refused start (bad id, duplicate) never reached teardown: the bundle is still ours to remove.
      if (this.findById(request.id)?.bundle !== made.bundle) await bundles.remove(made.bundle);
      throw err;
    }
  }

  /** Writes the bundle a spec describes without running it (Dobby's debug CreateBundle). */
  async createBundle(id: string, spec: string): Promise<void> {
    const problem = idProblem(id);
    if (problem !== null) throw new DobbyError('INVALID_ID', problem);
    const made = await this.#requireSpecBundles().create(id, spec);
    this.#logger.info({ containerId: id, bundle: made.bundle }, 'bundle created from a spec');
  }

  /** The spec a running container was started from (compact JSON), if it was started from one. */
  specOf(descriptor: number): string | undefined {
    return this.#specs.get(descriptor);
  }

  #requireSpecBundles(): SpecBundles {
    if (this.#specBundles === undefined) throw new DobbyError('INVALID_ARGUMENT', 'this daemon was built without Dobby spec support');
    return this.#specBundles;
  }

  async stop(descriptor: number, force: boolean): Promise<void> {
    const id = this.get(descriptor)?.id;
    // Noted first, so that a daemon that dies during the stop leaves the next one to finish it.
    if (id !== undefined) await recordStop(this.#records, id, force).catch((err: unknown) => this.#logger.warn({ err, containerId: id }, 'could not note the stop in the record'));
    await this.#command(descriptor, (requestId) => ({ type: 'STOP', requestId, force }));
    // A stop during a restart's backoff removes the container at once: answer once it is all gone.
    await this.#cleanups.get(descriptor);
  }

  async pause(descriptor: number): Promise<void> {
    await this.#command(descriptor, (requestId) => ({ type: 'PAUSE', requestId }));
  }

  async resume(descriptor: number): Promise<void> {
    await this.#command(descriptor, (requestId) => ({ type: 'RESUME', requestId }));
  }

  async exec(descriptor: number, request: ExecRequest): Promise<number> {
    if (request.args.length === 0) throw new DobbyError('INVALID_ARGUMENT', 'exec needs a command to run');
    const pid = await this.#command(descriptor, (requestId) => ({ type: 'EXEC', requestId, exec: request }));
    if (pid === undefined) throw new DobbyError('INTERNAL', 'exec gave no process id');
    return pid;
  }

  get(descriptor: number): ContainerSummary | undefined {
    const entry = this.#supervisor.getSnapshot().context.entries[descriptor];
    if (entry === undefined) return undefined;
    const child = this.#child(descriptor);
    const snapshot = child?.getSnapshot() as { value: unknown; context: ContainerContext } | undefined;
    const phase: ContainerPhase = snapshot === undefined ? 'unknown' : phaseOf(snapshot.value);
    return {
      descriptor,
      id: entry.id,
      phase,
      wireState: WIRE_BY_PHASE[phase],
      pid: snapshot?.context.pid ?? null,
      // Between a crash and its restart there is no container actor, only the kept start request.
      bundle: snapshot?.context.request?.bundle ?? entry.request?.bundle ?? '',
      ...(entry.request === undefined ? {} : { restarts: entry.restartCount ?? 0 }),
      launchConfig: join(this.#launchConfigsDir, `${entry.id}.json`),
      ...(snapshot?.context.plugins == null ? {} : { plugins: pluginReport(snapshot.context.plugins, snapshot.context.hookRuns) }),
    };
  }

  findById(id: string): ContainerSummary | undefined {
    return this.list().find((c) => c.id === id);
  }

  list(): ContainerSummary[] {
    const entries = this.#supervisor.getSnapshot().context.entries;
    const all: ContainerSummary[] = [];
    for (const key of Object.keys(entries)) {
      const summary = this.get(Number(key));
      if (summary !== undefined) all.push(summary);
    }
    return all.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  annotate(descriptor: number, key: string, value: string): boolean {
    if (this.get(descriptor) === undefined) return false;
    let map = this.#annotations.get(descriptor);
    if (map === undefined) this.#annotations.set(descriptor, (map = new Map()));
    map.set(key, value);
    return true;
  }

  removeAnnotation(descriptor: number, key: string): boolean {
    return this.#annotations.get(descriptor)?.delete(key) ?? false;
  }

  annotations(descriptor: number): ReadonlyMap<string, string> | undefined {
    if (this.get(descriptor) === undefined) return undefined;
    return this.#annotations.get(descriptor) ?? new Map();
  }

  /** Re-attaches a container found on the host after a daemon restart, with its recorded descriptor if free. */
  adopt(id: string, descriptor?: number): void {
    this.#supervisor.send(descriptor === undefined ? { type: 'ADOPT', id } : { type: 'ADOPT', id, descriptor });
  }

  async shutdown(options: { force?: boolean; timeoutMs?: number } = {}): Promise<void> {
    this.#supervisor.send({ type: 'SHUTDOWN', force: options.force === true });
    await this.whenIdle(options.timeoutMs ?? 60_000);
    await Promise.all(this.#cleanups.values());
  }

  /** Resolves once no container is left (or after the timeout, with a warning). */
  whenIdle(timeoutMs: number): Promise<void> {
    if (this.list().length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#idle.delete(done);
        this.#logger.warn({ left: this.list().map((c) => c.id) }, 'containers still present after the shutdown timeout');
        resolve();
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.#idle.add(done);
    });
  }

  /** Stops the supervisor actor and completes the bus; containers are left as they are. */
  close(): void {
    this.#supervisor.stop();
    for (const [, pending] of this.#pending) pending.reject(new DobbyError('ABORTED', 'the daemon is closing'));
    this.#pending.clear();
    this.#bus.complete();
  }

  #child(descriptor: number): AnyActorRef | undefined {
    const children = this.#supervisor.getSnapshot().children as Record<string, AnyActorRef | undefined>;
    return children[childIdOf(descriptor)];
  }

  #request(send: (requestId: string) => void): Promise<number | undefined> {
    return new Promise((resolve, reject) => {
      const requestId = `r${++this.#lastRequest}`;
      this.#pending.set(requestId, { resolve, reject });
      try {
        send(requestId);
      } catch (err) {
        this.#pending.delete(requestId);
        reject(toDobbyError(err));
      }
    });
  }

  #command(descriptor: number, make: (requestId: string) => ContainerCommand): Promise<number | undefined> {
    if (!Number.isInteger(descriptor)) {
      return Promise.reject(new DobbyError('INVALID_ARGUMENT', `descriptor must be an integer, got ${String(descriptor)}`));
    }
    return this.#request((requestId) => this.#supervisor.send({ type: 'COMMAND', descriptor, command: make(requestId) }));
  }

  #settle(requestId: string, result: { ok: true; value?: number } | { ok: false; error: DobbyError }): void {
    const pending = this.#pending.get(requestId);
    if (pending === undefined) return;
    this.#pending.delete(requestId);
    if (result.ok) pending.resolve(result.value);
    else pending.reject(result.error);
  }

  #onSupervisorEmitted(event: SupervisorEmitted): void {
    switch (event.type) {
      case 'reply':
        this.#settle(event.requestId, event);
        return;
      case 'acknowledged':
        this.#settle(event.requestId, { ok: true });
        return;
      case 'removed':
        this.#annotations.delete(event.descriptor);
        this.#specs.delete(event.descriptor);
        this.#forgetRestartable(event.id, event.descriptor);
        // Emitted while the supervisor is still in its transition: look at the entries after it.
        queueMicrotask(() => {
          if (this.list().length === 0) for (const done of [...this.#idle]) done();
        });
        return;
      case 'restarted':
        this.#logger.error({ err: event.error, containerId: event.id, descriptor: event.descriptor }, 'container actor crashed; re-adopting the container');
        return;
      case 'abandoned':
        this.#logger.error({ err: event.error, containerId: event.id, descriptor: event.descriptor }, 'container actor kept crashing; giving it up');
        this.#annotations.delete(event.descriptor);
        this.#forgetRestartable(event.id, event.descriptor);
        return;
      case 'restart-scheduled':
        this.#logger.warn({ containerId: event.id, descriptor: event.descriptor, attempt: event.attempt, delayMs: event.delayMs },
          `container crashed; restart attempt ${event.attempt} in ${event.delayMs} ms`);
        return;
      case 'restarting':
        this.#logger.info({ containerId: event.id, descriptor: event.descriptor, attempt: event.attempt }, `restarting the container (attempt ${event.attempt})`);
        return;
      case 'restart-exhausted':
        this.#logger.error({ containerId: event.id, descriptor: event.descriptor, attempts: event.attempts },
          `container crashed again after ${event.attempts} restarts in a row; not restarting it any more`);
        return;
      case 'restart-cancelled':
        this.#logger.info({ containerId: event.id, descriptor: event.descriptor }, 'pending restart cancelled by a stop');
        return;
    }
  }

  /** Teardown of a restartable container keeps its bundle: a restart needs it; the final removal takes it. */
  async #removeBundleAtTeardown(bundle: string): Promise<void> {
    for (const r of this.#restartable.values()) if (r.bundle === bundle) return;
    await this.#specBundles?.remove(bundle);
  }

  /** A restartable container is gone for good: its bundle and fd copies go too. */
  #forgetRestartable(id: string, descriptor: number): void {
    const r = this.#restartable.get(id);
    if (r === undefined || r.descriptor !== descriptor) return;
    this.#restartable.delete(id);
    this.#fdDuplicator.close(r.fds);
    const log = this.#logger.child({ containerId: id, descriptor });
    const cleanup = (this.#specBundles?.remove(r.bundle) ?? Promise.resolve())
      .catch((err: unknown) => log.warn({ err }, 'could not remove the generated bundle'))
      .finally(() => this.#cleanups.delete(descriptor));
    this.#cleanups.set(descriptor, cleanup);
  }

  // Children emit their replies and lifecycle events; attach before any of them can be emitted
  // (the first emission always follows an asynchronous actor, after this synchronous notification).
  #attachNewChildren(): void {
    const snapshot = this.#supervisor.getSnapshot();
    for (const [key, entry] of Object.entries(snapshot.context.entries)) {
      const descriptor = Number(key);
      const child = this.#child(descriptor);
      if (child === undefined || this.#attached.has(child)) continue;
      this.#attached.add(child);
      const log = this.#logger.child({ containerId: entry.id, descriptor });
      child.on('*', (emitted: ContainerEmitted) => this.#onChildEmitted(descriptor, entry.id, emitted, log));
    }
  }

  #onChildEmitted(descriptor: number, id: string, emitted: ContainerEmitted, log: Logger): void {
    if (emitted.type === 'reply') {
      this.#settle(emitted.requestId, emitted);
      return;
    }
    const base = { id, descriptor, at: Date.now() };
    let event: LifecycleEvent;
    switch (emitted.event) {
      case 'exited':
        event = { ...base, type: 'exited', ...emitted.exit };
        log.info({ event: 'exited', ...emitted.exit }, 'container exited');
        break;
      case 'start-failed':
        event = { ...base, type: 'start-failed', code: emitted.error.code, message: emitted.error.message };
        log.warn({ event: 'start-failed', err: emitted.error }, 'container failed to start');
        break;
      default:
        event = { ...base, type: emitted.event };
        log.info({ event: emitted.event }, `container ${emitted.event}`);
    }
    this.#bus.publish(event);
  }
}

/** The spec (compact JSON, already validated) asks to be restarted on crash. */
function restartOnCrashOf(spec: string): boolean {
  try {
    return (JSON.parse(spec) as { restartOnCrash?: unknown }).restartOnCrash === true;
  } catch {
    return false;
  }
}

/** A bundle that cannot run is refused before anything is made for it (path, config.json, rootfs). */
async function checkBundle(bundle: string, id: string): Promise<void> {
  await readBundleConfig(bundle, id);
}

export function createContainerManager(options: ManagerOptions): Manager {
  return new Manager(options);
}
