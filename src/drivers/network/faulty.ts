// Fault-injecting wrappers around any ip or firewall driver (real or fake): a start that fails
// half-way through network set-up, on demand, for the leak tests.

import { DobbyError } from '../../errors.ts';
import type { LinkFilter } from './ebtables.ts';
import type { Family, Firewall, FirewallChange } from './firewall.ts';
import type { IpDriver, IpOp } from './ip.ts';
import type { NetTarget } from './net-exec.ts';

export interface Faults {
  /** Fail an ip batch (nothing of it is applied) when this says so. */
  ip?: (target: NetTarget, ops: readonly IpOp[]) => boolean;
  /** Fail a firewall batch (nothing of it is applied) when this says so. */
  firewall?: (family: Family, changes: readonly FirewallChange[]) => boolean;
  /** Fail a link-layer (ebtables) batch when this says so. */
  linkFilter?: (changes: readonly FirewallChange[]) => boolean;
}

function injected(what: string): DobbyError {
  return new DobbyError('INTERNAL', `injected fault: ${what}`, { verb: what, exitStatus: 1 });
}

export function faultyIp(inner: IpDriver, faults: Faults): IpDriver {
  return {
    apply: async (target, ops, containerId) => {
      if (faults.ip?.(target, ops) === true) throw injected(`ip batch (${ops.map((o) => o.op).join(', ')})`);
      return inner.apply(target, ops, containerId);
    },
    links: (target) => inner.links(target),
    routes: (target, family) => inner.routes(target, family),
  };
}

export function faultyFirewall(inner: Firewall, faults: Faults): Firewall {
  return {
    list: (family, tables) => inner.list(family, tables),
    apply: async (family, changes, containerId) => {
      if (faults.firewall?.(family, changes) === true) throw injected(`firewall batch (${changes.map((c) => c.op).join(', ')})`);
      return inner.apply(family, changes, containerId);
    },
    save: (family) => inner.save(family),
  };
}

export function faultyLinkFilter(inner: LinkFilter, faults: Faults): LinkFilter {
  return {
    list: () => inner.list(),
    apply: async (changes, containerId) => {
      if (faults.linkFilter?.(changes) === true) throw injected(`ebtables batch (${changes.map((c) => c.op).join(', ')})`);
      return inner.apply(changes, containerId);
    },
  };
}
