// Dobby's interContainer[].localhostMasquerade (IPv4 only, as Dobby): rules in the container's own
// network namespace, so that the containers talk to each other over 127.0.0.1.
//
// `in` port P (a server): what other containers send to this container's address on P (after the
// host's DNAT from the bridge address) goes to its 127.0.0.1:P, so a server bound to loopback only
// is reached. `out` port P (a client): what it sends on its loopback to P goes to the bridge
// address, where the server's `in` DNAT takes it on. Both need route_localnet=1 on the container's
// interface. Dobby adds no SNAT for `out`, so the packet would leave with source 127.0.0.1 (which
// the host's source checks drop, and nobody could answer); here it gets the container's address, as
// portForwarding.localhostMasquerade does. Nothing is undone: the rules go with the namespace.

import type { Firewall, FirewallChange } from '../../drivers/network/firewall.ts';
import { Iptables } from '../../drivers/network/firewall.ts';
import { pidTarget, type NetExec } from '../../drivers/network/net-exec.ts';
import { SysctlCommand, type Sysctl } from '../../drivers/network/sysctl.ts';
import type { InterContainerEntry } from './data.ts';

export interface LocalhostMasqueradeInput {
  /** The containers' IPv4 range (the sources an `in` port takes). */
  readonly subnet: string;
  readonly address: string;
  readonly bridgeAddress: string;
  readonly interContainer: readonly InterContainerEntry[];
}

/** The container namespace's nat changes; empty when no entry asks for it. */
export function localhostMasqueradeChanges(input: LocalhostMasqueradeInput): FirewallChange[] {
  const out: FirewallChange[] = [];
  for (const e of input.interContainer) {
    if (!e.localhostMasquerade) continue;
    const match = ['-p', e.protocol, '-m', e.protocol, '--dport', String(e.port)];
    if (e.direction === 'in') {
      out.push({ op: 'append', table: 'nat', chain: 'PREROUTING', rule: ['-s', input.subnet, '-d', `${input.address}/32`, ...match, '-j', 'DNAT', '--to-destination', `127.0.0.1:${e.port}`] });
    } else {
      out.push({ op: 'append', table: 'nat', chain: 'OUTPUT', rule: ['-o', 'lo', ...match, '-j', 'DNAT', '--to-destination', `${input.bridgeAddress}:${e.port}`] });
      out.push({ op: 'append', table: 'nat', chain: 'POSTROUTING', rule: ['-s', '127.0.0.1/32', '-d', `${input.bridgeAddress}/32`, ...match, '-j', 'SNAT', '--to-source', input.address] });
    }
  }
  return out;
}

/** The firewall and sysctls of a container's own namespace. */
export interface InsideDrivers {
  readonly firewall: Firewall;
  readonly sysctl: Sysctl;
}

/** The real ones: the host's tools run in the namespace of `pid` (entered as NetExec enters it). */
export function insideDrivers(exec: NetExec, pid: number, iptables?: string): InsideDrivers {
  const inside: NetExec = { hostNetns: null, run: (_target, argv, options) => exec.run(pidTarget(pid), argv, options) };
  return { firewall: new Iptables(inside, iptables === undefined ? {} : { binary: iptables }), sysctl: new SysctlCommand(inside) };
}

export async function applyLocalhostMasquerade(drivers: InsideDrivers, changes: readonly FirewallChange[], iface: string, id: string): Promise<void> {
  if (changes.length === 0) return;
  await drivers.firewall.apply(4, changes, id);
  await drivers.sysctl.set(`net.ipv4.conf.${iface}.route_localnet`, '1');
}
