// The container network the host-service plugins (appservicesrdk, thunder) open host ports to: the
// networking plugin's nat network, looked up by container id, or an error saying how to get one.

import { DobbyError } from '../errors.ts';
import type { HostServiceAccess } from '../drivers/ports/host-service-access.ts';
import type { ContainerNetwork } from './networking/plugin.ts';

export interface NetworkOf {
  /** The container's network as the networking plugin attached it; null when it has none (yet). */
  (containerId: string): ContainerNetwork | null;
}

/** The nat network a plugin reaching host services needs, or an error saying how to get one. */
export function natNetworkOf(networkOf: NetworkOf, id: string, plugin: string): ContainerNetwork & { readonly ipv4: string; readonly bridgeIpv4: string } {
  const n = networkOf(id);
  if (n === null || n.type !== 'nat' || n.ipv4 === null || n.bridgeIpv4 === null) {
    throw new DobbyError('BUNDLE_INVALID', `container '${id}': ${plugin} needs the networking plugin's nat network with IPv4, set up before it: give networking {"type": "nat"} and ${plugin} "dependsOn": ["networking"]; the container has ${n === null ? 'no network yet' : `a ${n.type} network${n.ipv4 === null ? ' without IPv4' : ''}`}`, { containerId: id });
  }
  return n as ContainerNetwork & { readonly ipv4: string; readonly bridgeIpv4: string };
}

/** What appservicesrdk and thunder are built with: the host rules' driver and the container's network. */
export interface HostServicePluginOptions {
  readonly access: HostServiceAccess;
  readonly networkOf: NetworkOf;
  /** The nat bridge's IPv4 address as configured (settings network.addressRange); null: Dobby's 100.64.11.1. */
  readonly bridgeAddress?: () => string | null;
}
