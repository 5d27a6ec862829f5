// Builds the supervisor machine with the real actor logic: the container actors over the runtime,
// monitor and cgroups the composition root gives, and the plugin hook actors.

import { createContainerActors, type CgroupProbe } from '../actors/container-actors.ts';
import { createHookActors } from '../actors/hook-actors.ts';
import type { LaunchConfigs } from '../drivers/bundles/launch-configs.ts';
import type { ConsoleSinks } from '../drivers/monitor/console-follower.ts';
import type { Monitor } from '../drivers/monitor/types.ts';
import type { ContainerRecords } from '../drivers/records/container-records.ts';
import type { OciRuntime } from '../drivers/runtime/types.ts';
import type { Logger } from '../log.ts';
import { containerMachine } from '../machines/container.ts';
import { supervisorMachine } from '../machines/supervisor.ts';
import { PluginRegistry } from '../plugins/registry.ts';
import type { HookRun } from '../plugins/types.ts';
import { Semaphore } from '../semaphore.ts';

export interface SupervisorWiring {
  readonly runtime: OciRuntime;
  readonly monitor: Monitor;
  readonly cgroups: CgroupProbe;
  readonly records: ContainerRecords;
  readonly logger: Logger;
  readonly stateDir: string;
  readonly maxRuntimeProcesses?: number;
  readonly launchConfigs?: LaunchConfigs;
  readonly consoleSinks?: ConsoleSinks;
  readonly plugins?: PluginRegistry;
  readonly hookTimeoutMs?: number;
  /** Removes a generated bundle at teardown; absent without spec support. */
  readonly removeBundle?: (bundle: string) => Promise<void>;
  readonly onHookRun: (container: { readonly id: string; readonly descriptor: number }, run: HookRun) => void;
}

export function wireSupervisor(options: SupervisorWiring) {
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
    ...(options.removeBundle === undefined ? {} : { removeBundle: options.removeBundle }),
  });
  const hookActors = createHookActors({
    registry: options.plugins ?? new PluginRegistry(),
    logger: options.logger,
    ...(options.hookTimeoutMs === undefined ? {} : { hookTimeoutMs: options.hookTimeoutMs }),
    onHookRun: options.onHookRun,
    bundleOf: async (id) => (await options.records.list()).find((r) => r.id === id)?.bundle ?? null,
  });
  return supervisorMachine.provide({ actors: { container: containerMachine.provide({ actors: { ...actors, ...hookActors } }) } });
}
