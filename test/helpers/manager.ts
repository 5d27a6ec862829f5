// Builds a container manager over real crun/runc + conmon in a scratch dir, and waits on its events.

import { join } from 'node:path';
import { after } from 'node:test';
import { filter, firstValueFrom, ReplaySubject, timeout, type Subscription } from 'rxjs';
import type { LifecycleEvent, LifecycleEventType } from '../../src/bus.ts';
import { CONTAINER_INIT, realCgroupProbe } from '../../src/daemon.ts';
import { SpecBundles } from '../../src/drivers/bundles/spec-bundles.ts';
import { ConmonMonitor } from '../../src/drivers/monitor/conmon-monitor.ts';
import { OciCliRuntime } from '../../src/drivers/runtime/oci-cli-runtime.ts';
import { FileContainerRecords } from '../../src/drivers/records/container-records.ts';
import { silentLogger } from '../../src/log.ts';
import { createContainerManager, type Manager } from '../../src/manager.ts';
import type { RestartPolicy } from '../../src/machines/restart-policy.ts';
import type { Flavour, Scratch } from './scratch.ts';

export interface RealManager {
  readonly manager: Manager;
  readonly runtime: OciCliRuntime;
  readonly monitor: ConmonMonitor;
  /** Every lifecycle event since creation, replayed to late subscribers. */
  readonly events: ReplaySubject<LifecycleEvent>;
  /** Resolves with the first event of that type for that container (subscribe before acting is not needed). */
  next(id: string, type: LifecycleEventType, timeoutMs?: number): Promise<LifecycleEvent>;
  /** The event types seen for a container, in order. */
  seen(id: string): LifecycleEventType[];
}

/** crun (or runc) and conmon over the scratch dir's runtime root and state dir of that flavour; the caller closes the monitor. */
export function realMonitor(scratch: Scratch, flavour: Flavour = 'crun', binary: string = flavour): { dirs: ReturnType<Scratch['dirs']>; runtime: OciCliRuntime; monitor: ConmonMonitor } {
  const dirs = scratch.dirs(flavour);
  const runtime = new OciCliRuntime({ binary, root: dirs.runtimeRoot });
  const monitor = new ConmonMonitor({ runtime, stateDir: dirs.stateDir });
  return { dirs, runtime, monitor };
}

export function realManager(
  scratch: Scratch,
  flavour: Flavour,
  options: { stopGraceMs?: number; binary?: string; restartPolicy?: RestartPolicy } = {},
): RealManager {
  const { runtime, monitor } = realMonitor(scratch, flavour, options.binary ?? flavour);
  const manager = createContainerManager({
    runtime,
    monitor,
    cgroups: realCgroupProbe,
    records: new FileContainerRecords(join(scratch.dir, flavour, 'daemon', 'containers')),
    specBundles: new SpecBundles({ dir: specBundlesDir(scratch, flavour), initPath: CONTAINER_INIT }),
    logger: silentLogger(),
    stateDir: join(scratch.dir, flavour, 'daemon'),
    stopGraceMs: options.stopGraceMs ?? 1_000,
    killWaitMs: 5_000,
    ...(options.restartPolicy === undefined ? {} : { restartPolicy: options.restartPolicy }),
  });
  const events = new ReplaySubject<LifecycleEvent>();
  const log: LifecycleEvent[] = [];
  const subscription: Subscription = manager.events$.subscribe((e) => {
    log.push(e);
    events.next(e);
  });
  after(async () => {
    await manager.shutdown({ force: true, timeoutMs: 20_000 });
    subscription.unsubscribe();
    manager.close();
    monitor.close();
  });
  return {
    manager,
    runtime,
    monitor,
    events,
    next: (id, type, timeoutMs = 15_000) =>
      firstValueFrom(events.pipe(filter((e) => e.id === id && e.type === type), timeout(timeoutMs))),
    seen: (id) => log.filter((e) => e.id === id).map((e) => e.type),
  };
}

/** Where a real manager of this scratch writes the bundles it makes from specs. */
export function specBundlesDir(scratch: Scratch, flavour: Flavour): string {
  return join(scratch.dir, flavour, 'spec-bundles');
}
