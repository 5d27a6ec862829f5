// The port manager with both drivers, as the composition root builds it.

import type { DriverLogger } from '../process.ts';
import { BuiltinPortDriver } from './builtin-driver.ts';
import { ContainerToHost } from './container-to-host.ts';
import { NatPortDriver } from './nat-driver.ts';
import type { PortDriverName } from './port-driver.ts';
import { createPortManager, type PortManager, type TargetResolver } from './port-manager.ts';

export interface PortsOptions {
  readonly resolveTarget: TargetResolver;
  readonly logger?: DriverLogger & { info?(obj: object, msg?: string): void };
  /** nat (default) or builtin. */
  readonly defaultDriver?: PortDriverName;
  /** A named namespace standing in for the host (tests). */
  readonly hostNetns?: string;
}

/** containerToHost / localhostMasquerade rules, in the same host namespace as the ports. */
export function createContainerToHost(options: Pick<PortsOptions, 'logger' | 'hostNetns'>): ContainerToHost {
  return new ContainerToHost({ ...(options.logger === undefined ? {} : { logger: options.logger }), ...(options.hostNetns === undefined ? {} : { hostNetns: options.hostNetns }) });
}

export function createPorts(options: PortsOptions): PortManager {
  const common = { ...(options.logger === undefined ? {} : { logger: options.logger }), ...(options.hostNetns === undefined ? {} : { hostNetns: options.hostNetns }) };
  return createPortManager({
    drivers: { nat: new NatPortDriver(common), builtin: new BuiltinPortDriver(common) },
    defaultDriver: options.defaultDriver ?? 'nat',
    resolveTarget: options.resolveTarget,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
}
