// nat networking: one bridge (dobby0-style) shared by the nat containers, a veth pair per container
// moved into its namespace, an address from the allocator, a default route via the bridge and
// masquerade through the external interfaces. The bridge, its rules and the forwarding sysctls come
// with the first container and go with the last one, on every path (a failed start included).

import { stat } from 'node:fs/promises';
import type { AddressAllocator, Lease } from '../../drivers/network/address-allocator.ts';
import { bridgeIpv4, ipv4ToNumber, ipv4ToString, ipv6For, rangeText } from '../../drivers/network/address-allocator.ts';
import type { Family, Firewall, FirewallChange } from '../../drivers/network/firewall.ts';
import type { IpDriver, IpOp, LinkInfo } from '../../drivers/network/ip.ts';
import { HOST, netnsPath, pidTarget } from '../../drivers/network/net-exec.ts';
import type { Sysctl } from '../../drivers/network/sysctl.ts';
import { DobbyError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { Semaphore } from '../../semaphore.ts';
import type { NetworkingData } from './data.ts';
import {
  BRIDGE_TAG, antiSpoofRules, bridgeRules, chainNames, containerRules, containerTag, insertChanges, isJumpTo, jumpRule, ourChains, ruleTag,
  type ChainNames,
} from './rules.ts';

/** What the port manager (and GetInfo) needs to know about a container's network. */
export interface ContainerNetwork {
  readonly id: string;
  readonly type: 'nat' | 'none' | 'open';
  /** The container's init pid when its hooks ran. */
  readonly pid: number;
  /** The container's network namespace (`/proc/<pid>/ns/net`; the host's for `open`). */
  readonly netnsPath: string;
  /** The container's addresses (nat only; null when that family is off). */
  readonly ipv4: string | null;
  readonly ipv6: string | null;
  /** The bridge and its addresses (nat only). */
  readonly bridge: string | null;
  readonly bridgeIpv4: string | null;
  readonly bridgeIpv6: string | null;
  /** The host end of the veth pair and the interface inside (nat only). */
  readonly hostVeth: string | null;
  readonly containerInterface: string | null;
}

export interface NatNetworkOptions {
  readonly bridge: string;
  readonly allocator: AddressAllocator;
  readonly ipv6Prefix: string;
  readonly externalInterfaces: readonly string[];
  readonly chainPrefix: string;
  readonly ip: IpDriver;
  readonly firewall: Firewall;
  readonly sysctl: Sysctl;
  readonly hostNetns: string | null;
  readonly logger: Logger;
  /** false: IPv4 only (the daemon's settings); absent: IPv6 too where the host has it. */
  readonly ipv6?: boolean;
  /** Tells namespaces apart (default: the nsfs inode); fakes give their own. */
  readonly netnsIdentity?: (path: string) => Promise<string>;
}

async function inodeOf(path: string): Promise<string> {
  const s = await stat(path);
  return `${s.dev}:${s.ino}`;
}

const FORWARD_SYSCTLS: Readonly<Record<Family, string>> = { 4: 'net.ipv4.ip_forward', 6: 'net.ipv6.conf.all.forwarding' };
export const CONTAINER_INTERFACE = 'eth0';
const VETH_PREFIX = 'dveth';
const PEER_PREFIX = 'dpeer';

/** Host end, and the other end's name until it is in the container. */
export function vethNames(lease: Lease): { readonly host: string; readonly peer: string } {
  return { host: `${VETH_PREFIX}${lease.index}`, peer: `${PEER_PREFIX}${lease.index}` };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class NatNetwork {
  readonly #o: NatNetworkOptions;
  readonly #names: ChainNames;
  /** Bridge set-up and tear-down against allocations and releases. */
  readonly #bridgeLock = new Semaphore(1);
  /** iptables read-modify-write sequences, one at a time per family (iptables and ip6tables are separate). */
  readonly #fwLocks: Readonly<Record<Family, Semaphore>> = { 4: new Semaphore(1), 6: new Semaphore(1) };
  /** Containers between their allocation and the end of their attach: a sweep must not take them for leftovers. */
  readonly #attaching = new Map<string, Promise<unknown>>();
  readonly #attached = new Map<string, ContainerNetwork & { readonly rules: boolean }>();
  #bridgeReady = false;
  #ipv6: Promise<boolean> | null = null;

  constructor(options: NatNetworkOptions) {
    this.#o = options;
    this.#names = chainNames(options.chainPrefix);
  }

  get chainNames(): ChainNames {
    return this.#names;
  }

  get(id: string): ContainerNetwork | null {
    const rec = this.#attached.get(id);
    if (rec === undefined) return null;
    const { rules: _rules, ...network } = rec;
    return network;
  }

  /** IPv6 is used when the host namespace has it enabled, unless the daemon's settings turn it off. */
  ipv6Supported(): Promise<boolean> {
    if (this.#o.ipv6 === false) return Promise.resolve(false);
    return (this.#ipv6 ??= this.#o.sysctl.get('net.ipv6.conf.all.disable_ipv6').then((v) => v === '0'));
  }

  #range() {
    return this.#o.allocator.range;
  }

  #subnet(family: Family): string {
    const range = this.#range();
    return family === 4 ? rangeText(range) : `${ipv6For(this.#o.ipv6Prefix, range.network)}/${96 + range.prefixLength}`;
  }

  #bridgeAddress(family: Family): string {
    const b = bridgeIpv4(this.#range());
    return family === 4 ? ipv4ToString(b) : ipv6For(this.#o.ipv6Prefix, b);
  }

  async #families(): Promise<Family[]> {
    return (await this.ipv6Supported()) ? [4, 6] : [4];
  }

  /** Refuses a container that shares the host's namespace: nat must never rewire the host itself. */
  async assertOwnNetns(id: string, pid: number, mode = 'nat'): Promise<void> {
    const identity = this.#o.netnsIdentity ?? inodeOf;
    const [mine, host] = await Promise.all([identity(netnsPath(pidTarget(pid), null)), identity(netnsPath(HOST, this.#o.hostNetns))]).catch((err: unknown) => {
      throw new DobbyError('INTERNAL', `cannot read the network namespace of container '${id}' (pid ${pid}): ${errorText(err)}`, { containerId: id, cause: err });
    });
    if (mine === host) {
      throw new DobbyError('INVALID_ARGUMENT', `container '${id}' shares the host's network namespace, so ${mode} networking cannot be set up: give it its own (linux.namespaces needs {"type": "network"}; the spec's network "nat" adds it)`, { containerId: id });
    }
  }

  /** True when the container's init is in the host's namespace (what `open` expects). */
  async sharesHostNetns(pid: number): Promise<boolean> {
    const identity = this.#o.netnsIdentity ?? inodeOf;
    const [mine, host] = await Promise.all([identity(netnsPath(pidTarget(pid), null)), identity(netnsPath(HOST, this.#o.hostNetns))]);
    return mine === host;
  }

  /**
   * `signal` (the hook's time limit) stops the set-up between steps; whatever was done is undone.
   * A detach that comes meanwhile (the hook runner gave up on us) waits for this to settle first.
   */
  attach(id: string, pid: number, data: NetworkingData, logger: Logger, signal?: AbortSignal): Promise<ContainerNetwork> {
    if (this.#attaching.has(id)) {
      return Promise.reject(new DobbyError('ILLEGAL_STATE', `the nat network of container '${id}' is being set up already`, { containerId: id }));
    }
    // Registered before the first await, so no detach can slip in ahead of it.
    const work = (async () => {
      await this.assertOwnNetns(id, pid);
      return this.#attach(id, pid, data, logger, signal);
    })();
    const settled = work.then(() => undefined, () => undefined);
    this.#attaching.set(id, settled);
    void settled.then(() => {
      if (this.#attaching.get(id) === settled) this.#attaching.delete(id);
    });
    return work;
  }

  /** Resolves once a set-up in flight for the container (if any) has finished, either way. */
  async settled(id: string): Promise<void> {
    await this.#attaching.get(id);
  }

  async #attach(id: string, pid: number, data: NetworkingData, logger: Logger, signal?: AbortSignal): Promise<ContainerNetwork> {
    const lease = await this.#bridgeLock.run(async () => {
      if (!this.#bridgeReady) await this.#sweep(logger);
      const { lease: l } = await this.#o.allocator.allocate(id);
      if (!this.#bridgeReady) {
        try {
          await this.#bridgeUp();
        } catch (err) {
          await this.#releaseLocked(id, logger).catch((undoErr: unknown) => logger.error({ err: errorText(undoErr) }, 'undoing the bridge set-up failed too'));
          throw err;
        }
      }
      return l;
    });
    try {
      return await this.#wire(id, pid, lease, data, logger, signal);
    } catch (err) {
      logger.warn({ err: errorText(err) }, 'nat set-up failed; undoing it');
      try {
        await this.#undo(id, logger);
      } catch (undoErr) {
        logger.error({ err: errorText(undoErr) }, 'undoing a failed nat set-up failed too');
      }
      throw err;
    }
  }

  async #wire(id: string, pid: number, lease: Lease, data: NetworkingData, logger: Logger, signal?: AbortSignal): Promise<ContainerNetwork> {
    const { ip, bridge } = this.#o;
    const step = (): void => {
      if (signal?.aborted === true) throw new DobbyError('TIMEOUT', `nat set-up of container '${id}' ran past the hook's time limit`, { containerId: id });
    };
    const v6 = data.ipv6 && (await this.ipv6Supported());
    if (data.ipv6 && !v6) logger.warn('IPv6 was asked for but the host has it disabled or settings network.ipv6 is off; the container gets IPv4 only');
    const v4 = data.ipv4;
    const { host: veth, peer } = vethNames(lease);
    const len = this.#range().prefixLength;
    const address4 = lease.ipv4;
    const address6 = ipv6For(this.#o.ipv6Prefix, ipv4ToNumber(address4) ?? 0);

    const hostOps: IpOp[] = [
      { op: 'addVeth', name: veth, peer },
      { op: 'setMaster', link: veth, master: bridge },
      { op: 'up', link: veth },
      { op: 'moveToNetns', link: peer, pid },
    ];
    step();
    try {
      await ip.apply(HOST, hostOps, id);
    } catch (err) {
      // Names left by a daemon that died mid-way are ours (the lease says so): clear them, try once more.
      const stale = (await ip.links(HOST)).filter((l) => l.name === veth || l.name === peer);
      if (stale.length === 0) throw err;
      logger.warn({ links: stale.map((l) => l.name) }, 'removing veth ends left by an earlier set-up');
      await ip.apply(HOST, [...stale.map((l): IpOp => ({ op: 'deleteLink', name: l.name })), ...hostOps], id);
    }
    const inside: IpOp[] = [{ op: 'rename', link: peer, to: CONTAINER_INTERFACE }];
    if (v4) inside.push({ op: 'addAddress', link: CONTAINER_INTERFACE, cidr: `${address4}/${len}` });
    if (v6) inside.push({ op: 'addAddress', link: CONTAINER_INTERFACE, cidr: `${address6}/${96 + len}` });
    inside.push({ op: 'up', link: CONTAINER_INTERFACE }, { op: 'up', link: 'lo' });
    if (v4) inside.push({ op: 'addDefaultRoute', via: this.#bridgeAddress(4), family: 4 });
    if (v6) inside.push({ op: 'addDefaultRoute', via: this.#bridgeAddress(6), family: 6 });
    step();
    await ip.apply(pidTarget(pid), inside, id);
    step();

    const families: Family[] = [...(v4 ? [4 as const] : []), ...(v6 ? [6 as const] : [])];
    // Recorded before the rules go in, so a failure from here on is undone by detach.
    const network = {
      id, type: 'nat' as const, pid, netnsPath: netnsPath(pidTarget(pid), null),
      ipv4: v4 ? address4 : null, ipv6: v6 ? address6 : null,
      bridge, bridgeIpv4: this.#bridgeAddress(4), bridgeIpv6: (await this.ipv6Supported()) ? this.#bridgeAddress(6) : null,
      hostVeth: veth, containerInterface: CONTAINER_INTERFACE,
    };
    this.#attached.set(id, { ...network, rules: true });
    // Every family the bridge carries gets the anti-spoofing rules (a family the container lacks is
    // dropped whole); the inter-container rules go with the families it has. One batch per family.
    await Promise.all((await this.#families()).map(async (family) => {
      const has = families.includes(family);
      const address = has ? (family === 4 ? address4 : address6) : null;
      // The drops first: a spoofed packet must not reach an ACCEPT below.
      const rules = [
        ...antiSpoofRules({ id, family, bridge, veth, address, names: this.#names }),
        ...(has ? containerRules({
          id, family, bridge, subnet: this.#subnet(family), bridgeAddress: this.#bridgeAddress(family),
          address: address as string, interContainer: data.interContainer, names: this.#names,
        }) : []),
      ];
      const changes = insertChanges(rules);
      await this.#fwLocks[family].run(() => this.#o.firewall.apply(family, changes, id));
    }));
    logger.info({ ipv4: network.ipv4, ipv6: network.ipv6, veth, bridge }, 'nat network attached');
    return network;
  }

  /**
   * Crash recovery, once per bridge bring-up: a lease whose host veth is gone belongs to a container
   * whose namespace died while no daemon watched (the kernel takes the pair with it). Its rules and
   * lease go; leases of containers still running (their veth is there) stay.
   */
  async #sweep(logger: Logger): Promise<void> {
    const leases = await this.#o.allocator.leases();
    if (leases.length === 0) return;
    const links = new Set((await this.#o.ip.links(HOST)).map((l) => l.name));
    const stale = leases.filter((l) => !this.#attaching.has(l.id) && !this.#attached.has(l.id) && !links.has(vethNames(l).host));
    for (const lease of stale) {
      for (const family of await this.#families()) await this.#deleteTagged(family, containerTag(lease.id), lease.id);
      await this.#o.allocator.release(lease.id);
      logger.warn({ containerId: lease.id, ipv4: lease.ipv4 }, 'released the address and rules of a nat container that is gone');
    }
  }

  /**
   * Undoes everything of one container: its rules (found by their comment), its veth, its lease;
   * the bridge too when it was the last. Idempotent: a container with no lease is a no-op.
   * When a step fails the lease is kept (so nothing else gets the address) and the error is thrown.
   */
  async detach(id: string, logger: Logger): Promise<void> {
    await this.#attaching.get(id);
    await this.#undo(id, logger);
  }

  async #undo(id: string, logger: Logger): Promise<void> {
    const rec = this.#attached.get(id);
    const lease = await this.#o.allocator.leaseOf(id);
    if (lease === null) {
      this.#attached.delete(id);
      return;
    }
    const problems: string[] = [];
    // Without a record (a restarted daemon) the rules are looked for; with one, only if it had some.
    if (rec === undefined || rec.rules) {
      for (const family of await this.#families()) {
        try {
          await this.#deleteTagged(family, containerTag(id), id);
        } catch (err) {
          problems.push(errorText(err));
        }
      }
    }
    const { host: veth } = vethNames(lease);
    try {
      await this.#deleteLinks((l) => l.name === veth || l.name === vethNames(lease).peer, id);
    } catch (err) {
      problems.push(errorText(err));
    }
    if (problems.length > 0) {
      throw new DobbyError('INTERNAL', `could not undo the nat network of container '${id}': ${problems.join('; ')}`, { containerId: id });
    }
    this.#attached.delete(id);
    await this.#bridgeLock.run(() => this.#releaseLocked(id, logger));
    logger.info({ ipv4: lease.ipv4, veth }, 'nat network detached');
  }

  /**
   * The last lease goes only once the bridge is down: a bridge-down that fails keeps it, so the
   * container's next teardown hook finds the lease and tries again (without it nothing would).
   */
  async #releaseLocked(id: string, logger: Logger): Promise<void> {
    const leases = await this.#o.allocator.leases();
    if (leases.every((l) => l.id === id)) await this.#bridgeDown(logger);
    await this.#o.allocator.release(id);
  }

  async #deleteTagged(family: Family, tag: string, id?: string): Promise<void> {
    await this.#fwLocks[family].run(async () => {
      const set = await this.#o.firewall.list(family);
      const mine = new Set(ourChains(this.#names).map((c) => `${c.table}/${c.chain}`));
      const changes: FirewallChange[] = set.rules
        .filter((r) => mine.has(`${r.table}/${r.chain}`) && ruleTag(r.rule) === tag)
        .map((r) => ({ op: 'delete', table: r.table, chain: r.chain, rule: r.rule }));
      await this.#o.firewall.apply(family, changes, id);
    });
  }

  /** Deletes host links that match; one that vanished meanwhile (its namespace died) is fine. */
  async #deleteLinks(match: (l: LinkInfo) => boolean, id?: string): Promise<void> {
    const doomed = (await this.#o.ip.links(HOST)).filter(match);
    for (const link of doomed) {
      try {
        await this.#o.ip.apply(HOST, [{ op: 'deleteLink', name: link.name }], id);
      } catch (err) {
        if ((await this.#o.ip.links(HOST)).some((l) => l.name === link.name)) throw err;
      }
    }
  }

  /** Makes the bridge, its addresses, the forwarding sysctls and the firewall chains be as they should. */
  async #bridgeUp(): Promise<void> {
    const { ip, bridge, sysctl, allocator, logger } = this.#o;
    const families = await this.#families();
    try {
      const restore: Record<string, string> = { ...(await allocator.restoreValues()) };
      const keys = families.map((f) => FORWARD_SYSCTLS[f]);
      const current = await Promise.all(keys.map((k) => sysctl.get(k)));
      const off = keys.filter((_, i) => current[i] !== '1');
      let changed = false;
      off.forEach((key) => {
        const value = current[keys.indexOf(key)];
        if (value !== null && value !== undefined && !Object.hasOwn(restore, key)) {
          restore[key] = value;
          changed = true;
        }
      });
      // Recorded before the change, so a crash in between still leaves a way back.
      if (changed) await allocator.setRestoreValues(restore);
      await Promise.all(off.map((key) => sysctl.set(key, '1')));

      const existing = (await ip.links(HOST)).find((l) => l.name === bridge);
      if (existing !== undefined && existing.kind !== 'bridge') {
        throw new DobbyError('HOST_UNSUITABLE', `the host has an interface '${bridge}' that is not a bridge (kind ${existing.kind ?? 'none'}); rename it or choose another bridge name for nat networking`);
      }
      const has = (address: string): boolean => existing?.addresses.some((a) => a.address === address) ?? false;
      const ops: IpOp[] = [];
      if (existing === undefined) ops.push({ op: 'addBridge', name: bridge });
      const len = this.#range().prefixLength;
      if (!has(this.#bridgeAddress(4))) ops.push({ op: 'addAddress', link: bridge, cidr: `${this.#bridgeAddress(4)}/${len}` });
      if (families.includes(6) && !has(this.#bridgeAddress(6))) ops.push({ op: 'addAddress', link: bridge, cidr: `${this.#bridgeAddress(6)}/${96 + len}` });
      if (existing?.up !== true) ops.push({ op: 'up', link: bridge });
      await ip.apply(HOST, ops);

      await Promise.all(families.map((family) => this.#fwLocks[family].run(() => this.#firewallUp(family))));
      this.#bridgeReady = true;
      logger.info({ bridge, range: rangeText(this.#range()), ipv6: families.includes(6), externalInterfaces: this.#o.externalInterfaces }, 'nat bridge up');
    } catch (err) {
      // The caller releases the lease, which takes the bridge down again unless others hold one.
      logger.warn({ err: errorText(err) }, 'nat bridge set-up failed');
      throw err;
    }
  }

  async #firewallUp(family: Family): Promise<void> {
    const { firewall } = this.#o;
    const set = await firewall.list(family);
    const changes: FirewallChange[] = [];
    const chains = ourChains(this.#names);
    for (const c of chains) if (!set.chains.includes(`${c.table}/${c.chain}`)) changes.push({ op: 'newChain', table: c.table, chain: c.chain });
    // The bridge's rules are rewritten whole (a restarted daemon may have other settings); the
    // containers' rules, at the top of the chains, stay.
    const mine = new Set(chains.map((c) => `${c.table}/${c.chain}`));
    for (const r of set.rules) {
      if (mine.has(`${r.table}/${r.chain}`) && ruleTag(r.rule) === BRIDGE_TAG) changes.push({ op: 'delete', table: r.table, chain: r.chain, rule: r.rule });
    }
    for (const r of bridgeRules({ family, bridge: this.#o.bridge, subnet: this.#subnet(family), externalInterfaces: this.#o.externalInterfaces, names: this.#names })) {
      changes.push({ op: 'append', table: r.table, chain: r.chain, rule: r.rule });
    }
    for (const c of chains) {
      if (!set.rules.some((r) => r.table === c.table && r.chain === c.from && isJumpTo(r.rule, c.chain))) {
        changes.push({ op: 'insert', table: c.table, chain: c.from, rule: jumpRule(c.chain) });
      }
    }
    await firewall.apply(family, changes);
  }

  /** Removes the jumps, our chains, the bridge and its leftover ports, and puts the sysctls back. */
  async #bridgeDown(logger: Logger): Promise<void> {
    const { ip, bridge, sysctl, allocator } = this.#o;
    this.#bridgeReady = false;
    const problems: string[] = [];
    await Promise.all((await this.#families()).map(async (family) => {
      try {
        await this.#fwLocks[family].run(() => this.#firewallDown(family));
      } catch (err) {
        problems.push(errorText(err));
      }
    }));
    try {
      const links = await ip.links(HOST);
      const ports = links.filter((l) => l.master === bridge && l.kind === 'veth' && l.name.startsWith(VETH_PREFIX)).map((l) => l.name);
      await this.#deleteLinks((l) => ports.includes(l.name) || (l.name === bridge && l.kind === 'bridge'));
    } catch (err) {
      problems.push(errorText(err));
    }
    try {
      const restore = await allocator.restoreValues();
      for (const [key, value] of Object.entries(restore)) await sysctl.set(key, value);
      if (Object.keys(restore).length > 0) await allocator.setRestoreValues({});
    } catch (err) {
      problems.push(errorText(err));
    }
    if (problems.length > 0) throw new DobbyError('INTERNAL', `could not take the nat bridge '${bridge}' down: ${problems.join('; ')}`);
    logger.info({ bridge }, 'nat bridge down (no nat container left)');
  }

  async #firewallDown(family: Family): Promise<void> {
    const { firewall } = this.#o;
    const set = await firewall.list(family);
    const changes: FirewallChange[] = [];
    const chains = ourChains(this.#names);
    for (const c of chains) {
      for (const r of set.rules) {
        if (r.table === c.table && r.chain === c.from && isJumpTo(r.rule, c.chain)) changes.push({ op: 'delete', table: r.table, chain: r.chain, rule: r.rule });
      }
    }
    for (const c of chains) {
      if (!set.chains.includes(`${c.table}/${c.chain}`)) continue;
      changes.push({ op: 'flush', table: c.table, chain: c.chain }, { op: 'deleteChain', table: c.table, chain: c.chain });
    }
    await firewall.apply(family, changes);
  }
}
