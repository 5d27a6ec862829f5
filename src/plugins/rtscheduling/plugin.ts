// The `rtscheduling` plugin: Dobby's real-time priority for a container. postConstruction sets the
// container's RLIMIT_RTPRIO to rtlimit (capped, with a warning, where this host cannot grant that
// much); preStart (created, not started) gives the container's cgroup a real-time budget where the
// host schedules real-time time per cgroup and it has none, then puts the init under SCHED_RR at
// rtdefault, which the app inherits. Nothing to undo: the cgroup goes with the container.

import { HostRtScheduler, type RtScheduler } from '../../drivers/sched/rt-scheduler.ts';
import { forContainer } from '../plugin-data.ts';
import { HookHint, type DobbyPlugin, type HookContext } from '../types.ts';
import { parseRtSchedulingData } from './data.ts';

export const RTSCHEDULING_PLUGIN = 'rtscheduling';

/** Dobby's template gives a container 1000 us of real-time CPU per second (cpu.rt_runtime_us). */
export const DEFAULT_RT_RUNTIME_US = 1000;

export interface RtSchedulingPluginOptions {
  /** The host side (the real one by default; tests inject faults). */
  readonly scheduler?: RtScheduler;
  /** Written to a container cgroup's cpu.rt_runtime_us when it is 0; default 1000. */
  readonly rtRuntimeUs?: number;
}

export function createRtSchedulingPlugin(options: RtSchedulingPluginOptions = {}): DobbyPlugin {
  const scheduler = options.scheduler ?? new HostRtScheduler();
  const rtRuntimeUs = options.rtRuntimeUs ?? DEFAULT_RT_RUNTIME_US;
  const parse = (ctx: HookContext): ReturnType<typeof parseRtSchedulingData> => forContainer(ctx.id, () => parseRtSchedulingData(ctx.data));

  return {
    name: RTSCHEDULING_PLUGIN,
    hookHints: HookHint.PostConstructionSync | HookHint.PreStartSync,
    checkData: (data) => parseRtSchedulingData(data).warnings,
    async postConstruction(ctx, startState) {
      const { rtlimit } = parse(ctx).data;
      const ceiling = await scheduler.rtprioCeiling();
      const granted = ceiling === null ? rtlimit : Math.min(rtlimit, ceiling);
      if (granted < rtlimit) {
        ctx.logger.warn({ rtlimit, granted }, `rtscheduling: this host caps RLIMIT_RTPRIO at ${ceiling} (dobbyd has no CAP_SYS_RESOURCE to raise it), ` +
          `so the container gets ${granted}, not ${rtlimit}; its init is still put under SCHED_RR by the host`);
      }
      startState.setRlimit({ type: 'RLIMIT_RTPRIO', soft: granted, hard: granted });
    },
    async preStart(ctx) {
      const { rtdefault } = parse(ctx).data;
      const budget = await scheduler.rtBudget(ctx.pid);
      if (budget !== null && budget.runtimeUs === 0) {
        ctx.logger.debug({ file: budget.file, rtRuntimeUs }, 'giving the container cgroup a real-time budget');
        await scheduler.setRtBudget(budget, rtRuntimeUs).catch((err: unknown) => {
          ctx.logger.warn({ err, file: budget.file }, `rtscheduling: could not give the container's cgroup a real-time budget (${budget.file}); SCHED_RR will be refused`);
        });
      }
      await scheduler.setRoundRobin(ctx.pid, rtdefault);
      ctx.logger.debug({ pid: ctx.pid, rtdefault }, 'init under SCHED_RR');
    },
  };
}
