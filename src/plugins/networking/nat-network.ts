// nat networking, per container: a veth pair moved into its namespace (its end with a MAC of ours),
// an address from the allocator, a default route via the bridge, its source checks (iptables and
// ebtables), inter-container rules (with localhostMasquerade, rules inside its namespace too) and
// dnsmasq's DNAT to the host's resolver. The bridge itself (nat-bridge.ts) comes with the first
// container and goes with the last one, on every path (a failed start included).

import { stat } from 'node:fs/promises';
import type { Lease } from '../../drivers/network/address-allocator.ts';
import { ipv4ToNumber, ipv6For } from '../../drivers/network/address-allocator.ts';
import type { Family, FirewallChange } from '../../drivers/network/firewall.ts';
import type { IpOp } from '../../drivers/network/ip.ts';
import { HOST, netnsPath, pidTarget } from '../../drivers/network/net-exec.ts';
import type { MulticastRouter } from '../../drivers/network/smcroute.ts';
import { DobbyError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { Semaphore } from '../../semaphore.ts';
import { StartAbort } from '../types.ts';
import type { NetworkingData } from './data.ts';
import { containerMac, portRules } from './link-rules.ts';
import { MulticastForwarding } from './multicast.ts';
import { BRIDGE_NF_SYSCTLS, NatBridge, VETH_PREFIX, deleteLinks, errorText, type NatBridgeOptions } from './nat-bridge.ts';
import { applyLocalhostMasquerade, localhostMasqueradeChanges, type InsideDrivers } from './localhost-masquerade.ts';
import { antiSpoofRules, containerRules, containerTag, dnsRules, insertChanges, type ChainNames } from './rules.ts';

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

export interface NatNetworkOptions extends NatBridgeOptions {
  readonly hostNetns: string | null;
  /** smcroute, for multicastForwarding. */
  readonly multicastRouter: MulticastRouter;
  /** Tells namespaces apart (default: the nsfs inode); fakes give their own. */
  readonly netnsIdentity?: (path: string) => Promise<string>;
  /** The firewall and sysctls inside a container (interContainer localhostMasquerade); null: none to be had. */
  readonly inside?: ((pid: number) => InsideDrivers) | null;
}

async function inodeOf(path: string): Promise<string> {
  const s = await stat(path);
  return `${s.dev}:${s.ino}`;
}

/** A container's firewall rules as its set-up put them in, and whether its host links were made. */
interface Installed {
  /** `applied`: the batch went in (a failed one put nothing in: restores are all or nothing). */
  readonly ip: ReadonlyArray<{ readonly family: Family; readonly changes: readonly FirewallChange[]; applied: boolean }>;
  readonly link: { readonly changes: readonly FirewallChange[]; applied: boolean };
  /** The host batch went through: the peer is in the container's namespace, only the veth can be left. */
  hostLinks: boolean;
}

/** What `prepare` did: the container's address and families, and the rules it put in. */
interface Prepared {
  readonly data: NetworkingData;
  readonly lease: Lease;
  readonly v4: boolean;
  readonly v6: boolean;
  readonly address4: string;
  readonly address6: string;
  readonly installed: Installed;
}

/** `signal` (the hook's time limit) stops the set-up between steps. */
function stepCheck(id: string, signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new DobbyError('TIMEOUT', `nat set-up of container '${id}' ran past the hook's time limit`, { containerId: id });
}

/** Waits for every step to settle (none is left running behind an undo), then throws the first failure. */
async function settleAll(steps: readonly Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(steps)).find((r) => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}

export const CONTAINER_INTERFACE = 'eth0';
const PEER_PREFIX = 'dpeer';

/** Host end, and the other end's name until it is in the container. */
export function vethNames(lease: Lease): { readonly host: string; readonly peer: string } {
  return { host: `${VETH_PREFIX}${lease.index}`, peer: `${PEER_PREFIX}${lease.index}` };
}

export class NatNetwork {
  readonly #o: NatNetworkOptions;
  readonly #bridge: NatBridge;
  readonly #multicast: MulticastForwarding;
  /** Bridge set-up and tear-down against allocations and releases. */
  readonly #bridgeLock = new Semaphore(1);
  /** Containers between their allocation and the end of their attach: a sweep must not take them for leftovers. */
  readonly #attaching = new Map<string, Promise<unknown>>();
  readonly #attached = new Map<string, ContainerNetwork>();
  /** What each container's set-up put in (or was about to), for a teardown without listing the tables. */
  readonly #installed = new Map<string, Installed>();
  /** Set-ups `prepare` started, for `attach` to finish. */
  readonly #prepared = new Map<string, Promise<Prepared>>();

  constructor(options: NatNetworkOptions) {
    this.#o = options;
    this.#bridge = new NatBridge(options);
    this.#multicast = new MulticastForwarding({ ...options, router: options.multicastRouter, families: () => this.#bridge.families() });
  }

  get chainNames(): ChainNames {
    return this.#bridge.names;
  }

  get(id: string): ContainerNetwork | null {
    return this.#attached.get(id) ?? null;
  }

  /** IPv6 is used when the host namespace has it enabled, unless the daemon's settings turn it off. */
  ipv6Supported(): Promise<boolean> {
    return this.#bridge.ipv6Supported();
  }

  /** Refuses a container that shares the host's namespace: nat must never rewire the host itself, nor a container run unisolated. */
  async assertOwnNetns(id: string, pid: number, mode = 'nat'): Promise<void> {
    const identity = this.#o.netnsIdentity ?? inodeOf;
    const [mine, host] = await Promise.all([identity(netnsPath(pidTarget(pid), null)), identity(netnsPath(HOST, this.#o.hostNetns))]).catch((err: unknown) => {
      throw new DobbyError('INTERNAL', `cannot read the network namespace of container '${id}' (pid ${pid}): ${errorText(err)}`, { containerId: id, cause: err });
    });
    if (mine === host) {
      // Never isolation that quietly is none: this fails the start whether the plugin is required or not.
      throw new StartAbort(`container '${id}' shares the host's network namespace, so ${mode} networking cannot be set up: its config joins the host's network namespace (linux.namespaces has {"type": "network"} with a path); drop the path so that it gets one of its own`, id);
    }
  }

  /** True when the container's init is in the host's namespace (what `open` expects). */
  async sharesHostNetns(pid: number): Promise<boolean> {
    const identity = this.#o.netnsIdentity ?? inodeOf;
    const [mine, host] = await Promise.all([identity(netnsPath(pidTarget(pid), null)), identity(netnsPath(HOST, this.#o.hostNetns))]);
    return mine === host;
  }

  /**
   * Starts what a container's nat set-up needs no process for (its address, the bridge, its rules),
   * while the runtime creates it; `attach` finishes it. A failure undoes itself and is the attach's.
   */
  prepare(id: string, data: NetworkingData, logger: Logger): void {
    if (this.#attaching.has(id)) return;
    const work = this.#prepare(id, data, logger);
    this.#prepared.set(id, work);
    this.#track(id, work);
    // Nobody may ever ask (the start can fail before preStart): the undo is preDestruction's.
    work.catch(() => undefined);
  }

  /**
   * `signal` (the hook's time limit) stops the set-up between steps; whatever was done is undone.
   * A detach that comes meanwhile (the hook runner gave up on us) waits for this to settle first.
   */
  attach(id: string, pid: number, data: NetworkingData, logger: Logger, signal?: AbortSignal): Promise<ContainerNetwork> {
    const early = this.#prepared.get(id);
    this.#prepared.delete(id);
    if (early === undefined && this.#attaching.has(id)) {
      return Promise.reject(new DobbyError('ILLEGAL_STATE', `the nat network of container '${id}' is being set up already`, { containerId: id }));
    }
    const work = (async () => {
      if (early === undefined) await this.assertOwnNetns(id, pid);
      const prepared = await (early ?? this.#prepare(id, data, logger, signal));
      try {
        if (early !== undefined) await this.assertOwnNetns(id, pid);
        return await this.#wire(id, pid, prepared, logger, signal);
      } catch (err) {
        await this.#undoFailed(id, err, logger);
        throw err;
      }
    })();
    this.#track(id, work);
    return work;
  }

  /** Registered before the first await, so no detach can slip in ahead of the work. */
  #track(id: string, work: Promise<unknown>): void {
    const settled = work.then(() => undefined, () => undefined);
    this.#attaching.set(id, settled);
    void settled.then(() => {
      if (this.#attaching.get(id) === settled) this.#attaching.delete(id);
    });
  }

  /** Resolves once a set-up in flight for the container (if any) has finished, either way. */
  async settled(id: string): Promise<void> {
    await this.#attaching.get(id);
  }

  async #undoFailed(id: string, err: unknown, logger: Logger): Promise<void> {
    logger.warn({ err: errorText(err) }, 'nat set-up failed; undoing it');
    try {
      await this.#undo(id, logger);
    } catch (undoErr) {
      logger.error({ err: errorText(undoErr) }, 'undoing a failed nat set-up failed too');
    }
  }

  /** The address, the bridge (with the first container) and the container's rules. */
  async #prepare(id: string, data: NetworkingData, logger: Logger, signal?: AbortSignal): Promise<Prepared> {
    if (data.interContainer.length > 0 && !(await this.#bridge.brNetfilterLoaded())) {
      throw new DobbyError('HOST_UNSUITABLE', `container '${id}' has interContainer rules, but the kernel module br_netfilter is not loaded, so traffic between containers on the bridge would never meet them: load it (modprobe br_netfilter, and add it to /etc/modules-load.d) and make sure ${BRIDGE_NF_SYSCTLS[4]} and ${BRIDGE_NF_SYSCTLS[6]} can be set`, { containerId: id });
    }
    const lease = await this.#bridgeLock.run(async () => {
      if (!this.#bridge.ready) await this.#sweep(logger);
      const { lease: l } = await this.#o.allocator.allocate(id);
      if (!this.#bridge.ready) {
        try {
          await this.#bridge.up();
          await this.#routeLocalnetOnBridge(logger);
        } catch (err) {
          await this.#releaseLocked(id, logger).catch((undoErr: unknown) => logger.error({ err: errorText(undoErr) }, 'undoing the bridge set-up failed too'));
          throw err;
        }
      }
      return l;
    });
    try {
      return await this.#install(id, lease, data, logger, signal);
    } catch (err) {
      await this.#undoFailed(id, err, logger);
      throw err;
    }
  }

  /** The container's iptables and ebtables rules (they name its port, which need not exist yet). */
  async #install(id: string, lease: Lease, data: NetworkingData, logger: Logger, signal?: AbortSignal): Promise<Prepared> {
    const { bridge } = this.#o;
    const v6 = data.ipv6 && (await this.ipv6Supported());
    if (data.ipv6 && !v6) logger.warn('IPv6 was asked for but the host has it disabled or settings network.ipv6 is off; the container gets IPv4 only');
    const v4 = data.ipv4;
    const { host: veth } = vethNames(lease);
    const address4 = lease.ipv4;
    const address6 = ipv6For(this.#o.ipv6Prefix, ipv4ToNumber(address4) ?? 0);
    const families: Family[] = [...(v4 ? [4 as const] : []), ...(v6 ? [6 as const] : [])];
    const names = this.#bridge.names;
    // Every family the bridge carries gets the source checks (a family the container lacks is
    // dropped whole); the inter-container rules go with the families it has. One batch per family.
    const ipRules = (await this.#bridge.families()).map((family) => {
      const has = families.includes(family);
      const address = has ? (family === 4 ? address4 : address6) : null;
      return {
        family, applied: false,
        changes: insertChanges([
          ...antiSpoofRules({ id, family, veth, address, names }),
          ...(has && family === 4 && data.dnsmasq ? dnsRules({ id, bridge, bridgeAddress: this.#bridge.address(4), address: address4, veth, names }) : []),
          ...(has ? containerRules({
            id, family, bridge, subnet: this.#bridge.subnet(family), bridgeAddress: this.#bridge.address(family),
            address: address as string, interContainer: data.interContainer, names,
          }) : []),
        ]),
      };
    });
    const linkRules = portRules({ veth, mac: containerMac(address4), ipv4: v4 ? address4 : null, ipv6: v6 ? address6 : null, broadcast4: this.#bridge.broadcast4(), names: this.#bridge.linkNames })
      .map((r): FirewallChange => ({ op: 'append', table: r.table, chain: r.chain, rule: r.rule }));
    // Recorded before anything goes in, so a failure from here on is undone by detach, exactly.
    const installed: Installed = { ip: ipRules, link: { changes: linkRules, applied: false }, hostLinks: false };
    this.#installed.set(id, installed);
    stepCheck(id, signal);
    // Each tool's batch side by side.
    await settleAll([
      ...ipRules.map(async (r) => {
        await this.#bridge.applyRules(r.family, r.changes, id);
        r.applied = true;
      }),
      (async () => {
        await this.#bridge.applyLinkRules(linkRules, id);
        installed.link.applied = true;
      })(),
    ]);
    return { data, lease, v4, v6, address4, address6, installed };
  }

  /** The veth pair, the container's end inside with its address and route: the port's checks are in place already. */
  async #wire(id: string, pid: number, prepared: Prepared, logger: Logger, signal?: AbortSignal): Promise<ContainerNetwork> {
    const { ip, bridge } = this.#o;
    const { data, lease, v4, v6, address4, address6, installed } = prepared;
    const { host: veth, peer } = vethNames(lease);
    const len = this.#o.allocator.range.prefixLength;
    const mac = containerMac(address4);
    const network = {
      id, type: 'nat' as const, pid, netnsPath: netnsPath(pidTarget(pid), null),
      ipv4: v4 ? address4 : null, ipv6: v6 ? address6 : null,
      bridge, bridgeIpv4: this.#bridge.address(4), bridgeIpv6: (await this.ipv6Supported()) ? this.#bridge.address(6) : null,
      hostVeth: veth, containerInterface: CONTAINER_INTERFACE,
    };

    const hostOps: IpOp[] = [
      { op: 'addVeth', name: veth, peer, peerMac: mac, peerPid: pid },
      { op: 'setMaster', link: veth, master: bridge },
      { op: 'up', link: veth },
    ];
    const inside: IpOp[] = [{ op: 'rename', link: peer, to: CONTAINER_INTERFACE }];
    if (v4) inside.push({ op: 'addAddress', link: CONTAINER_INTERFACE, cidr: `${address4}/${len}` });
    if (v6) inside.push({ op: 'addAddress', link: CONTAINER_INTERFACE, cidr: `${address6}/${96 + len}` });
    inside.push({ op: 'up', link: CONTAINER_INTERFACE }, { op: 'up', link: 'lo' });
    if (v4) inside.push({ op: 'addDefaultRoute', via: this.#bridge.address(4), family: 4 });
    if (v6) inside.push({ op: 'addDefaultRoute', via: this.#bridge.address(6), family: 6 });

    stepCheck(id, signal);
    try {
      await ip.apply(HOST, hostOps, id);
    } catch (err) {
      // Names left by a daemon that died mid-way are ours (the lease says so): clear them, try once more.
      const stale = (await ip.links(HOST)).filter((l) => l.name === veth || l.name === peer);
      if (stale.length === 0) throw err;
      logger.warn({ links: stale.map((l) => l.name) }, 'removing veth ends left by an earlier set-up');
      await ip.apply(HOST, [...stale.map((l): IpOp => ({ op: 'deleteLink', name: l.name })), ...hostOps], id);
    }
    installed.hostLinks = true;
    stepCheck(id, signal);
    await ip.apply(pidTarget(pid), inside, id);
    await this.#localhostMasquerade(id, pid, network.ipv4, data, logger);
    await this.#multicast.attach(id, data.multicastForwarding, [...(v4 ? [4 as const] : []), ...(v6 ? [6 as const] : [])], logger);
    stepCheck(id, signal);
    this.#attached.set(id, network);
    logger.info({ ipv4: network.ipv4, ipv6: network.ipv6, veth, bridge, dnsmasq: data.dnsmasq && v4 }, 'nat network attached');
    return network;
  }

  /**
   * As Dobby, the bridge takes DNATs to the host's 127.0.0.1 (dnsmasq, containerToHost): it goes with
   * the bridge, and the bridge's rules let nothing else reach loopback. A failure is only logged (as
   * Dobby): what needs it then gets no answer.
   */
  async #routeLocalnetOnBridge(logger: Logger): Promise<void> {
    const key = `net.ipv4.conf.${this.#o.bridge}.route_localnet`;
    try {
      await this.#o.sysctl.set(key, '1');
    } catch (err) {
      logger.warn({ err: errorText(err) }, `could not set ${key}: nat containers cannot reach the host's 127.0.0.1 (dnsmasq, containerToHost)`);
    }
  }

  async #localhostMasquerade(id: string, pid: number, address: string | null, data: NetworkingData, logger: Logger): Promise<void> {
    if (!data.interContainer.some((e) => e.localhostMasquerade)) return;
    if (address === null) {
      logger.warn('networking.data.interContainer localhostMasquerade is IPv4 only (as in Dobby) and this container has no IPv4: ignored');
      return;
    }
    const changes = localhostMasqueradeChanges({ subnet: this.#bridge.subnet(4), address, bridgeAddress: this.#bridge.address(4), interContainer: data.interContainer });
    const inside = this.#o.inside;
    if (inside === undefined || inside === null) {
      throw new DobbyError('INTERNAL', `container '${id}': interContainer localhostMasquerade needs the firewall inside the container, which this networking plugin was not given`, { containerId: id });
    }
    await applyLocalhostMasquerade(inside(pid), changes, CONTAINER_INTERFACE, id);
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
      for (const family of await this.#bridge.families()) await this.#bridge.deleteTagged(family, containerTag(lease.id), lease.id);
      await this.#bridge.deletePortRules(vethNames(lease).host, lease.id);
      await this.#multicast.detach(lease.id, logger);
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
    // A start that failed before preStart never took what postConstruction began.
    this.#prepared.delete(id);
    await this.#undo(id, logger);
  }

  async #undo(id: string, logger: Logger): Promise<void> {
    const lease = await this.#o.allocator.leaseOf(id);
    if (lease === null) {
      this.#attached.delete(id);
      this.#installed.delete(id);
      return;
    }
    const { ip } = this.#o;
    const problems: string[] = [];
    const { host: veth, peer } = vethNames(lease);
    const attempt = async (work: () => Promise<void>): Promise<void> => {
      try {
        await work();
      } catch (err) {
        problems.push(errorText(err));
      }
    };
    const installed = this.#installed.get(id);
    if (installed !== undefined) {
      // What this daemon put in is taken out as it went in: one batch per table family, side by side.
      await Promise.all([
        ...installed.ip.filter((r) => r.applied).map((r) => attempt(() => this.#bridge.deleteRules(r.family, r.changes, id))),
        ...(installed.link.applied ? [attempt(() => this.#bridge.deleteLinkRules(installed.link.changes, id))] : []),
        // Once the peer is in the container (and died with it) at most the host end is left.
        attempt(() => (installed.hostLinks ? ip.apply(HOST, [{ op: 'deleteLink', name: veth, ifExists: true }], id) : deleteLinks(ip, (l) => l.name === veth || l.name === peer, id))),
      ]);
    } else {
      // A restarted daemon (or an earlier try that failed) has no record: the rules are looked for.
      for (const family of await this.#bridge.families()) await attempt(() => this.#bridge.deleteTagged(family, containerTag(id), id));
      await attempt(() => this.#bridge.deletePortRules(veth, id));
      await attempt(() => deleteLinks(ip, (l) => l.name === veth || l.name === peer, id));
    }
    // Its own record (smcroute's config block): a no-op for a container without multicast groups.
    await attempt(() => this.#multicast.detach(id, logger));
    if (problems.length > 0) {
      // Some of it may be gone and some not (or a batch never went in): the next try looks for it all.
      this.#installed.delete(id);
      throw new DobbyError('INTERNAL', `could not undo the nat network of container '${id}': ${problems.join('; ')}`, { containerId: id });
    }
    this.#attached.delete(id);
    this.#installed.delete(id);
    await this.#bridgeLock.run(() => this.#releaseLocked(id, logger));
    logger.info({ ipv4: lease.ipv4, veth }, 'nat network detached');
  }

  /**
   * The last lease goes only once the bridge is down: a bridge-down that fails keeps it, so the
   * container's next teardown hook finds the lease and tries again (without it nothing would).
   */
  async #releaseLocked(id: string, logger: Logger): Promise<void> {
    const leases = await this.#o.allocator.leases();
    if (leases.every((l) => l.id === id)) await this.#bridge.down(logger);
    await this.#o.allocator.release(id);
  }
}
