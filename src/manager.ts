// The container manager: owns the supervisor actor, turns calls into events and emitted replies into
// promises, publishes lifecycle events on the bus, and answers status queries from snapshots.

import { join } from 'node:path';
import type { Observable } from 'rxjs';
import { createActor, type Actor, type AnyActorRef } from 'xstate';
import type { CgroupProbe } from './actors/container-actors.ts';
import { EventBus, type LifecycleEvent } from './bus.ts';
import { assertValidId } from './container-id.ts';
import { readBundleConfig } from './drivers/bundles/bundle-config.ts';
import type { LaunchConfigs } from './drivers/bundles/launch-configs.ts';
import type { SpecBundles } from './drivers/bundles/spec-bundles.ts';
import { createFdDuplicator, type FdDuplicator } from './drivers/fds/duplicate.ts';
import type { ConsoleSinks } from './drivers/monitor/console-follower.ts';
import type { Monitor } from './drivers/monitor/types.ts';
import { recordStop, type ContainerRecords } from './drivers/records/container-records.ts';
import type { OciRuntime } from './drivers/runtime/types.ts';
import { DobbyError } from './errors.ts';
import type { Logger } from './log.ts';
import { phaseOf } from './machines/container.ts';
import type { ContainerContext, ContainerEmitted } from './machines/container-types.ts';
import { restartPolicyProblem, type RestartPolicy } from './machines/restart-policy.ts';
import { childIdOf, type ContainerCommand, type SupervisorEmitted } from './machines/supervisor.ts';
import { ContainerNotes } from './manager/container-notes.ts';
import { lifecycleEvent, logSupervisorEvent } from './manager/lifecycle-events.ts';
import { PendingRequests } from './manager/pending-requests.ts';
import { RestartStore, type Restartable } from './manager/restart-store.ts';
import { wireSupervisor } from './manager/supervisor-wiring.ts';
import {
  WireState,
  type ContainerManager,
  type ContainerPhase,
  type ContainerSummary,
  type ExecRequest,
  type StartRequest,
} from './manager-types.ts';
import type { PluginRegistry } from './plugins/registry.ts';
import { pluginReport } from './plugins/report.ts';

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

type SupervisorActor = Actor<ReturnType<typeof wireSupervisor>>;

export class Manager implements ContainerManager {
  readonly #supervisor: SupervisorActor;
  readonly #bus: EventBus;
  readonly #logger: Logger;
  readonly #records: ContainerRecords;
  readonly #launchConfigsDir: string;
  readonly #requests = new PendingRequests();
  readonly #attached = new WeakSet<AnyActorRef>();
  readonly #notes = new ContainerNotes();
  readonly #idle = new Set<() => void>();
  readonly #specBundles: SpecBundles | undefined;
  readonly #restartable: RestartStore;

  constructor(options: ManagerOptions) {
    this.#logger = options.logger;
    this.#records = options.records;
    // The actors' default LaunchConfigs lives there too.
    this.#launchConfigsDir = options.launchConfigs?.dir ?? join(options.stateDir, 'configs');
    this.#specBundles = options.specBundles;
    const policyProblem = options.restartPolicy === undefined ? null : restartPolicyProblem(options.restartPolicy);
    if (policyProblem !== null) throw new DobbyError('INVALID_ARGUMENT', policyProblem);
    this.#restartable = new RestartStore({
      fdDuplicator: options.fdDuplicator ?? createFdDuplicator(),
      removeBundle: async (bundle) => await this.#specBundles?.remove(bundle),
      logger: options.logger,
    });
    this.#bus = new EventBus((err, event) =>
      this.#logger.error({ err, containerId: event.id, event: event.type }, 'an event listener threw; other listeners are unaffected'),
    );
    const machine = wireSupervisor({
      ...options,
      // Teardown of a restartable container keeps its bundle: a restart needs it; the final removal takes it.
      ...(options.specBundles === undefined ? {} : {
        removeBundle: async (bundle: string) => {
          if (!this.#restartable.ownsBundle(bundle)) await this.#specBundles?.remove(bundle);
        },
      }),
      onHookRun: ({ id, descriptor }, run) => this.#bus.publish({ id, descriptor, at: Date.now(), type: 'hook', ...run }),
    });
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
    // A bundle that cannot run is refused before anything is made for it (path, config.json, rootfs).
    await readBundleConfig(request.bundle, request.id);
    const value = await this.#requests.open((requestId) => this.#supervisor.send({ type: 'START', requestId, request }));
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
        restartable = await this.#restartable.keep(request.id, made.bundle, request.fds ?? []);
        fds = restartable.fds;
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
      this.#notes.setSpec(descriptor, made.spec);
      return descriptor;
    } catch (err) {
      if (restartable !== null) this.#restartable.drop(request.id, restartable);
      // A refused start (bad id, duplicate) never reached teardown: the bundle is still ours to remove.
      if (this.findById(request.id)?.bundle !== made.bundle) await bundles.remove(made.bundle);
      throw err;
    }
  }

  /** Writes the bundle a spec describes without running it (Dobby's debug CreateBundle). */
  async createBundle(id: string, spec: string): Promise<void> {
    assertValidId(id);
    const made = await this.#requireSpecBundles().create(id, spec);
    this.#logger.info({ containerId: id, bundle: made.bundle }, 'bundle created from a spec');
  }

  /** The spec a running container was started from (compact JSON), if it was started from one. */
  specOf(descriptor: number): string | undefined {
    return this.#notes.specOf(descriptor);
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
    await this.#restartable.cleanedUp(descriptor);
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
    this.#notes.annotate(descriptor, key, value);
    return true;
  }

  removeAnnotation(descriptor: number, key: string): boolean {
    return this.#notes.removeAnnotation(descriptor, key);
  }

  annotations(descriptor: number): ReadonlyMap<string, string> | undefined {
    return this.get(descriptor) === undefined ? undefined : this.#notes.annotations(descriptor);
  }

  /** Re-attaches a container found on the host after a daemon restart, with its recorded descriptor if free. */
  adopt(id: string, descriptor?: number): void {
    this.#supervisor.send(descriptor === undefined ? { type: 'ADOPT', id } : { type: 'ADOPT', id, descriptor });
  }

  async shutdown(options: { force?: boolean; timeoutMs?: number } = {}): Promise<void> {
    this.#supervisor.send({ type: 'SHUTDOWN', force: options.force === true });
    await this.whenIdle(options.timeoutMs ?? 60_000);
    await this.#restartable.allCleanedUp();
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
    this.#requests.rejectAll(new DobbyError('ABORTED', 'the daemon is closing'));
    this.#bus.complete();
  }

  #child(descriptor: number): AnyActorRef | undefined {
    const children = this.#supervisor.getSnapshot().children as Record<string, AnyActorRef | undefined>;
    return children[childIdOf(descriptor)];
  }

  #command(descriptor: number, make: (requestId: string) => ContainerCommand): Promise<number | undefined> {
    if (!Number.isInteger(descriptor)) {
      return Promise.reject(new DobbyError('INVALID_ARGUMENT', `descriptor must be an integer, got ${String(descriptor)}`));
    }
    return this.#requests.open((requestId) => this.#supervisor.send({ type: 'COMMAND', descriptor, command: make(requestId) }));
  }

  #onSupervisorEmitted(event: SupervisorEmitted): void {
    logSupervisorEvent(this.#logger, event);
    if (event.type === 'reply') this.#requests.settle(event.requestId, event);
    else if (event.type === 'acknowledged') this.#requests.settle(event.requestId, { ok: true });
    else if (event.type === 'removed' || event.type === 'abandoned') this.#gone(event.id, event.descriptor);
  }

  /** A container is gone for good: what was kept beside it goes too. */
  #gone(id: string, descriptor: number): void {
    this.#notes.forget(descriptor);
    this.#restartable.forget(id, descriptor);
    // Emitted while the supervisor is still in its transition: look at the entries after it.
    queueMicrotask(() => {
      if (this.list().length === 0) for (const done of [...this.#idle]) done();
    });
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
      child.on('*', (emitted: ContainerEmitted) => {
        if (emitted.type === 'reply') this.#requests.settle(emitted.requestId, emitted);
        else this.#bus.publish(lifecycleEvent(descriptor, entry.id, emitted, log));
      });
    }
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

export function createContainerManager(options: ManagerOptions): Manager {
  return new Manager(options);
}
