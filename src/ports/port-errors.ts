// Typed port-manager errors: a DobbyError with a finer reason, so API clients and tests can tell the failures apart.

import { DobbyError, type ErrorCode } from '../errors.ts';

export type PortErrorReason =
  | 'invalid-spec'
  | 'invalid-proto'
  | 'invalid-parent-ip'
  | 'invalid-child-ip'
  | 'invalid-port'
  | 'family-mismatch'
  | 'invalid-container'
  | 'conflict'
  | 'address-in-use'
  | 'permission-denied'
  | 'address-not-available'
  | 'unknown-id'
  | 'unknown-container'
  | 'unsupported'
  | 'driver-failed';

const CODE_OF: Readonly<Record<PortErrorReason, ErrorCode>> = {
  'invalid-spec': 'INVALID_ARGUMENT',
  'invalid-proto': 'INVALID_ARGUMENT',
  'invalid-parent-ip': 'INVALID_ARGUMENT',
  'invalid-child-ip': 'INVALID_ARGUMENT',
  'invalid-port': 'INVALID_ARGUMENT',
  'family-mismatch': 'INVALID_ARGUMENT',
  'invalid-container': 'INVALID_ID',
  conflict: 'INVALID_ARGUMENT',
  'address-in-use': 'INVALID_ARGUMENT',
  'permission-denied': 'HOST_UNSUITABLE',
  'address-not-available': 'INVALID_ARGUMENT',
  'unknown-id': 'INVALID_ID',
  'unknown-container': 'UNKNOWN_CONTAINER',
  unsupported: 'INVALID_ARGUMENT',
  'driver-failed': 'INTERNAL',
};

export class PortError extends DobbyError {
  readonly reason: PortErrorReason;
  /** The id of the port this one conflicts with (reason 'conflict'). */
  readonly conflictsWith: number | undefined;

  constructor(reason: PortErrorReason, message: string, details: { containerId?: string; cause?: unknown; stderr?: string; conflictsWith?: number } = {}) {
    super(CODE_OF[reason], message, details);
    this.name = 'PortError';
    this.reason = reason;
    this.conflictsWith = details.conflictsWith;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), reason: this.reason, ...(this.conflictsWith === undefined ? {} : { conflictsWith: this.conflictsWith }) };
  }
}

/**
 * Turns a bind/listen failure into a PortError naming the address and what would be right
 * (rootlesskit surfaced the raw `bind: address already in use`).
 */
export function bindError(err: unknown, where: string, port: number): PortError {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const text = err instanceof Error ? err.message : String(err);
  if (code === 'EADDRINUSE') {
    return new PortError('address-in-use', `${where} is already in use by another program on the host: pick another parentPort, or stop what listens there (ss -lnp 'sport = :${port}')`, { cause: err });
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new PortError('permission-denied', `binding ${where} was refused (${code}): ports below net.ipv4.ip_unprivileged_port_start need CAP_NET_BIND_SERVICE; run dobbyd as root or pick a parentPort of 1024 or more`, { cause: err });
  }
  if (code === 'EADDRNOTAVAIL') {
    return new PortError('address-not-available', `${where}: the host has no such address; use one of the host's own addresses or leave parentIP empty for all of them`, { cause: err });
  }
  return new PortError('driver-failed', `could not listen on ${where}: ${text}`, { cause: err });
}

/** A childIP that is not the container's own: forwarding through a container to elsewhere is not a port. */
export function notTheContainers(childIP: string, containerId: string): PortError {
  return new PortError('invalid-child-ip', `childIP ${childIP} is not an address of container ${containerId}: use one of its own addresses (ip addr inside it), its loopback, or "" for the default`, { containerId });
}
