// The firewall rules of nat networking, built by pure functions: the bridge's own (forwarding and
// masquerade through the external interfaces) and each container's inter-container rules.
//
// Everything lives in chains of our own (`<prefix>-INPUT` and `<prefix>-FORWARD` in filter,
// `<prefix>-PREROUTING` and `<prefix>-POSTROUTING` in nat), reached by one jump rule from each
// built-in chain, and every rule carries a comment: `dobby-net bridge` for the bridge's,
// `dobby-net:<container id>` for a container's (ids have no spaces, so the two never collide).
// Teardown and crash recovery find rules by it.
//
// Order is what makes the source checks hold whatever order containers start in: `<prefix>-INPUT`
// and `<prefix>-FORWARD` first jump to `<prefix>-ANTISPOOF` for anything from the bridge, and only
// then (FORWARD) to `<prefix>-INTER`, where the containers' ACCEPTs keyed on a source address live.
// A container's rules only ever go into ANTISPOOF and INTER, never above those jumps, but for its
// dnsmasq ACCEPT, which is keyed on its own bridge port (physdev) and so holds wherever it sits.

import type { Family, FirewallChange, FirewallRule, Table } from '../../drivers/network/firewall.ts';
import type { InterContainerEntry } from './data.ts';

export const BRIDGE_TAG = 'dobby-net bridge';

export function containerTag(id: string): string {
  return `dobby-net:${id}`;
}

export interface ChainNames {
  readonly input: string;
  readonly forward: string;
  /** The containers' source checks, jumped to first from input and forward. */
  readonly antispoof: string;
  /** The containers' inter-container ACCEPTs, jumped to from forward after antispoof. */
  readonly inter: string;
  readonly prerouting: string;
  readonly postrouting: string;
}

export function chainNames(prefix: string): ChainNames {
  return {
    input: `${prefix}-INPUT`, forward: `${prefix}-FORWARD`, antispoof: `${prefix}-ANTISPOOF`, inter: `${prefix}-INTER`,
    prerouting: `${prefix}-PREROUTING`, postrouting: `${prefix}-POSTROUTING`,
  };
}

/** Our chains and the built-in chain each is jumped to from (null: only from chains of ours). */
export function ourChains(names: ChainNames): readonly { readonly table: Table; readonly chain: string; readonly from: string | null }[] {
  return [
    { table: 'filter', chain: names.input, from: 'INPUT' },
    { table: 'filter', chain: names.forward, from: 'FORWARD' },
    { table: 'filter', chain: names.antispoof, from: null },
    { table: 'filter', chain: names.inter, from: null },
    { table: 'nat', chain: names.prerouting, from: 'PREROUTING' },
    { table: 'nat', chain: names.postrouting, from: 'POSTROUTING' },
  ];
}

export function jumpRule(chain: string): string[] {
  return ['-m', 'comment', '--comment', BRIDGE_TAG, '-j', chain];
}

/** The comment a rule carries, if any. */
export function ruleTag(rule: readonly string[]): string | null {
  const i = rule.indexOf('--comment');
  return i >= 0 ? (rule[i + 1] ?? null) : null;
}

export function isJumpTo(rule: readonly string[], chain: string): boolean {
  const i = rule.indexOf('-j');
  return i >= 0 && rule[i + 1] === chain;
}

export interface BridgeRuleInput {
  readonly family: Family;
  readonly bridge: string;
  /** The containers' subnet: `100.64.11.0/24`, or the IPv6 one. */
  readonly subnet: string;
  readonly externalInterfaces: readonly string[];
  readonly names: ChainNames;
}

/** The bridge's rules, in order; each is appended to its chain. */
export function bridgeRules(input: BridgeRuleInput): FirewallRule[] {
  const { bridge, subnet, names } = input;
  const tag = ['-m', 'comment', '--comment', BRIDGE_TAG];
  const fwd = (rule: string[]): FirewallRule => ({ table: 'filter', chain: names.forward, rule: withTag(rule, tag) });
  // First of all: whatever comes from the bridge meets the source checks.
  const out: FirewallRule[] = [
    { table: 'filter', chain: names.input, rule: withTag(['-i', bridge, '-j', names.antispoof], tag) },
    // The bridge has route_localnet=1 (dnsmasq and containerToHost DNAT to 127.0.0.1, as Dobby): the
    // host's loopback then takes only what one of those DNATs sent there, never a packet a container
    // (with CAP_NET_RAW) addressed to 127.x itself.
    ...(input.family === 4 ? [{ table: 'filter' as const, chain: names.input, rule: withTag(['-d', '127.0.0.0/8', '-i', bridge, '-m', 'conntrack', '!', '--ctstate', 'DNAT', '--ctdir', 'ORIGINAL', '-j', 'DROP'], tag) }] : []),
    fwd(['-i', bridge, '-j', names.antispoof]),
    fwd(['-i', bridge, '-o', bridge, '-j', names.inter]),
  ];
  if (input.family === 6) {
    // Neighbour discovery between containers, so that an inter-container port can be dialled directly.
    for (const type of ['neighbour-solicitation', 'neighbour-advertisement']) {
      out.push(fwd(['-i', bridge, '-o', bridge, '-p', 'ipv6-icmp', '-m', 'icmp6', '--icmpv6-type', type, '-j', 'ACCEPT']));
    }
  }
  for (const ext of input.externalInterfaces) {
    out.push(fwd(['-d', subnet, '-i', ext, '-o', bridge, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT']));
  }
  for (const ext of input.externalInterfaces) {
    out.push(fwd(['-s', subnet, '-i', bridge, '-o', ext, '-j', 'ACCEPT']));
  }
  // Port forwards (the port manager's DNAT) from anywhere but the bridge itself reach the containers.
  out.push(fwd(['!', '-i', bridge, '-o', bridge, '-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'ACCEPT']));
  // Anything else into or out of the bridge (container to container included) is refused.
  out.push(fwd(['-o', bridge, '-j', 'REJECT']));
  out.push(fwd(['-i', bridge, '-j', 'REJECT']));
  for (const ext of input.externalInterfaces) {
    out.push({ table: 'nat', chain: names.postrouting, rule: withTag(['-s', subnet, '!', '-d', subnet, '-o', ext, '-j', 'MASQUERADE'], tag) });
  }
  return out;
}

/** The comment goes before the target, where iptables-save prints it. */
function withTag(rule: readonly string[], tag: readonly string[]): string[] {
  const j = rule.indexOf('-j');
  return j < 0 ? [...rule, ...tag] : [...rule.slice(0, j), ...tag, ...rule.slice(j)];
}

export interface ContainerRuleInput {
  readonly id: string;
  readonly family: Family;
  readonly bridge: string;
  readonly subnet: string;
  /** The bridge's own address (what other containers dial for an `in` port). */
  readonly bridgeAddress: string;
  readonly address: string;
  readonly interContainer: readonly InterContainerEntry[];
  readonly names: ChainNames;
}

/**
 * A container's inter-container rules. `in` port P: other containers dial the bridge address on P
 * and are DNATed to this container, whose replies (source port P) may cross the bridge. `out` port
 * P: this container may send to port P of any container (whose `in` rule lets it in).
 */
export function containerRules(input: ContainerRuleInput): FirewallRule[] {
  const { bridge, subnet, names } = input;
  const host = input.family === 4 ? `${input.address}/32` : `${input.address}/128`;
  const bridgeHost = input.family === 4 ? `${input.bridgeAddress}/32` : `${input.bridgeAddress}/128`;
  const tag = ['-m', 'comment', '--comment', containerTag(input.id)];
  const out: FirewallRule[] = [];
  for (const e of input.interContainer) {
    const proto = ['-p', e.protocol, '-m', e.protocol];
    if (e.direction === 'in') {
      out.push({ table: 'filter', chain: names.inter, rule: withTag(['-s', host, '-d', subnet, '-i', bridge, '-o', bridge, ...proto, '--sport', String(e.port), '-j', 'ACCEPT'], tag) });
      const to = input.family === 4 ? `${input.address}:${e.port}` : `[${input.address}]:${e.port}`;
      out.push({ table: 'nat', chain: names.prerouting, rule: withTag(['-s', subnet, '-d', bridgeHost, '-i', bridge, ...proto, '--dport', String(e.port), '-j', 'DNAT', '--to-destination', to], tag) });
    } else {
      out.push({ table: 'filter', chain: names.inter, rule: withTag(['-s', host, '-d', subnet, '-i', bridge, '-o', bridge, ...proto, '--dport', String(e.port), '-j', 'ACCEPT'], tag) });
    }
  }
  return out;
}

export const DNS_PORT = 53;

export interface DnsRuleInput {
  readonly id: string;
  readonly bridge: string;
  readonly bridgeAddress: string;
  /** The container's IPv4 address and its host-side veth. */
  readonly address: string;
  readonly veth: string;
  readonly names: ChainNames;
}

/**
 * Dobby's `dnsmasq`: the container's DNS queries to the bridge address (udp and tcp 53) go to the
 * host's resolver on 127.0.0.1:53, and the host takes them in whatever its INPUT policy. The
 * ACCEPT names the container's bridge port (physdev), which no other container can forge, so its
 * place in the chain (above the source checks) cannot let anything else in. IPv4 only: the kernel
 * never DNATs to ::1.
 */
export function dnsRules(input: DnsRuleInput): FirewallRule[] {
  const { bridge, names } = input;
  const tag = ['-m', 'comment', '--comment', containerTag(input.id)];
  return (['udp', 'tcp'] as const).flatMap((proto): FirewallRule[] => {
    const match = ['-p', proto, '-m', proto, '--dport', String(DNS_PORT)];
    return [
      { table: 'nat', chain: names.prerouting, rule: withTag(['-s', `${input.address}/32`, '-d', `${input.bridgeAddress}/32`, '-i', bridge, ...match, '-j', 'DNAT', '--to-destination', `127.0.0.1:${DNS_PORT}`], tag) },
      { table: 'filter', chain: names.input, rule: withTag(['-s', `${input.address}/32`, '-d', '127.0.0.1/32', '-i', bridge, ...match, '-m', 'physdev', '--physdev-in', input.veth, '-j', 'ACCEPT'], tag) },
    ];
  });
}

export interface AntiSpoofInput {
  readonly id: string;
  readonly family: Family;
  /** The container's host-side veth: packets from it carry only the container's address. */
  readonly veth: string;
  /** Null when the container has no address of this family: then nothing of it passes. */
  readonly address: string | null;
  readonly names: ChainNames;
}

/**
 * Drops what a container sends with a source address other than its own, forwarded or to the host
 * (so it cannot borrow another container's inter-container rules), from its bridge port (physdev,
 * which needs br_netfilter). The rules are all of one container's port, so the order of containers
 * in the chain does not matter. IPv6 keeps ICMPv6 from link-local and unspecified sources (neighbour
 * discovery, to the host and between containers); a container without an address of a family
 * sends nothing of it.
 */
export function antiSpoofRules(input: AntiSpoofInput): FirewallRule[] {
  const tag = ['-m', 'comment', '--comment', containerTag(input.id)];
  const from = ['-m', 'physdev', '--physdev-in', input.veth];
  const chain = input.names.antispoof;
  if (input.address === null) return [{ table: 'filter', chain, rule: [...from, ...tag, '-j', 'DROP'] }];
  const out: FirewallRule[] = [];
  if (input.family === 6) {
    for (const source of ['fe80::/10', '::/128']) out.push({ table: 'filter', chain, rule: [...from, '-s', source, '-p', 'ipv6-icmp', ...tag, '-j', 'RETURN'] });
  }
  const host = input.family === 4 ? `${input.address}/32` : `${input.address}/128`;
  out.push({ table: 'filter', chain, rule: ['!', '-s', host, ...from, ...tag, '-j', 'DROP'] });
  return out;
}

/** A container's rules go to the top of their chains (ANTISPOOF, INTER, PREROUTING), in the order given. */
export function insertChanges(rules: readonly FirewallRule[]): FirewallChange[] {
  return [...rules].reverse().map((r) => ({ op: 'insert', table: r.table, chain: r.chain, rule: r.rule }));
}
