// The `testrdkplugin` plugin (Dobby's TestRdkPlugin): it runs at every hook point, logs that it did
// ("Hello world" and the hook, the container id bound) and succeeds, so a test written against
// Dobby's hook dispatch and order sees the same runs here. `data.testData` is read and unused.

import { dataOf, readDataObject, type Parsed } from '../data-reader.ts';
import { HOOK_POINTS, HookHint, type DobbyPlugin, type HookContext, type HookPoint } from '../types.ts';

export const TEST_PLUGIN = 'testrdkplugin';

export interface TestPluginData {
  readonly testData: string | null;
}

export function parseTestPluginData(data: unknown): Parsed<TestPluginData> {
  const { root, warnings } = readDataObject(TEST_PLUGIN, data, ['testData'], 'give {"testData": "..."} (Dobby refuses the plugin without a data object)');
  return { data: { testData: root.has('testData') ? root.string('testData', null, 'any text; the plugin only logs') : null }, warnings };
}

const ALL_SYNC = HookHint.PostConstructionSync | HookHint.PreStartSync | HookHint.PostStartSync | HookHint.PostStopSync | HookHint.PreDestructionSync;

export function createTestPlugin(): DobbyPlugin {
  const hello = (hook: HookPoint) => (ctx: HookContext): boolean => {
    const { testData } = dataOf(ctx, parseTestPluginData);
    ctx.logger.info({ hook, testData }, `Hello world, running the ${hook} hook`);
    ctx.logger.info({ hook }, `container id: ${ctx.id}`);
    return true;
  };
  const hooks = Object.fromEntries(HOOK_POINTS.map((point) => [point, hello(point)])) as Pick<DobbyPlugin, HookPoint>;
  return {
    name: TEST_PLUGIN,
    hookHints: ALL_SYNC,
    checkData: (data) => parseTestPluginData(data).warnings,
    ...hooks,
  };
}
