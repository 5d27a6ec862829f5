// The `appservicesrdk` plugin (Dobby's AppServicesRdk): the container reaches the host's "local
// services" ports (its set menu's and `additionalPorts`) at the bridge address, and at its own
// localhost, which are DNATed to the host's 127.0.0.1 (src/drivers/ports/host-service-access.ts).
//
// It needs the networking plugin's nat network, attached first: `dependsOn: ["networking"]`, as
// Dobby's README asks (appservicesrdk comes first in Dobby's order). preStart (Dobby's
// createRuntime) opens the ports; postStop (postHalt) and preDestruction close them, from the
// rules themselves, so a start that failed and a daemon restarted after a crash leave none.
// Dobby's /etc/hosts and /etc/services lines (`as`, `localservices`) are not written: the
// caller's rootfs is never changed.

import { dataOf } from '../data-reader.ts';
import { natNetworkOf, type HostServicePluginOptions } from '../host-service-network.ts';
import { HookHint, type DobbyPlugin } from '../types.ts';
import { APPSERVICES_PLUGIN, parseAppServicesData } from './data.ts';

export function createAppServicesPlugin(options: HostServicePluginOptions): DobbyPlugin {
  const close = async (ctx: { readonly id: string }): Promise<void> => options.access.close(ctx.id);
  return {
    name: APPSERVICES_PLUGIN,
    hookHints: HookHint.PostConstructionSync | HookHint.PreStartSync | HookHint.PostStopSync | HookHint.PreDestructionSync,
    // Every step is an iptables/sysctl run with a time limit of its own; a half-removed set must not outlive the container.
    awaitedTeardown: true,
    checkData: (data) => parseAppServicesData(data).warnings,

    postConstruction(ctx) {
      dataOf(ctx, parseAppServicesData);
    },

    async preStart(ctx) {
      const { ports } = dataOf(ctx, parseAppServicesData);
      if (ports.length === 0) return;
      const n = natNetworkOf(options.networkOf, ctx.id, APPSERVICES_PLUGIN);
      await options.access.open({ id: ctx.id, netnsPath: n.netnsPath, ipv4: n.ipv4, bridgeIpv4: n.bridgeIpv4, containerInterface: n.containerInterface }, ports, true);
      ctx.logger.info({ ports, address: `${n.bridgeIpv4}` }, 'host local services reachable from the container');
    },

    postStop: close,
    preDestruction: close,
  };
}
