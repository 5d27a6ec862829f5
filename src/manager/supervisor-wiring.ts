// Builds the supervisor machine with the real actor logic: the container actors over the runtime,
// monitor and cgroups the composition root gives, and the plugin hook actors.

import { createContainerActors } from '../actors/container-actors.ts';
import { createHookActors } from '../actors/hook-actors.ts';
import type { ManagerOptions } from '../manager.ts';
import { containerMachine } from '../machines/container.ts';
import { supervisorMachine } from '../machines/supervisor.ts';
import { PluginRegistry } from '../plugins/registry.ts';
import type { HookRun } from '../plugins/types.ts';
import { Semaphore } from '../semaphore.ts';

/** The manager's options the actors use, and how the manager hears of teardowns and hook runs. */
export type SupervisorWiring = Pick<
  ManagerOptions,
  'runtime' | 'monitor' | 'cgroups' | 'records' | 'logger' | 'stateDir' | 'maxRuntimeProcesses' | 'launchConfigs' | 'consoleSinks' | 'plugins' | 'hookTimeoutMs'
> & {
  /** Removes a generated bundle at teardown; absent without spec support. */
  readonly removeBundle?: (bundle: string) => Promise<void>;
  readonly onHookRun: (container: { readonly id: string; readonly descriptor: number }, run: HookRun) => void;
};

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
