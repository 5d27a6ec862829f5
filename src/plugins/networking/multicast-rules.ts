// multicastForwarding's firewall rules and smcroute lines, built by pure functions.
//
// A group's datagrams come in on an external interface and smcroute routes them onto the bridge;
// two chains of our own let them: `<prefix>-MCAST` in filter (jumped to from FORWARD for multicast
// going out to the bridge from elsewhere, ahead of our `<prefix>-FORWARD`, whose last rule refuses
// everything else bound for the bridge) ACCEPTs each container's udp group:port, and
// `<prefix>-MCAST` in mangle (jumped to from PREROUTING) adds 1 to the TTL (hop limit) of the same
// datagrams: senders mostly use TTL 1, which the kernel would not forward. Each rule carries the
// container's tag (`dobby-net:<id>`), the jumps `dobby-net multicast`. Nothing is added at the link
// layer: `<prefix>-TO` (link-rules.ts) already lets multicast out to a port of a container that
// has an address of the family, and nothing else.

import { isIP } from 'node:net';
import type { Family, FirewallRule, Table } from '../../drivers/network/firewall.ts';
import type { MulticastEntry } from './data.ts';
import { containerTag } from './rules.ts';

export const MULTICAST_TAG = 'dobby-net multicast';
export const ALL_GROUPS: Readonly<Record<Family, string>> = { 4: '224.0.0.0/4', 6: 'ff00::/8' };

export function multicastChain(prefix: string): string {
  return `${prefix}-MCAST`;
}

/** Our two chains and the built-in chain each is jumped to from. */
export function multicastChains(chain: string): readonly { readonly table: Table; readonly chain: string; readonly from: string }[] {
  return [{ table: 'filter', chain, from: 'FORWARD' }, { table: 'mangle', chain, from: 'PREROUTING' }];
}

export function groupFamily(ip: string): Family {
  return isIP(ip) === 6 ? 6 : 4;
}

const tag = (text: string): string[] => ['-m', 'comment', '--comment', text];

/** The jump into each chain, for multicast of the family that does not come from the bridge. */
export function multicastJumps(family: Family, bridge: string, chain: string): FirewallRule[] {
  const all = ALL_GROUPS[family];
  return [
    { table: 'filter', chain: 'FORWARD', rule: ['-d', all, '!', '-i', bridge, '-o', bridge, ...tag(MULTICAST_TAG), '-j', chain] },
    { table: 'mangle', chain: 'PREROUTING', rule: ['-d', all, '!', '-i', bridge, ...tag(MULTICAST_TAG), '-j', chain] },
  ];
}

export interface MulticastRuleInput {
  readonly id: string;
  readonly family: Family;
  readonly bridge: string;
  readonly chain: string;
  /** The container's entries of this family. */
  readonly entries: readonly MulticastEntry[];
}

/** A container's rules: per group and port, the FORWARD ACCEPT and the TTL (hop limit) +1. */
export function multicastRules(input: MulticastRuleInput): FirewallRule[] {
  const { bridge, chain } = input;
  const out: FirewallRule[] = [];
  const seen = new Set<string>();
  for (const { ip, port } of input.entries) {
    const key = `${ip} ${port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const match = ['-d', `${ip}/${input.family === 4 ? 32 : 128}`, '!', '-i', bridge];
    const udp = ['-p', 'udp', '-m', 'udp', '--dport', String(port), ...tag(containerTag(input.id))];
    out.push({ table: 'filter', chain, rule: [...match, '-o', bridge, ...udp, '-j', 'ACCEPT'] });
    const hop = input.family === 4 ? ['-j', 'TTL', '--ttl-inc', '1'] : ['-j', 'HL', '--hl-inc', '1'];
    out.push({ table: 'mangle', chain, rule: [...match, ...udp, ...hop] });
  }
  return out;
}

/** smcroute's routes for the groups: from each external interface, and lo (as Dobby does), to the bridge. */
export function smcrouteLines(entries: readonly MulticastEntry[], externalInterfaces: readonly string[], bridge: string): string[] {
  const groups = [...new Set(entries.map((e) => e.ip))];
  return groups.flatMap((g) => [...externalInterfaces, 'lo'].map((from) => `mroute from ${from} group ${g} to ${bridge}`));
}
