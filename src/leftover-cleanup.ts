// Start-up: which containers an earlier daemon left can be re-adopted, and Dobby's clean-up for the rest.
//
// A container under a live monitor (conmon) is re-adopted: the monitor holds its exit status. One whose monitor
// is gone while it still runs can never report how it ends (nobody reaps it for us), so it is killed, as Dobby
// kills every leftover at start-up; adoption then finds it stopped and tears it down the usual way (plugins,
// network, cgroups, records, bundle), its exit reported as unknown.

import type { Monitor } from './drivers/monitor/types.ts';
import type { OciRuntime, OciStatus } from './drivers/runtime/types.ts';
import type { Logger } from './log.ts';

export type LeftoverVerdict = { readonly action: 'adopt' } | { readonly action: 'kill'; readonly reason: string };

/** Created, stopped and missing containers are adoption's to finish; only a live one without its monitor is killed. */
export function leftoverVerdict(status: OciStatus | null, monitorAlive: boolean): LeftoverVerdict {
  if ((status === 'running' || status === 'paused') && !monitorAlive) {
    return { action: 'kill', reason: `it is ${status} but its monitor is gone, so its exit status could never be collected` };
  }
  return { action: 'adopt' };
}

/** Dobby re-checks a killed leftover after 50, 100, 150 and 200 ms. */
const RECHECK_MS = [50, 100, 150, 200];

export interface LeftoverDeps {
  readonly runtime: Pick<OciRuntime, 'list' | 'state' | 'kill' | 'resume'>;
  readonly monitor: Pick<Monitor, 'monitorPid'>;
  readonly logger: Logger;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Kills every leftover the verdict gives up on; returns their ids. Never throws: adoption runs afterwards anyway. */
export async function killUnrecoverableLeftovers(deps: LeftoverDeps): Promise<string[]> {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const killed: string[] = [];
  const present = await deps.runtime.list().catch(() => []);
  for (const { id, status } of present) {
    const monitorAlive = (await deps.monitor.monitorPid(id).catch(() => null)) !== null;
    const verdict = leftoverVerdict(status, monitorAlive);
    if (verdict.action === 'adopt') continue;
    const log = deps.logger.child({ containerId: id });
    log.warn(`cleaning up leftover container '${id}': ${verdict.reason}`);
    try {
      await deps.runtime.kill(id, 'SIGKILL', { all: true });
      // A frozen process takes its SIGKILL only once thawed.
      if (status === 'paused') await deps.runtime.resume(id).catch(() => undefined);
      let state = await deps.runtime.state(id);
      for (const ms of RECHECK_MS) {
        if (state === null || state.status === 'stopped') break;
        await sleep(ms);
        state = await deps.runtime.state(id);
      }
      if (state !== null && state.status !== 'stopped') log.error(`leftover container '${id}' is still ${state.status} after SIGKILL; adopting it as it is`);
      else killed.push(id);
    } catch (err) {
      log.error({ err }, `could not kill leftover container '${id}'; adopting it as it is`);
    }
  }
  return killed;
}
