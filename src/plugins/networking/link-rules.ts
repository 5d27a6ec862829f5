// The link-layer (ebtables) rules of nat networking, built by pure functions: what each container's
// bridge port may send and what may be sent to it.
//
// `<prefix>-FROM` (nat table, jumped to from PREROUTING: before the bridge learns a source MAC, so a
// forged one never moves another container's MAC to this port) holds, per port, what it may send:
// frames with its own MAC, ARP naming its own MAC and IPv4 address, IP packets from its own
// addresses (and ICMPv6 from link-local or unspecified ones, for neighbour discovery); anything
// else from the port is dropped (forged MACs, ARP replies claiming another container's address,
// other ethertypes, a family it has no address of). `<prefix>-TO` (nat table too, jumped to from
// POSTROUTING, which every frame out of a port passes, forwarded or the host's own) lets out to a
// port only IP packets addressed to that container (or multicast/broadcast), so a poisoned
// neighbour cache anywhere cannot redirect another container's traffic to it. Both in one table:
// each table an ebtables-restore touches costs it a fetch of that table (~10 ms here), on every
// container start and stop. This layer does not need br_netfilter. A port's rules all name it
// (`-i`/`-o`), which is how teardown and crash recovery find them.

import type { FirewallRule, Table } from '../../drivers/network/firewall.ts';

export interface LinkChainNames {
  readonly from: string;
  readonly to: string;
}

export function linkChainNames(prefix: string): LinkChainNames {
  return { from: `${prefix}-FROM`, to: `${prefix}-TO` };
}

/** Our chains and the built-in chains each is jumped to from. */
export function ourLinkChains(names: LinkChainNames): readonly { readonly table: Table; readonly chain: string; readonly from: readonly string[] }[] {
  return [
    { table: 'nat', chain: names.from, from: ['PREROUTING'] },
    { table: 'nat', chain: names.to, from: ['POSTROUTING'] },
  ];
}

/** The container's MAC address, set on its end of the veth pair: locally administered, from its IPv4 address. */
export function containerMac(ipv4: string): string {
  return ['02', 'db', ...ipv4.split('.').map((b) => Number(b).toString(16).padStart(2, '0'))].join(':');
}

export interface PortRuleInput {
  readonly veth: string;
  readonly mac: string;
  /** Null for a family the container has no address of. */
  readonly ipv4: string | null;
  readonly ipv6: string | null;
  /** The subnet's IPv4 broadcast address. */
  readonly broadcast4: string;
  readonly names: LinkChainNames;
}

/** One port's rules, in order (each is appended to its chain; RETURN ends the port's checks). */
export function portRules(input: PortRuleInput): FirewallRule[] {
  const { veth, mac, ipv4, ipv6, names } = input;
  const from = (rule: string[]): FirewallRule => ({ table: 'nat', chain: names.from, rule: ['-i', veth, ...rule] });
  const to = (rule: string[]): FirewallRule => ({ table: 'nat', chain: names.to, rule: ['-o', veth, ...rule] });
  const out: FirewallRule[] = [from(['-s', '!', mac, '-j', 'DROP']), from(['-p', 'ARP', '--arp-mac-src', '!', mac, '-j', 'DROP'])];
  if (ipv4 !== null) out.push(from(['-p', 'ARP', '--arp-ip-src', ipv4, '-j', 'RETURN']), from(['-p', 'IPv4', '--ip-src', ipv4, '-j', 'RETURN']));
  if (ipv6 !== null) {
    out.push(from(['-p', 'IPv6', '--ip6-src', ipv6, '-j', 'RETURN']));
    for (const source of ['fe80::/10', '::']) out.push(from(['-p', 'IPv6', '--ip6-src', source, '--ip6-proto', 'ipv6-icmp', '-j', 'RETURN']));
  }
  out.push(from(['-j', 'DROP']));
  if (ipv4 !== null) {
    out.push(to(['-p', 'ARP', '-j', 'RETURN']));
    for (const dst of [ipv4, input.broadcast4, '255.255.255.255', '224.0.0.0/4']) out.push(to(['-p', 'IPv4', '--ip-dst', dst, '-j', 'RETURN']));
  }
  if (ipv6 !== null) {
    for (const dst of [ipv6, 'ff00::/8']) out.push(to(['-p', 'IPv6', '--ip6-dst', dst, '-j', 'RETURN']));
    out.push(to(['-p', 'IPv6', '--ip6-dst', 'fe80::/10', '--ip6-proto', 'ipv6-icmp', '-j', 'RETURN']));
  }
  out.push(to(['-j', 'DROP']));
  return out;
}

/** True when an ebtables rule (as ebtables-save prints it) names the port. */
export function namesPort(rule: readonly string[], veth: string): boolean {
  return rule.some((x, i) => (x === '-i' || x === '-o') && rule[i + 1] === veth);
}
