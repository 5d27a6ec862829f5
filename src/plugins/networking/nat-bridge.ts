// The nat bridge's life: the bridge and its addresses, the forwarding and br_netfilter sysctls
// (restored with the bridge), our iptables and ebtables chains with the bridge's own rules, and the
// lock every firewall batch goes through (table-lock.ts). Up with the first nat container, down
// with the last one.

import type { AddressAllocator } from '../../drivers/network/address-allocator.ts';
import { bridgeIpv4, ipv4ToString, ipv6For, rangeText } from '../../drivers/network/address-allocator.ts';
import type { LinkFilter } from '../../drivers/network/ebtables.ts';
import type { Family, Firewall, FirewallChange, Table } from '../../drivers/network/firewall.ts';
import type { IpDriver, IpOp, LinkInfo } from '../../drivers/network/ip.ts';
import { HOST } from '../../drivers/network/net-exec.ts';
import type { Sysctl } from '../../drivers/network/sysctl.ts';
import { DobbyError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { linkChainNames, namesPort, ourLinkChains, type LinkChainNames } from './link-rules.ts';
import { BRIDGE_TAG, bridgeRules, chainNames, isJumpTo, jumpRule, ourChains, ruleTag, type ChainNames } from './rules.ts';
import { BatchQueue } from './batch-queue.ts';
import { TableLock } from './table-lock.ts';

export interface NatBridgeOptions {
  readonly bridge: string;
  readonly allocator: AddressAllocator;
  readonly ipv6Prefix: string;
  readonly externalInterfaces: readonly string[];
  readonly chainPrefix: string;
  readonly ip: IpDriver;
  readonly firewall: Firewall;
  /** The link-layer filter (ebtables); null on a host without one (then only the IP-level checks hold). */
  readonly linkFilter: LinkFilter | null;
  readonly sysctl: Sysctl;
  readonly logger: Logger;
  /** false: IPv4 only (the daemon's settings); absent: IPv6 too where the host has it. */
  readonly ipv6?: boolean;
}

const FORWARD_SYSCTLS: Readonly<Record<Family, string>> = { 4: 'net.ipv4.ip_forward', 6: 'net.ipv6.conf.all.forwarding' };
/** Bridged traffic meets iptables only with these on (br_netfilter; per network namespace on newer kernels). */
export const BRIDGE_NF_SYSCTLS: Readonly<Record<Family, string>> = { 4: 'net.bridge.bridge-nf-call-iptables', 6: 'net.bridge.bridge-nf-call-ip6tables' };
export const VETH_PREFIX = 'dveth';

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Deletes host links that match; one that vanished meanwhile (its namespace died) is fine. */
export async function deleteLinks(ip: IpDriver, match: (l: LinkInfo) => boolean, id?: string): Promise<void> {
  const doomed = (await ip.links(HOST)).filter(match);
  for (const link of doomed) {
    try {
      await ip.apply(HOST, [{ op: 'deleteLink', name: link.name }], id);
    } catch (err) {
      if ((await ip.links(HOST)).some((l) => l.name === link.name)) throw err;
    }
  }
}

/** The deletions of rules put in by these changes (inserts and appends), for a batch of their own. */
function deletions(inserted: readonly FirewallChange[]): FirewallChange[] {
  return inserted.flatMap((c): FirewallChange[] => (c.op === 'insert' || c.op === 'append' ? [{ op: 'delete', table: c.table, chain: c.chain, rule: c.rule }] : []));
}

/** Every chain flushed before any is deleted: ours jump to each other. */
function dropChains(chains: readonly { readonly table: Table; readonly chain: string }[]): FirewallChange[] {
  return [
    ...chains.map((c): FirewallChange => ({ op: 'flush', table: c.table, chain: c.chain })),
    ...chains.map((c): FirewallChange => ({ op: 'deleteChain', table: c.table, chain: c.chain })),
  ];
}

export class NatBridge {
  readonly #o: NatBridgeOptions;
  readonly names: ChainNames;
  readonly linkNames: LinkChainNames;
  readonly #tables = new TableLock();
  /** Containers' own batches, grouped while one is in flight: per iptables family, and ebtables. */
  readonly #ipQueues: Readonly<Record<Family, BatchQueue>>;
  readonly #linkQueue: BatchQueue | null;
  ready = false;
  #ipv6: Promise<boolean> | null = null;

  constructor(options: NatBridgeOptions) {
    this.#o = options;
    this.names = chainNames(options.chainPrefix);
    this.linkNames = linkChainNames(options.chainPrefix);
    const ipQueue = (family: Family): BatchQueue => new BatchQueue((changes, id) => this.#tables.shared(() => options.firewall.apply(family, changes, id)));
    this.#ipQueues = { 4: ipQueue(4), 6: ipQueue(6) };
    const filter = options.linkFilter;
    this.#linkQueue = filter === null ? null : new BatchQueue((changes, id) => this.#tables.shared(() => filter.apply(changes, id)));
  }

  get hasLinkFilter(): boolean {
    return this.#o.linkFilter !== null;
  }

  /** IPv6 is used when the host namespace has it enabled, unless the daemon's settings turn it off. */
  ipv6Supported(): Promise<boolean> {
    if (this.#o.ipv6 === false) return Promise.resolve(false);
    return (this.#ipv6 ??= this.#o.sysctl.get('net.ipv6.conf.all.disable_ipv6').then((v) => v === '0'));
  }

  async families(): Promise<Family[]> {
    return (await this.ipv6Supported()) ? [4, 6] : [4];
  }

  /** True when br_netfilter is loaded (its sysctls exist in the bridge's namespace). */
  async brNetfilterLoaded(): Promise<boolean> {
    return (await this.#o.sysctl.get(BRIDGE_NF_SYSCTLS[4])) !== null;
  }

  subnet(family: Family): string {
    const range = this.#o.allocator.range;
    return family === 4 ? rangeText(range) : `${ipv6For(this.#o.ipv6Prefix, range.network)}/${96 + range.prefixLength}`;
  }

  address(family: Family): string {
    const b = bridgeIpv4(this.#o.allocator.range);
    return family === 4 ? ipv4ToString(b) : ipv6For(this.#o.ipv6Prefix, b);
  }

  /** The subnet's IPv4 broadcast address. */
  broadcast4(): string {
    const { network, prefixLength } = this.#o.allocator.range;
    return ipv4ToString(network + 2 ** (32 - prefixLength) - 1);
  }

  /** Applies a container's own iptables changes (rules only it names), beside other containers' batches. */
  applyRules(family: Family, changes: readonly FirewallChange[], id: string): Promise<void> {
    return this.#ipQueues[family].submit(changes, id);
  }

  /** Applies a container's ebtables changes (a no-op without a link filter). */
  applyLinkRules(changes: readonly FirewallChange[], id: string): Promise<void> {
    return this.#linkQueue?.submit(changes, id) ?? Promise.resolve();
  }

  /** Deletes the iptables rules a container put in (its `inserted` changes, as given), in one batch. */
  deleteRules(family: Family, inserted: readonly FirewallChange[], id: string): Promise<void> {
    return this.#ipQueues[family].submit(deletions(inserted), id);
  }

  /** The same for a container's ebtables rules. */
  deleteLinkRules(inserted: readonly FirewallChange[], id: string): Promise<void> {
    return this.#linkQueue?.submit(deletions(inserted), id) ?? Promise.resolve();
  }

  /** Deletes the iptables rules of our chains that carry the tag. */
  async deleteTagged(family: Family, tag: string, id?: string): Promise<void> {
    await this.#tables.exclusive(async () => {
      const set = await this.#o.firewall.list(family);
      const mine = new Set(ourChains(this.names).map((c) => `${c.table}/${c.chain}`));
      const changes: FirewallChange[] = set.rules
        .filter((r) => mine.has(`${r.table}/${r.chain}`) && ruleTag(r.rule) === tag)
        .map((r) => ({ op: 'delete', table: r.table, chain: r.chain, rule: r.rule }));
      await this.#o.firewall.apply(family, changes, id);
    });
  }

  /** Deletes the ebtables rules of our chains that name the port. */
  async deletePortRules(veth: string, id?: string): Promise<void> {
    const filter = this.#o.linkFilter;
    if (filter === null) return;
    await this.#tables.exclusive(async () => {
      const set = await filter.list();
      const mine = new Set(ourLinkChains(this.linkNames).map((c) => `${c.table}/${c.chain}`));
      const changes: FirewallChange[] = set.rules
        .filter((r) => mine.has(`${r.table}/${r.chain}`) && namesPort(r.rule, veth))
        .map((r) => ({ op: 'delete', table: r.table, chain: r.chain, rule: r.rule }));
      await filter.apply(changes, id);
    });
  }

  /** Makes the bridge, its addresses, the sysctls and the firewall chains be as they should. */
  async up(): Promise<void> {
    const { ip, bridge, logger } = this.#o;
    const families = await this.families();
    try {
      await this.#sysctlsUp(families);
      const existing = (await ip.links(HOST)).find((l) => l.name === bridge);
      if (existing !== undefined && existing.kind !== 'bridge') {
        throw new DobbyError('HOST_UNSUITABLE', `the host has an interface '${bridge}' that is not a bridge (kind ${existing.kind ?? 'none'}); rename it or choose another bridge name for nat networking`);
      }
      const has = (address: string): boolean => existing?.addresses.some((a) => a.address === address) ?? false;
      const ops: IpOp[] = [];
      if (existing === undefined) ops.push({ op: 'addBridge', name: bridge });
      const len = this.#o.allocator.range.prefixLength;
      if (!has(this.address(4))) ops.push({ op: 'addAddress', link: bridge, cidr: `${this.address(4)}/${len}` });
      if (families.includes(6) && !has(this.address(6))) ops.push({ op: 'addAddress', link: bridge, cidr: `${this.address(6)}/${96 + len}` });
      if (existing?.up !== true) ops.push({ op: 'up', link: bridge });
      await ip.apply(HOST, ops);

      await this.#tables.exclusive(async () => {
        await Promise.all(families.map((family) => this.#firewallUp(family)));
        await this.#linkFilterUp();
      });
      this.ready = true;
      logger.info({ bridge, range: rangeText(this.#o.allocator.range), ipv6: families.includes(6), externalInterfaces: this.#o.externalInterfaces, linkFilter: this.hasLinkFilter }, 'nat bridge up');
    } catch (err) {
      // The caller releases the lease, which takes the bridge down again unless others hold one.
      logger.warn({ err: errorText(err) }, 'nat bridge set-up failed');
      throw err;
    }
  }

  /** Forwarding on, and bridged traffic through iptables where br_netfilter is loaded; the old values are kept to put back. */
  async #sysctlsUp(families: readonly Family[]): Promise<void> {
    const { sysctl, allocator } = this.#o;
    const restore: Record<string, string> = { ...(await allocator.restoreValues()) };
    const keys = families.flatMap((f) => [FORWARD_SYSCTLS[f], BRIDGE_NF_SYSCTLS[f]]);
    const current = await Promise.all(keys.map((k) => sysctl.get(k)));
    // A missing key (br_netfilter not loaded) is left alone: containers that need it are refused.
    const off = keys.filter((_, i) => current[i] !== '1' && current[i] !== null);
    let changed = false;
    for (const key of off) {
      const value = current[keys.indexOf(key)];
      if (value !== null && value !== undefined && !Object.hasOwn(restore, key)) {
        restore[key] = value;
        changed = true;
      }
    }
    // Recorded before the change, so a crash in between still leaves a way back.
    if (changed) await allocator.setRestoreValues(restore);
    await Promise.all(off.map((key) => sysctl.set(key, '1')));
  }

  async #firewallUp(family: Family): Promise<void> {
    const { firewall } = this.#o;
    const set = await firewall.list(family);
    const changes: FirewallChange[] = [];
    const chains = ourChains(this.names);
    for (const c of chains) if (!set.chains.includes(`${c.table}/${c.chain}`)) changes.push({ op: 'newChain', table: c.table, chain: c.chain });
    // The bridge's rules are rewritten whole (a restarted daemon may have other settings); the
    // containers' rules stay.
    const mine = new Set(chains.map((c) => `${c.table}/${c.chain}`));
    for (const r of set.rules) {
      if (mine.has(`${r.table}/${r.chain}`) && ruleTag(r.rule) === BRIDGE_TAG) changes.push({ op: 'delete', table: r.table, chain: r.chain, rule: r.rule });
    }
    for (const r of bridgeRules({ family, bridge: this.#o.bridge, subnet: this.subnet(family), externalInterfaces: this.#o.externalInterfaces, names: this.names })) {
      changes.push({ op: 'append', table: r.table, chain: r.chain, rule: r.rule });
    }
    for (const c of chains) {
      if (c.from !== null && !set.rules.some((r) => r.table === c.table && r.chain === c.from && isJumpTo(r.rule, c.chain))) {
        changes.push({ op: 'insert', table: c.table, chain: c.from, rule: jumpRule(c.chain) });
      }
    }
    await firewall.apply(family, changes);
  }

  async #linkFilterUp(): Promise<void> {
    const filter = this.#o.linkFilter;
    if (filter === null) return;
    const set = await filter.list();
    const changes: FirewallChange[] = [];
    for (const c of ourLinkChains(this.linkNames)) {
      if (!set.chains.includes(`${c.table}/${c.chain}`)) changes.push({ op: 'newChain', table: c.table, chain: c.chain });
      for (const from of c.from) {
        if (!set.rules.some((r) => r.table === c.table && r.chain === from && isJumpTo(r.rule, c.chain))) changes.push({ op: 'insert', table: c.table, chain: from, rule: ['-j', c.chain] });
      }
    }
    await filter.apply(changes);
  }

  /** Removes the jumps, our chains, the bridge and its leftover ports, and puts the sysctls back. */
  async down(logger: Logger): Promise<void> {
    const { ip, bridge, sysctl, allocator } = this.#o;
    this.ready = false;
    const problems: string[] = [];
    const attempt = async (work: () => Promise<void>): Promise<void> => {
      try {
        await work();
      } catch (err) {
        problems.push(errorText(err));
      }
    };
    const families = await this.families();
    await this.#tables.exclusive(async () => {
      await Promise.all(families.map((family) => attempt(() => this.#firewallDown(family))));
      await attempt(() => this.#linkFilterDown());
    });
    await attempt(async () => {
      const links = await ip.links(HOST);
      const ports = links.filter((l) => l.master === bridge && l.kind === 'veth' && l.name.startsWith(VETH_PREFIX)).map((l) => l.name);
      await deleteLinks(ip, (l) => ports.includes(l.name) || (l.name === bridge && l.kind === 'bridge'));
    });
    await attempt(async () => {
      const restore = await allocator.restoreValues();
      for (const [key, value] of Object.entries(restore)) await sysctl.set(key, value);
      if (Object.keys(restore).length > 0) await allocator.setRestoreValues({});
    });
    if (problems.length > 0) throw new DobbyError('INTERNAL', `could not take the nat bridge '${bridge}' down: ${problems.join('; ')}`);
    logger.info({ bridge }, 'nat bridge down (no nat container left)');
  }

  async #firewallDown(family: Family): Promise<void> {
    const { firewall } = this.#o;
    const set = await firewall.list(family);
    const changes: FirewallChange[] = [];
    const chains = ourChains(this.names);
    for (const c of chains) {
      for (const r of set.rules) {
        if (r.table === c.table && r.chain === c.from && isJumpTo(r.rule, c.chain)) changes.push({ op: 'delete', table: r.table, chain: r.chain, rule: r.rule });
      }
    }
    changes.push(...dropChains(chains.filter((c) => set.chains.includes(`${c.table}/${c.chain}`))));
    await firewall.apply(family, changes);
  }

  async #linkFilterDown(): Promise<void> {
    const filter = this.#o.linkFilter;
    if (filter === null) return;
    const set = await filter.list();
    const changes: FirewallChange[] = [];
    const chains = ourLinkChains(this.linkNames).filter((c) => set.chains.includes(`${c.table}/${c.chain}`));
    for (const r of set.rules) {
      if (chains.some((c) => c.table === r.table && c.from.includes(r.chain) && isJumpTo(r.rule, c.chain))) changes.push({ op: 'delete', table: r.table, chain: r.chain, rule: r.rule });
    }
    changes.push(...dropChains(chains));
    await filter.apply(changes);
  }
}
