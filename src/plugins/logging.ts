// The built-in `logging` plugin: makes Dobby's logging rdkPlugin known to the plugin selection and
// checks its data at postConstruction. The sink itself (file with a byte cap, devnull, journald,
// syslog) is run by the console sinks of the monitor driver, because it must be in place before the
// monitor starts and drain after it ends: one implementation, whichever way a bundle asks for it.

import { loggingPluginOf } from '../drivers/monitor/log-sinks.ts';
import { HookHint, type DobbyPlugin, type HookContext } from './types.ts';

export const LOGGING_PLUGIN = 'logging';

export function createLoggingPlugin(): DobbyPlugin {
  return {
    name: LOGGING_PLUGIN,
    hookHints: HookHint.PostConstructionSync,
    postConstruction(ctx: HookContext): void {
      // Throws a DobbyError naming the bad field (data.sink, data.fileOptions.limit, ...).
      const plugin = loggingPluginOf({ rdkPlugins: { logging: { data: ctx.data } } });
      ctx.logger.debug({ sink: plugin?.sink.kind }, 'console sink checked');
    },
  };
}
