// The composition root: the only place that wires the real drivers, the manager and the API together.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { CgroupProbe } from './actors/container-actors.ts';
import type { DaemonOptions } from './daemon-options.ts';
import { ConmonMonitor } from './drivers/monitor/conmon-monitor.ts';
import { OciCliRuntime } from './drivers/runtime/oci-cli-runtime.ts';
import { cgroupPathsOfPid, oomKillCount } from './drivers/cgroup/index.ts';
import { DobbyError } from './errors.ts';
import type { Logger } from './log.ts';
import { createContainerManager, type Manager } from './manager.ts';
import { lockStateDir, type StateLock } from './state-lock.ts';

export interface Daemon {
  readonly manager: Manager;
  readonly stateDir: string;
  /** Stops the containers (unless kept), then releases everything the daemon holds. */
  close(options?: { keepContainers?: boolean }): Promise<void>;
}

/** The runtime's and the monitor's directories under the daemon's state dir. */
export function stateLayout(stateDir: string) {
  return {
    runtimeRoot: join(stateDir, 'runtime'),
    monitorDir: join(stateDir, 'monitor'),
    logsDir: join(stateDir, 'logs'),
  };
}

export const realCgroupProbe: CgroupProbe = {
  pathsOf: (pid) => cgroupPathsOfPid(pid),
  oomKillCount: (paths) => oomKillCount(paths),
};

export async function startDaemon(options: DaemonOptions, logger: Logger): Promise<Daemon> {
  const layout = stateLayout(options.stateDir);
  await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
  const lock: StateLock = await lockStateDir(options.stateDir);
  try {
    await mkdir(layout.runtimeRoot, { recursive: true, mode: 0o700 });
    await mkdir(layout.monitorDir, { recursive: true, mode: 0o700 });
    await mkdir(layout.logsDir, { recursive: true, mode: 0o755 });
    const runtime = new OciCliRuntime({ binary: options.runtime, root: layout.runtimeRoot, logger: logger.child({ driver: 'runtime' }) });
    const monitor = new ConmonMonitor({ runtime, stateDir: layout.monitorDir, logger: logger.child({ driver: 'monitor' }) });
    const manager = createContainerManager({
      runtime,
      monitor,
      cgroups: realCgroupProbe,
      logger,
      stateDir: options.stateDir,
      stopGraceMs: options.stopGraceMs,
      maxRuntimeProcesses: options.maxRuntimeProcesses,
    });
    let closed = false;
    return {
      manager,
      stateDir: options.stateDir,
      async close(closeOptions = {}) {
        if (closed) return;
        closed = true;
        if (closeOptions.keepContainers !== true) await manager.shutdown();
        manager.close();
        monitor.close();
        await lock.release();
      },
    };
  } catch (err) {
    await lock.release();
    throw err instanceof DobbyError ? err : new DobbyError('INTERNAL', `dobbyd could not start: ${String(err)}`, { cause: err });
  }
}
