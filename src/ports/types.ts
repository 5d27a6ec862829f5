// What port forwarding deals in, for the drivers that do it and the API that asks for it: a port as
// forwarded, the driver names, and AddPort's request.

import type { PortStatus } from './port-spec.ts';

export const PORT_DRIVER_NAMES = ['nat', 'builtin'] as const;
export type PortDriverName = (typeof PORT_DRIVER_NAMES)[number];

/** A port as a driver holds it: the registry's status plus the driver forwarding it. */
export interface ActivePort extends PortStatus {
  readonly driver: PortDriverName;
}

/** AddPort's argument: a spec, plus optionally the driver to use (else chosen by the manager). */
export type AddPortRequest = Record<string, unknown>;
