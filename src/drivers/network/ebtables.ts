// The bridge's link-layer filter through ebtables (the filter and nat tables of the bridge family): batches
// applied atomically with `ebtables-restore --noflush`, the live rules read back with `ebtables-save`.
//
// Debian's `ebtables` is ebtables-nft; ebtables-legacy takes the same text. Rules carry no comments
// (ebtables has none): ours are told apart by chain (our own) and by the port they name.

import { applyRestore, parseSave, type FirewallChange, type FirewallRuleset } from './firewall.ts';
import { FakeFirewall } from './fake-firewall.ts';
import { HOST, type NetExec } from './net-exec.ts';

/** The bridge family's tables: filter (INPUT, FORWARD, OUTPUT) and nat (PREROUTING, OUTPUT, POSTROUTING). */
export interface LinkFilter {
  list(): Promise<FirewallRuleset>;
  apply(changes: readonly FirewallChange[], containerId?: string): Promise<void>;
}

export class Ebtables implements LinkFilter {
  readonly #exec: NetExec;
  readonly #binary: string;

  constructor(exec: NetExec, options: { readonly binary?: string } = {}) {
    this.#exec = exec;
    this.#binary = options.binary ?? 'ebtables';
  }

  async list(): Promise<FirewallRuleset> {
    return parseSave((await this.#exec.run(HOST, [`${this.#binary}-save`])).stdout);
  }

  /**
   * Our chains get the policy RETURN: what none of their rules matched goes on to the host's own
   * rules. (ebtables-nft keeps a user chain's ACCEPT policy as a rule at the chain's end, which every
   * append deletes and adds back; an iptables transaction in between made that fail now and then
   * with "RULE_DELETE failed".)
   */
  async apply(changes: readonly FirewallChange[], containerId?: string): Promise<void> {
    const withPolicies = changes.flatMap((c): FirewallChange[] => (c.op === 'newChain' ? [c, { op: 'policy', table: c.table, chain: c.chain, target: 'RETURN' }] : [c]));
    await applyRestore(this.#exec, [`${this.#binary}-restore`, '--noflush'], withPolicies, containerId);
  }
}

/** An in-memory ebtables for property tests: the fake iptables' filter and nat tables (their built-in chains cover ebtables'). */
export class FakeLinkFilter implements LinkFilter {
  readonly tables = new FakeFirewall();

  list(): Promise<FirewallRuleset> {
    return this.tables.list(4);
  }

  apply(changes: readonly FirewallChange[], containerId?: string): Promise<void> {
    return this.tables.apply(4, changes, containerId);
  }
}
