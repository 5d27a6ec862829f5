// org.rdk.dobby.stats1 (dobby-ts's own): GetStats(descriptor) → JSON text of the container's resource usage, "" if unknown.

import type { ContainerUsage } from '../../host-services.ts';
import type { Logger } from '../../log.ts';
import type { ContainerManager } from '../../manager-types.ts';
import type { HandlerTable } from './dispatcher.ts';
import { statsText } from './stats-doc.ts';

export interface StatsHandlerDeps {
  readonly manager: ContainerManager;
  readonly logger: Logger;
  readonly readUsage: (pid: number | null) => Promise<ContainerUsage | null>;
}

export function statsHandlers(deps: StatsHandlerDeps): NonNullable<HandlerTable[string]> {
  return {
    GetStats: async ([cd]) => {
      const summary = deps.manager.get(cd as number);
      if (summary === undefined) {
        deps.logger.warn({ descriptor: cd }, `GetStats: no container has descriptor ${String(cd)}`);
        return [''];
      }
      return [statsText(summary, await deps.readUsage(summary.pid))];
    },
  };
}
