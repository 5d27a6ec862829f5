// multicastForwarding for nat containers: the groups a container names are routed by smcroute from
// the external interfaces onto the bridge, and let through by rules of ours (multicast-rules.ts).
//
// The container's smcroute block goes in first and out last, so "it has a block" is what tells a
// teardown (or crash recovery, with no record of the container) that there is anything to undo.
// Our two chains come with the first container that forwards a family's groups and go with the
// last one; every read-modify-write of them is serialised per family.

import type { Family, Firewall, FirewallChange, FirewallRuleset, Table } from '../../drivers/network/firewall.ts';
import type { MulticastRouter } from '../../drivers/network/smcroute.ts';
import type { Logger } from '../../log.ts';
import { Semaphore } from '../../semaphore.ts';
import type { MulticastEntry } from './data.ts';
import { groupFamily, multicastChain, multicastChains, multicastJumps, multicastRules, smcrouteLines } from './multicast-rules.ts';
import { chainNames, containerTag, insertChanges, isJumpTo, ruleTag } from './rules.ts';

export interface MulticastForwardingOptions {
  readonly bridge: string;
  readonly externalInterfaces: readonly string[];
  readonly chainPrefix: string;
  readonly firewall: Firewall;
  readonly router: MulticastRouter;
  /** The families the bridge carries (where chains of ours may be). */
  readonly families: () => Promise<Family[]>;
}

const MULTICAST_TABLES: readonly Table[] = ['filter', 'mangle'];

export class MulticastForwarding {
  readonly #o: MulticastForwardingOptions;
  readonly #chain: string;
  /** Jumps to this chain in FORWARD must come before it (its last rule refuses what goes to the bridge). */
  readonly #bridgeForward: string;
  readonly #locks: Readonly<Record<Family, Semaphore>> = { 4: new Semaphore(1), 6: new Semaphore(1) };

  constructor(options: MulticastForwardingOptions) {
    this.#o = options;
    this.#chain = multicastChain(options.chainPrefix);
    this.#bridgeForward = chainNames(options.chainPrefix).forward;
  }

  /** Sets up the container's groups of the families it has an address of (others are skipped, said so). */
  async attach(id: string, entries: readonly MulticastEntry[], families: readonly Family[], logger: Logger): Promise<void> {
    const usable = entries.filter((e) => families.includes(groupFamily(e.ip)));
    const skipped = entries.filter((e) => !usable.includes(e));
    if (skipped.length > 0) {
      logger.warn({ groups: skipped.map((e) => `${e.ip}:${e.port}`) }, 'multicastForwarding: the container has no address of these groups\' family (IPv6 off in its data, the settings or the host), so they are not forwarded to it');
    }
    if (usable.length === 0) return;
    const { router, bridge } = this.#o;
    await router.check(id);
    for (const family of new Set(usable.map((e) => groupFamily(e.ip)))) {
      if (router.kernelRoutes(family)) continue;
      const option = family === 4 ? 'CONFIG_IP_MROUTE' : 'CONFIG_IPV6_MROUTE';
      logger.warn(`multicastForwarding: this kernel does not route IPv${family} multicast (${option} is not set), so smcroute takes the routes but no datagram from the external interfaces reaches the container; multicast sent on the bridge itself still does`);
    }
    await router.setBlock(id, smcrouteLines(usable, this.#o.externalInterfaces, bridge));
    for (const family of [4, 6] as const) {
      const mine = usable.filter((e) => groupFamily(e.ip) === family);
      if (mine.length === 0) continue;
      await this.#locks[family].run(async () => {
        const set = await this.#o.firewall.list(family, MULTICAST_TABLES);
        const rules = multicastRules({ id, family, bridge, chain: this.#chain, entries: mine });
        await this.#o.firewall.apply(family, [...this.#chainsUp(family, set), ...insertChanges(rules)], id);
      });
    }
    logger.info({ groups: usable.map((e) => `${e.ip}:${e.port}`) }, 'multicast forwarding set up');
  }

  /** Undoes the container's forwarding, whatever of it there is; a no-op for a container without any. */
  async detach(id: string, logger: Logger): Promise<void> {
    if (!(await this.#o.router.hasBlock(id))) return;
    for (const family of await this.#o.families()) {
      await this.#locks[family].run(async () => {
        const set = await this.#o.firewall.list(family, MULTICAST_TABLES);
        await this.#o.firewall.apply(family, this.#removals(id, set), id);
      });
    }
    await this.#o.router.removeBlock(id, logger);
    logger.info('multicast forwarding removed');
  }

  /** Our chains and their jumps where missing; a FORWARD jump behind the bridge's is moved ahead of it. */
  #chainsUp(family: Family, set: FirewallRuleset): FirewallChange[] {
    const changes: FirewallChange[] = [];
    for (const c of multicastChains(this.#chain)) {
      if (!set.chains.includes(`${c.table}/${c.chain}`)) changes.push({ op: 'newChain', table: c.table, chain: c.chain });
    }
    for (const jump of multicastJumps(family, this.#o.bridge, this.#chain)) {
      const from = set.rules.filter((r) => r.table === jump.table && r.chain === jump.chain);
      const at = from.findIndex((r) => isJumpTo(r.rule, this.#chain));
      const bridgeAt = from.findIndex((r) => isJumpTo(r.rule, this.#bridgeForward));
      if (at >= 0 && (bridgeAt < 0 || at < bridgeAt)) continue;
      if (at >= 0) changes.push({ op: 'delete', table: jump.table, chain: jump.chain, rule: from[at]?.rule ?? jump.rule });
      changes.push({ op: 'insert', table: jump.table, chain: jump.chain, rule: jump.rule });
    }
    return changes;
  }

  /** The container's rules; with them the last ones, our chains and their jumps. */
  #removals(id: string, set: FirewallRuleset): FirewallChange[] {
    const chains = multicastChains(this.#chain).filter((c) => set.chains.includes(`${c.table}/${c.chain}`));
    const inChains = set.rules.filter((r) => chains.some((c) => c.table === r.table && c.chain === r.chain));
    const changes: FirewallChange[] = inChains
      .filter((r) => ruleTag(r.rule) === containerTag(id))
      .map((r) => ({ op: 'delete', table: r.table, chain: r.chain, rule: r.rule }));
    if (changes.length < inChains.length) return changes;
    for (const c of chains) {
      for (const r of set.rules) {
        if (r.table === c.table && r.chain === c.from && isJumpTo(r.rule, c.chain)) changes.push({ op: 'delete', table: r.table, chain: r.chain, rule: r.rule });
      }
    }
    for (const c of chains) changes.push({ op: 'deleteChain', table: c.table, chain: c.chain });
    return changes;
  }
}
