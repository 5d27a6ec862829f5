// The container machine's actors: each turns driver calls (runtime, monitor, cgroups) into machine events.

import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { filter } from 'rxjs';
import { fromCallback, fromPromise } from 'xstate';
import { crypto } from '../builtins.ts';
import type { OciRuntime } from '../drivers/runtime/types.ts';
import type { Monitor } from '../drivers/monitor/types.ts';
import type { ContainerRecords } from '../drivers/records/container-records.ts';
import { LaunchConfigs, type PreparedLaunch } from '../drivers/bundles/launch-configs.ts';
import { removeFile } from '../drivers/remove-file.ts';
import type { LaunchOverrides } from '../drivers/bundles/launch-config.ts';
import { ConsoleSinks } from '../drivers/monitor/console-follower.ts';
import { loggingPluginOf, planConsole } from '../drivers/monitor/log-sinks.ts';
import { ownDir } from '../drivers/own-dir.ts';
import type { StartRequest } from '../manager-types.ts';
import { DobbyError } from '../errors.ts';
import { exitStatusFromCode, type ExitStatus } from '../exit-status.ts';
import type { Logger } from '../log.ts';
import { LaunchGate } from '../launch-gate.ts';
import type { Semaphore } from '../semaphore.ts';
import type {
  AdoptOutput,
  CgroupPaths,
  ContainerEvent,
  CreateInput,
  CreateOutput,
  DeleteInput,
  ExecInput,
  ExecOutput,
  IdInput,
  InspectInput,
  ProbeOutput,
  RawExit,
  SignalInput,
  TeardownInput,
  WatchInput,
} from '../machines/container-types.ts';

/** What the actors need to know about a container's cgroups. */
export interface CgroupProbe {
  /** The container's cgroup paths, read from /proc/<pid>/cgroup; null if the process is gone. */
  pathsOf(pid: number): Promise<CgroupPaths | null>;
  /** How many OOM kills the kernel recorded in those cgroups. */
  oomKillCount(paths: CgroupPaths): Promise<number>;
  /** Removes the empty cgroups the runtime made for this container id and left behind (a failed create). */
  removeLeftovers?(id: string): Promise<void>;
}

export interface ContainerActorDeps {
  readonly runtime: OciRuntime;
  readonly monitor: Monitor;
  readonly cgroups: CgroupProbe;
  /** What the daemon remembers across its restarts (descriptor, bundle). */
  readonly records: ContainerRecords;
  /** Caps runtime and monitor processes in flight across all containers. */
  readonly limiter: Semaphore;
  /** Lets creates reach their monitor's launch one at a time; default: a gate of their own. */
  readonly launchGate?: LaunchGate;
  readonly logger: Logger;
  /** The daemon's state dir: logs/ and exec/ live under it. */
  readonly stateDir: string;
  /** Removes a bundle the daemon generated (from a spec). */
  readonly removeBundle?: (bundle: string) => Promise<void>;
  /** Launch configs (`<state dir>/configs/`); default: with dobbyd's init, DobbyInit looked for on the host. */
  readonly launchConfigs?: LaunchConfigs;
  /** Console followers of the file, journald and syslog sinks; default: a fresh set. */
  readonly consoleSinks?: ConsoleSinks;
}

/** How often, and how far apart, a pause is checked for the freezer to have taken hold. */
const PAUSE_CHECKS = 100;
const PAUSE_CHECK_MS = 10;

export function consoleLogPath(stateDir: string, id: string): string {
  return join(stateDir, 'logs', `${id}.log`);
}

/** The start request's per-launch settings, as the launch config takes them. */
function launchOverridesOf(request: StartRequest): LaunchOverrides {
  return {
    ...(request.command === undefined ? {} : { command: request.command }),
    ...(request.displaySocket === undefined ? {} : { displaySocket: request.displaySocket }),
    ...(request.env === undefined ? {} : { env: request.env }),
    ...(request.userId === undefined ? {} : { userId: request.userId }),
    ...(request.groupId === undefined ? {} : { groupId: request.groupId }),
  };
}

function isNoSuchContainer(err: unknown): boolean {
  if (!(err instanceof DobbyError) || err.stderr === undefined) return false;
  return /does not exist|not found|no such/i.test(err.stderr);
}

export function createContainerActors(deps: ContainerActorDeps) {
  const { runtime, monitor, cgroups, records, limiter, logger, stateDir } = deps;
  const launchGate = deps.launchGate ?? new LaunchGate();
  const launchConfigs = deps.launchConfigs ?? new LaunchConfigs({ dir: join(stateDir, 'configs') });
  const consoleSinks = deps.consoleSinks ?? new ConsoleSinks({ dir: join(stateDir, 'configs') });
  const limited = <T>(task: () => Promise<T>): Promise<T> => limiter.run(task);

  /** Kills what is left when asked (`force`), then deletes; failures are logged, never thrown. */
  const deleteFromRuntime = async (input: DeleteInput): Promise<void> => {
    const log = logger.child({ containerId: input.id });
    if (input.force) {
      await limited(() => runtime.kill(input.id, 'SIGKILL', { all: true })).catch((err: unknown) => {
        if (!isNoSuchContainer(err)) log.debug({ err }, 'kill before delete failed');
      });
    }
    await limited(() => runtime.delete(input.id, { force: input.force })).catch(async (err: unknown) => {
      if (isNoSuchContainer(err)) return;
      log.warn({ err }, 'delete failed; retrying with --force');
      await limited(() => runtime.delete(input.id, { force: true })).catch((again: unknown) => {
        if (!isNoSuchContainer(again)) log.error({ err: again }, 'could not delete the container from the runtime');
      });
    });
  };

  return {
    createContainer: fromPromise<CreateOutput, CreateInput>(async ({ input }) => {
      const { id, request, additions } = input;
      const log = logger.child({ containerId: id });
      // Left once the monitor is launched, or when the create ends before: see launch-gate.ts.
      const leave = await launchGate.enter();
      let launch: PreparedLaunch;
      try {
        await ownDir(join(stateDir, 'logs'));
        // Nothing is made for a bundle that cannot run: its config is read and checked first.
        launch = await launchConfigs.prepare(id, request.bundle, launchOverridesOf(request), additions);
      } catch (err) {
        leave();
        throw err;
      }
      for (const note of launch.notes) log.warn({ note }, note);
      const monitorLogPath = request.logPath ?? consoleLogPath(stateDir, id);
      let made: Promise<void> | undefined;
      try {
        const consolePlan = planConsole(loggingPluginOf(launch.config), consoleSinks.hostFacts(), {
          id,
          monitorLogPath,
          ...(request.logSizeMax === undefined ? {} : { logSizeMax: request.logSizeMax }),
        });
        for (const note of consolePlan.notes) log.warn({ note }, note);
        // Side by side, with the launch config file and the monitor's own files, and all settled
        // before a failure is thrown: the teardown that follows a failure must not remove a record
        // still being written.
        made = Promise.allSettled([
          consolePlan.follow === null ? undefined : consoleSinks.open(id, consolePlan.follow, consolePlan.monitor.path),
          // Written before the monitor starts, so a daemon that dies during the create still finds (and cleans) the container.
          records.write({ id, descriptor: input.descriptor, bundle: request.bundle, ...(request.ownedBundle === true ? { ownedBundle: true } : {}) }),
          launch.written,
        ]).then((outcomes) => {
          for (const outcome of outcomes) if (outcome.status === 'rejected') throw outcome.reason;
        });
        // Handled here as well: the monitor may fail before it waits for it.
        made.catch(() => undefined);
        const fds = [...(request.fds ?? []), ...(additions?.fds ?? [])];
        const processConfig = launch.config['process'] as { terminal?: unknown } | undefined;
        // A create that must wait for a runtime slot does not hold the others' turns meanwhile.
        if (!limiter.free) leave();
        const created = await limited(() =>
          monitor.create({
            ready: made,
            id,
            bundle: request.bundle,
            logPath: consolePlan.monitor.path,
            logDriver: consolePlan.monitor.driver,
            // In memory already: the monitor writes it into its own bundle dir without reading it again.
            config: launch.config,
            ...(consolePlan.monitor.sizeMax === undefined ? {} : { logSizeMax: consolePlan.monitor.sizeMax }),
            ...(consolePlan.monitor.totalMax === undefined ? {} : { logTotalMax: consolePlan.monitor.totalMax }),
            ...(processConfig?.terminal === true ? { terminal: true } : {}),
            ...(fds.length === 0 ? {} : { fds }),
            ...(input.start === true ? { start: true } : {}),
            launched: leave,
          }),
        );
        consoleSinks.follow(id);
        // The monitor may have read them already; /proc/<pid>/cgroup is on the start's critical path.
        const cgroup = created.cgroup !== undefined ? created.cgroup : await cgroups.pathsOf(created.pid).catch(() => null);
        return { pid: created.pid, monitorPid: created.monitorPid, cgroup, ...(created.started === true ? { started: true } : {}) };
      } catch (err) {
        await Promise.all([made?.catch(() => undefined), launch.written.catch(() => undefined)]);
        // Teardown removes these too; a create that never got a container must not wait for it.
        await consoleSinks.close(id).catch(() => undefined);
        await launchConfigs.remove(id).catch(() => undefined);
        throw err;
      } finally {
        leave();
      }
    }),

    startContainer: fromPromise<void, IdInput>(({ input }) => limited(() => runtime.start(input.id))),

    signalContainer: fromPromise<void, SignalInput>(({ input }) =>
      limited(() =>
        runtime.kill(input.id, input.signal, {
          all: input.signal === 'SIGKILL',
          ...(input.resendWithinMs === undefined ? {} : { resendWithinMs: input.resendWithinMs }),
          ...(input.init === undefined ? {} : { init: input.init }),
        }),
      ),
    ),

    pauseContainer: fromPromise<void, IdInput>(async ({ input }) => {
      await limited(() => runtime.pause(input.id));
      // The v1 freezer may still be FREEZING when `pause` returns: answer once the runtime says paused.
      for (let i = 0; i < PAUSE_CHECKS; i++) {
        // A state that cannot be read says nothing against the pause that succeeded.
        const state = await limited(() => runtime.state(input.id)).catch(() => null);
        if (state === null || state.status !== 'running') return;
        await sleep(PAUSE_CHECK_MS);
      }
      throw new DobbyError('RUNTIME_FAILED', `container '${input.id}' was not frozen ${PAUSE_CHECKS * PAUSE_CHECK_MS} ms after pause`, { containerId: input.id, verb: 'pause' });
    }),

    resumeContainer: fromPromise<void, IdInput>(({ input }) => limited(() => runtime.resume(input.id))),

    execInContainer: fromPromise<ExecOutput, ExecInput>(async ({ input }) => {
      const execDir = join(stateDir, 'exec');
      await mkdir(execDir, { recursive: true });
      const pidFile = join(execDir, `${input.id}.${crypto().randomBytes(4).toString('hex')}.pid`);
      try {
        const result = await limited(() =>
          runtime.exec(input.id, {
            ...input.exec,
            detach: true,
            pidFile,
            logPath: join(stateDir, 'logs', `${input.id}.exec.log`),
          }),
        );
        const pid = result.pid ?? Number((await readFile(pidFile, 'utf8')).trim());
        if (!Number.isInteger(pid) || pid <= 0) {
          throw new DobbyError('RUNTIME_FAILED', `exec in container '${input.id}' gave no process id`, { containerId: input.id, verb: 'exec' });
        }
        return { requestId: input.requestId, pid };
      } finally {
        await removeFile(pidFile);
      }
    }),

    // Exits arrive from the monitor's inotify watch; an adopted container may have exited already.
    watchExit: fromCallback<ContainerEvent, WatchInput>(({ input, sendBack }) => {
      let done = false;
      const deliver = (exit: RawExit): void => {
        if (done) return;
        done = true;
        sendBack({ type: 'EXITED', exit });
      };
      const subscription = monitor.exits$.pipe(filter((e) => e.id === input.id)).subscribe({
        next: (e) => deliver({ code: e.code, oomKilled: e.oomKilled }),
        error: (err: unknown) => logger.error({ err, containerId: input.id }, 'exit watch failed'),
      });
      if (input.checkRecorded) {
        monitor
          .readExit(input.id)
          .then((recorded) => {
            if (recorded !== null) deliver({ code: recorded.code, oomKilled: recorded.oomKilled });
          })
          .catch((err: unknown) => logger.warn({ err, containerId: input.id }, 'could not read a recorded exit'));
      }
      return () => subscription.unsubscribe();
    }),

    inspectExit: fromPromise<ExitStatus, InspectInput>(async ({ input }) => {
      let oomKilled = input.exit.oomKilled;
      if (!oomKilled && input.cgroup !== null) {
        oomKilled = (await cgroups.oomKillCount(input.cgroup).catch(() => 0)) > 0;
      }
      return exitStatusFromCode(input.exit.code, oomKilled);
    }),

    probeContainer: fromPromise<ProbeOutput, IdInput>(async ({ input }) => {
      const state = await limited(() => runtime.state(input.id));
      if (state !== null && state.status !== 'stopped') return { gone: false };
      const recorded = await monitor.readExit(input.id);
      return { gone: true, exit: recorded === null ? null : { code: recorded.code, oomKilled: recorded.oomKilled } };
    }),

    adoptContainer: fromPromise<AdoptOutput, IdInput>(async ({ input }) => {
      const state = await limited(() => runtime.state(input.id));
      const recorded = await monitor.readExit(input.id);
      if (state === null) {
        return recorded === null ? { status: 'missing' } : { status: 'exited', exit: { code: recorded.code, oomKilled: recorded.oomKilled } };
      }
      if (state.status === 'running' || state.status === 'paused') {
        const cgroup = await cgroups.pathsOf(state.pid).catch(() => null);
        // The console sink an earlier daemon fed (file, journald): follow it again.
        await consoleSinks.resume(input.id).catch((err: unknown) => logger.warn({ err, containerId: input.id }, 'could not resume the console sink'));
        return { status: state.status, pid: state.pid, monitorPid: await monitor.monitorPid(input.id), cgroup };
      }
      if (state.status === 'created' || state.status === 'creating') return { status: 'created', pid: state.pid };
      // Stopped with no record: the monitor died with it, so the status is unknowable.
      return { status: 'exited', exit: recorded === null ? { code: 255, oomKilled: false } : { code: recorded.code, oomKilled: recorded.oomKilled } };
    }),

    deleteFromRuntime: fromPromise<void, DeleteInput>(({ input }) => deleteFromRuntime(input)),

    // Runs on every path out of a container: it must not give up half-way.
    teardown: fromPromise<void, TeardownInput>(async ({ input }) => {
      const log = logger.child({ containerId: input.id });
      if (!input.runtimeDeleted) await deleteFromRuntime(input);
      // What is left of it once the runtime has let it go, side by side: none of it needs another
      // (a stop waited for each in turn). The record goes last: until then it names what is left.
      await Promise.all([
        cgroups.removeLeftovers?.(input.id).catch((err: unknown) => log.warn({ err }, 'could not remove leftover cgroups')),
        (async () => {
          await monitor.release(input.id).catch((err: unknown) => log.warn({ err }, 'could not release the monitor files'));
          // After the monitor is gone: it has written all the container's output by then.
          await consoleSinks.close(input.id).catch((err: unknown) => log.warn({ err }, 'could not finish the console log'));
        })(),
        launchConfigs.remove(input.id).catch((err: unknown) => log.warn({ err }, 'could not remove the launch config')),
        removeFile(join(stateDir, 'logs', `${input.id}.exec.log`)).catch((err: unknown) => log.warn({ err }, 'could not remove the exec log')),
        (async () => {
          // An adopted container's machine never saw its start request: its record says whose bundle it is.
          const record = input.ownedBundle === null ? await records.get(input.id).catch(() => null) : null;
          const ownedBundle = input.ownedBundle ?? (record?.ownedBundle === true ? record.bundle : null);
          if (ownedBundle !== null && deps.removeBundle !== undefined) {
            await deps.removeBundle(ownedBundle).catch((err: unknown) => log.warn({ err }, 'could not remove the generated bundle'));
          }
        })(),
      ]);
      await records.remove(input.id).catch((err: unknown) => log.warn({ err }, 'could not remove the container record'));
    }),
  };
}

export type ContainerActors = ReturnType<typeof createContainerActors>;
