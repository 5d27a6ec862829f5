// Handlers of org.rdk.dobby.ports1: AddPort, ListPorts and RemovePort over the daemon's port actor.

import type { ActivePort, AddPortRequest } from '../../ports/types.ts';
import { PortError } from '../../ports/port-errors.ts';
import { toDobbyError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import type { ContainerManager } from '../../manager-types.ts';
import type { Handler } from './dispatcher.ts';

/** What ports1 needs of the daemon (the port actor has it). */
export interface PortService {
  addPort(request: AddPortRequest): Promise<ActivePort>;
  listPorts(): ActivePort[];
  removePort(id: number): Promise<void>;
}

export interface PortsHandlerDeps {
  readonly manager: Pick<ContainerManager, 'get'>;
  readonly ports: PortService | undefined;
  readonly logger: Logger;
}

export function portJson(port: ActivePort): Record<string, unknown> {
  const { containerId, ...spec } = port.spec;
  return { id: port.id, containerId, spec, driver: port.driver };
}

function errorText(err: unknown): string {
  const e = err instanceof PortError ? err : toDobbyError(err);
  const json = e.toJSON();
  return JSON.stringify({ code: json['code'], ...(err instanceof PortError ? { reason: err.reason } : {}), message: e.message, ...(e.containerId === undefined ? {} : { containerId: e.containerId }) });
}

const NO_PORTS = new PortError('unsupported', 'this dobbyd has no port manager');

export function portsHandlers(deps: PortsHandlerDeps): Record<string, Handler> {
  const { logger } = deps;
  return {
    AddPort: async ([cd, specText]) => {
      try {
        if (deps.ports === undefined) throw NO_PORTS;
        const container = deps.manager.get(cd as number);
        if (container === undefined) throw new PortError('unknown-container', `no container has descriptor ${String(cd)}: dobby list shows the running ones`);
        let spec: unknown;
        try {
          spec = JSON.parse(specText as string);
        } catch (err) {
          throw new PortError('invalid-spec', `the spec is not JSON (${err instanceof Error ? err.message : String(err)}): send {"proto":"tcp","parentPort":8080,"childPort":80}`);
        }
        if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
          throw new PortError('invalid-spec', 'the spec must be a JSON object such as {"proto":"tcp","parentPort":8080,"childPort":80}');
        }
        const given = (spec as Record<string, unknown>)['containerId'];
        if (given !== undefined && given !== container.id) {
          throw new PortError('invalid-spec', `the spec names container ${JSON.stringify(given)} but descriptor ${String(cd)} is ${container.id}: leave containerId out`);
        }
        const port = await deps.ports.addPort({ ...(spec as Record<string, unknown>), containerId: container.id });
        return [port.id, JSON.stringify(portJson(port))];
      } catch (err) {
        logger.warn({ err, descriptor: cd }, `AddPort failed: ${err instanceof Error ? err.message : String(err)}`);
        return [-1, errorText(err)];
      }
    },
    ListPorts: () => [JSON.stringify((deps.ports?.listPorts() ?? []).map(portJson))],
    RemovePort: async ([id]) => {
      try {
        if (deps.ports === undefined) throw NO_PORTS;
        await deps.ports.removePort(id as number);
        return [true, ''];
      } catch (err) {
        logger.warn({ err, portId: id }, `RemovePort failed: ${err instanceof Error ? err.message : String(err)}`);
        return [false, errorText(err)];
      }
    },
  };
}
