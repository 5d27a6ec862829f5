// Runs one hook point of a container's plugins: sync hooks one after another in plugin order,
// async ones concurrently, each under a time limit; a hook can fail but never throw past here.

import type { ExitStatus } from '../exit-status.ts';
import { DobbyError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { PluginRegistry } from './registry.ts';
import type { PluginEntry, PluginSelection } from './selection.ts';
import type { CollectingStartState } from './start-state.ts';
import { HOOK_POINTS, StartAbort, type DobbyPlugin, type HookContext, type HookPoint, type HookRun } from './types.ts';
import { hookMode } from './validate.ts';

/** Dobby's plugin launcher gives each rdk hook 4 s. */
export const DEFAULT_HOOK_TIMEOUT_MS = 4_000;

/** Hook points whose failure aborts the start; at the others a failure is logged and the rest go on. */
const ABORTING: ReadonlySet<HookPoint> = new Set(['postConstruction', 'preStart']);
/** The teardown points: run the plugins in reverse, as Dobby reverses postHalt and postStop. */
const TEARDOWN: ReadonlySet<HookPoint> = new Set(['postStop', 'preDestruction']);

export interface HookPointInput {
  readonly id: string;
  readonly point: HookPoint;
  readonly selection: PluginSelection;
  /** preStart, postStart: the container's init pid. */
  readonly pid?: number | null;
  /** postStop, preDestruction: how the container ended, null when it never ran or is unknown. */
  readonly exit?: ExitStatus | null;
  /** postConstruction: where the hooks' additions are collected. */
  readonly startState?: CollectingStartState;
}

export interface HookPointOptions {
  readonly registry: PluginRegistry;
  readonly timeoutMs: number;
  /** The container's logger. */
  readonly logger: Logger;
  /** Told about every hook run as soon as it ends. */
  readonly onRun?: (run: HookRun) => void;
}

export interface HookPointResult {
  readonly runs: readonly HookRun[];
  /** Set when a failing hook aborts the start (a required plugin, at postConstruction or preStart). */
  readonly failure: DobbyError | null;
}

/** Whether every selected plugin's teardown hooks may run beside the runtime's delete (PluginSelection says why). */
export function teardownBesideRuntime(selection: PluginSelection, registry: PluginRegistry): boolean {
  return selection.plugins.every((entry) => {
    const plugin = registry.get(entry.name);
    return plugin === undefined || plugin.teardownBesideRuntime === true
      || (hookMode(plugin, 'postStop') === null && hookMode(plugin, 'preDestruction') === null);
  });
}

/** The hook points at which at least one of the selected plugins has a hook. */
export function pointsWithHooks(selection: PluginSelection, registry: PluginRegistry): HookPoint[] {
  return HOOK_POINTS.filter((point) => selection.plugins.some((entry) => {
    const plugin = registry.get(entry.name);
    return plugin !== undefined && hookMode(plugin, point) !== null;
  }));
}

export async function runHookPoint(input: HookPointInput, options: HookPointOptions): Promise<HookPointResult> {
  const { point, selection } = input;
  const order = TEARDOWN.has(point) ? [...selection.plugins].reverse() : selection.plugins;
  const runs: HookRun[] = [];
  const inFlight: Promise<void>[] = [];
  let failure: DobbyError | null = null;

  const record = (entry: PluginEntry, { run, mustAbort }: RunOutcome): void => {
    runs.push(run);
    try {
      options.onRun?.(run);
    } catch (err) {
      options.logger.error({ err }, 'a hook run listener threw');
    }
    if (run.ok) return;
    const log = options.logger.child({ plugin: run.plugin, hook: point });
    if (ABORTING.has(point) && (entry.required || mustAbort)) {
      log.error({ error: run.error }, `${point} hook of plugin '${run.plugin}' failed; the start is aborted`);
      failure ??= new DobbyError('ABORTED', `${point} hook of plugin '${run.plugin}' failed: ${run.error ?? 'unknown error'}`, { containerId: input.id });
    } else {
      log.warn({ error: run.error, required: entry.required }, `${point} hook of plugin '${run.plugin}' failed; carrying on`);
    }
  };

  for (const entry of order) {
    if (failure !== null) break;
    const plugin = options.registry.get(entry.name);
    if (plugin === undefined) continue;
    const mode = hookMode(plugin, point);
    if (mode === null) continue;
    const running = runHook(plugin, entry, mode, input, options).then((run) => record(entry, run));
    if (mode === 'sync') await running;
    else inFlight.push(running);
  }
  await Promise.all(inFlight);
  return { runs, failure };
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  try {
    return String(err);
  } catch {
    return 'an unprintable value';
  }
}

/** A run, and whether its failure aborts the start whatever the plugin's `required` says (a StartAbort). */
interface RunOutcome {
  readonly run: HookRun;
  readonly mustAbort: boolean;
}

/** One hook under its time limit (none for an awaited teardown). Resolves with the run's record; never rejects. */
function runHook(plugin: DobbyPlugin, entry: PluginEntry, mode: 'sync' | 'async', input: HookPointInput, options: HookPointOptions): Promise<RunOutcome> {
  const { point } = input;
  const controller = new AbortController();
  const ctx: HookContext = {
    id: input.id,
    rootfs: input.selection.rootfs,
    ...(input.selection.bundle === undefined ? {} : { bundle: input.selection.bundle }),
    data: entry.data,
    logger: options.logger.child({ plugin: plugin.name }),
    signal: controller.signal,
  };
  const view = point === 'postConstruction' ? input.startState?.forHook(plugin.name) : undefined;
  const started = performance.now();
  return new Promise<RunOutcome>((resolve) => {
    let settled = false;
    const finish = (error: string | null, mustAbort = false): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      view?.seal();
      const durationMs = Math.round((performance.now() - started) * 100) / 100;
      resolve({ run: { plugin: plugin.name, hook: point, mode, ok: error === null, durationMs, ...(error === null ? {} : { error }) }, mustAbort });
    };
    const timer = plugin.awaitedTeardown === true && TEARDOWN.has(point) ? undefined : setTimeout(() => {
      const error = `timed out after ${options.timeoutMs} ms`;
      controller.abort(new DobbyError('TIMEOUT', `${point} hook of plugin '${plugin.name}' ${error}`, { containerId: input.id }));
      finish(error);
    }, options.timeoutMs);
    let result: unknown;
    try {
      result = call(plugin, point, ctx, input, view);
    } catch (err) {
      finish(`threw: ${messageOf(err)}`, err instanceof StartAbort);
      return;
    }
    // Promise.resolve also turns a thenable whose `then` throws into a rejection.
    Promise.resolve(result).then(
      (value) => finish(value === false ? 'returned false' : null),
      (err: unknown) => finish(`threw: ${messageOf(err)}`, err instanceof StartAbort),
    );
  });
}

function call(plugin: DobbyPlugin, point: HookPoint, ctx: HookContext, input: HookPointInput, view: ReturnType<CollectingStartState['forHook']> | undefined): unknown {
  switch (point) {
    case 'postConstruction':
      if (view === undefined) throw new DobbyError('INTERNAL', 'postConstruction hook run without a start state');
      return plugin.postConstruction?.(ctx, view);
    case 'preStart':
      return plugin.preStart?.({ ...ctx, pid: input.pid ?? -1 });
    case 'postStart':
      return plugin.postStart?.({ ...ctx, pid: input.pid ?? -1 });
    case 'postStop':
      return plugin.postStop?.({ ...ctx, exit: input.exit ?? null });
    case 'preDestruction':
      return plugin.preDestruction?.({ ...ctx, exit: input.exit ?? null });
  }
}
