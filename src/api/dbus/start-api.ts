// The daemon's entry to the API: pick or start the bus, serve org.rdk.dobby on it, and tear both down on close.

import type { Logger } from '../../log.ts';
import type { ContainerManager } from '../../manager-types.ts';
import { resolveBus } from './bus-address.ts';
import type { AdminHooks, SpecSupport } from './deps.ts';
import { startDbusService } from './service.ts';
import type { PortService } from './ports-handlers.ts';

export interface ApiOptions extends Partial<AdminHooks> {
  readonly manager: ContainerManager & Partial<SpecSupport>;
  readonly logger: Logger;
  /** org.rdk.dobby.ports1's port manager. */
  readonly ports?: PortService;
  /** Where a private bus keeps its config, socket and pid file (`<stateDir>/dbus`). */
  readonly stateDir: string;
  /** --dbus-address; else $DBUS_SYSTEM_BUS_ADDRESS, else the system bus. */
  readonly dbusAddress: string | null;
  readonly privateBus: boolean;
  readonly onShutdown: () => void;
  /** The bus connection is gone for good (the daemon should exit and be restarted). */
  readonly onBusLost?: (reason: unknown) => void;
  readonly env?: NodeJS.ProcessEnv;
}

export interface Api {
  /** The private bus's address (for the `DBUS_ADDRESS=` line), or null when serving on an existing bus. */
  readonly address: string | null;
  /** The address served on, whichever bus it is. */
  readonly busAddress: string;
  /** Stops serving, then ends the private bus if dobbyd started one. */
  close(): Promise<void>;
}

export async function startApi(options: ApiOptions): Promise<Api> {
  const bus = await resolveBus({ dbusAddress: options.dbusAddress, privateBus: options.privateBus, stateDir: options.stateDir }, options.env);
  try {
    const service = await startDbusService({ ...options, address: bus.address });
    let closing: Promise<void> | null = null;
    return {
      address: bus.privateBus?.address ?? null,
      busAddress: bus.address,
      close: () => (closing ??= (async () => {
        await service.close();
        await bus.privateBus?.stop();
      })()),
    };
  } catch (err) {
    await bus.privateBus?.stop();
    throw err;
  }
}
