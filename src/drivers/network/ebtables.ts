// The bridge's link-layer filter through ebtables (the filter table of the bridge family): batches
// applied atomically with `ebtables-restore --noflush`, the live rules read back with `ebtables-save`.
//
// Debian's `ebtables` is ebtables-nft; ebtables-legacy takes the same text. Rules carry no comments
// (ebtables has none): ours are told apart by chain (our own) and by the port they name.

import { DobbyError } from '../../errors.ts';
import { applyRestore, parseSave, type FirewallChange, type FirewallRuleset } from './firewall.ts';
import { FakeFirewall } from './fake-firewall.ts';
import { HOST, type NetExec } from './net-exec.ts';

/** The bridge family's filter table: built-in chains INPUT, FORWARD and OUTPUT. Changes use table 'filter'. */
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

  async apply(changes: readonly FirewallChange[], containerId?: string): Promise<void> {
    if (changes.some((c) => c.table !== 'filter')) throw new DobbyError('INTERNAL', 'the link-layer filter has only a filter table');
    await applyRestore(this.#exec, [`${this.#binary}-restore`, '--noflush'], changes, containerId);
  }
}

/** An in-memory ebtables for property tests: the fake iptables' filter table, whose built-in chains are the same. */
export class FakeLinkFilter implements LinkFilter {
  readonly tables = new FakeFirewall();

  async list(): Promise<FirewallRuleset> {
    const set = await this.tables.list(4);
    return { chains: set.chains.filter((c) => c.startsWith('filter/')), rules: set.rules.filter((r) => r.table === 'filter') };
  }

  apply(changes: readonly FirewallChange[], containerId?: string): Promise<void> {
    return this.tables.apply(4, changes, containerId);
  }
}
