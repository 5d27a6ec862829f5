// The container machine's plugin actors: select the bundle's plugins and run their hooks at each
// hook point, reporting every hook run as it ends. Hook failures are outputs, not actor errors.

import { fromPromise } from 'xstate';
import { DobbyError, toDobbyError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ConstructInput, ConstructOutput, HookInput, HookOutput } from '../machines/container-types.ts';
import { DEFAULT_HOOK_TIMEOUT_MS, pointsWithHooks, runHookPoint, teardownBesideRuntime } from '../plugins/hook-runner.ts';
import type { PluginRegistry } from '../plugins/registry.ts';
import { readPluginSelection, type PluginSelection } from '../plugins/selection.ts';
import { createStartState } from '../plugins/start-state.ts';
import type { HookRun } from '../plugins/types.ts';

export interface HookActorDeps {
  readonly registry: PluginRegistry;
  readonly logger: Logger;
  /** Time limit of each hook; default 4 s (Dobby's per-hook limit). */
  readonly hookTimeoutMs?: number;
  /** Told about each hook run as it ends (the manager puts them on the bus). */
  readonly onHookRun?: (container: { readonly id: string; readonly descriptor: number }, run: HookRun) => void;
  /** The bundle an earlier daemon recorded for a container, for the teardown hooks of adopted ones. */
  readonly bundleOf?: (id: string) => Promise<string | null>;
}

export function createHookActors(deps: HookActorDeps) {
  const timeoutMs = deps.hookTimeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS;
  const optionsFor = (id: string, descriptor: number) => ({
    registry: deps.registry,
    timeoutMs,
    logger: deps.logger.child({ containerId: id }),
    onRun: (run: HookRun) => deps.onHookRun?.({ id, descriptor }, run),
  });

  /**
   * An adopted container's postConstruction ran in an earlier daemon: its teardown hooks still
   * run, with the plugins its bundle names now (plugins not installed are skipped, never fatal).
   */
  const adoptedSelection = async (input: HookInput): Promise<PluginSelection | null> => {
    if (input.point !== 'postStop' && input.point !== 'preDestruction') return null;
    const log = deps.logger.child({ containerId: input.id });
    const bundle = await deps.bundleOf?.(input.id).catch(() => null);
    if (bundle === undefined || bundle === null) return null;
    return readPluginSelection(bundle, {
      isInstalled: (name) => deps.registry.has(name),
      skipMissingRequired: true,
      warn: (skipped) => log.warn({ plugin: skipped.name }, `plugin '${skipped.name}' skipped at ${input.point}: ${skipped.reason}`),
    }).catch((err: unknown) => {
      log.warn({ err }, `the plugins of adopted container '${input.id}' cannot be selected; no ${input.point} hooks`);
      return null;
    });
  };

  /** The hook points after postConstruction: one logic, an actor name per point. */
  const laterHooks = fromPromise<HookOutput, HookInput>(async ({ input }) => {
    const selection = input.selection ?? (input.adopted ? await adoptedSelection(input) : null);
    if (selection === null || selection.plugins.length === 0) return { runs: [], failure: null };
    return runHookPoint(
      { id: input.id, point: input.point, selection, pid: input.pid, exit: input.exit },
      optionsFor(input.id, input.descriptor),
    );
  });

  return {
    // A selection error (required plugin missing, dependsOn cycle) rejects: no postConstruction
    // ran, so no teardown hook is due either.
    postConstructionHooks: fromPromise<ConstructOutput, ConstructInput>(async ({ input }) => {
      const log = deps.logger.child({ containerId: input.id });
      const selection = await readPluginSelection(input.request.bundle, {
        isInstalled: (name) => deps.registry.has(name),
        warn: (skipped) => log.warn({ plugin: skipped.name, kind: skipped.kind }, `plugin '${skipped.name}' skipped: ${skipped.reason}`),
      });
      checkPluginData(selection, deps.registry, input.id, log);
      const chosen = { ...selection, teardownBesideRuntime: teardownBesideRuntime(selection, deps.registry), hookPoints: pointsWithHooks(selection, deps.registry) };
      const startState = createStartState(input.request.fds?.length ?? 0);
      if (selection.plugins.length === 0) return { selection: chosen, additions: startState.additions, runs: [], failure: null };
      const result = await runHookPoint(
        { id: input.id, point: 'postConstruction', selection: chosen, startState },
        optionsFor(input.id, input.descriptor),
      );
      return { selection: chosen, additions: startState.additions, runs: result.runs, failure: result.failure };
    }),

    preStartHooks: laterHooks,
    postStartHooks: laterHooks,
    postStopHooks: laterHooks,
    preDestructionHooks: laterHooks,
  };
}

export type HookActors = ReturnType<typeof createHookActors>;

/** Every selected plugin's data check, before any hook: a bad field fails the start, naming the container. */
function checkPluginData(selection: PluginSelection, registry: PluginRegistry, id: string, log: Logger): void {
  for (const entry of selection.plugins) {
    const plugin = registry.get(entry.name);
    if (plugin?.checkData === undefined) continue;
    let warnings: readonly string[];
    try {
      warnings = plugin.checkData(entry.data);
    } catch (err) {
      const e = toDobbyError(err, 'INVALID_ARGUMENT', id);
      throw new DobbyError(e.code, `container '${id}': ${e.message}`, { containerId: id, cause: err });
    }
    for (const w of warnings) log.warn({ plugin: entry.name }, w);
  }
}
