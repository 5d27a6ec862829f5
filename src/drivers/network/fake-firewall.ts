// An in-memory iptables for property tests: chains and rules per family and table, batches applied
// all or nothing with the checks the kernel makes (existing chain, missing rule, chain still in use).

import { DobbyError } from '../../errors.ts';
import {
  ALL_TABLES, BUILTIN_CHAINS, TABLES, renderRuleset,
  type Family, type Firewall, type FirewallChange, type FirewallRule, type FirewallRuleset, type Table,
} from './firewall.ts';

type Tables = Map<string, string[][]>; // `table/chain` → rules

function fresh(): Tables {
  const t: Tables = new Map();
  for (const table of ALL_TABLES) for (const chain of BUILTIN_CHAINS[table]) t.set(`${table}/${chain}`, []);
  return t;
}

function clone(t: Tables): Tables {
  return new Map([...t].map(([k, rules]) => [k, rules.map((r) => [...r])]));
}

const same = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

export class FakeFirewall implements Firewall {
  readonly #families = new Map<Family, Tables>([[4, fresh()], [6, fresh()]]);
  applyCount = 0;
  /** Return true to make that batch fail (nothing of it applied, as iptables-restore does). */
  failWhen: ((family: Family, changes: readonly FirewallChange[], count: number) => boolean) | null = null;

  /** Rules someone else put there: ours must never move or remove them. */
  seed(family: Family, table: Table, chain: string, rule: readonly string[]): void {
    const t = this.#families.get(family) as Tables;
    const rules = t.get(`${table}/${chain}`) ?? [];
    t.set(`${table}/${chain}`, rules);
    rules.push([...rule]);
  }

  async list(family: Family, tables: readonly Table[] = TABLES): Promise<FirewallRuleset> {
    const t = this.#families.get(family) as Tables;
    const rules: FirewallRule[] = [];
    const chains: string[] = [];
    for (const [k, rs] of t) {
      const [table, chain] = k.split('/') as [Table, string];
      if (!tables.includes(table)) continue;
      chains.push(k);
      for (const rule of rs) rules.push({ table, chain, rule: [...rule] });
    }
    return { chains, rules };
  }

  async apply(family: Family, changes: readonly FirewallChange[], containerId?: string): Promise<void> {
    this.applyCount++;
    const fail = (why: string): never => {
      throw new DobbyError('INTERNAL', `'ip${family === 6 ? '6' : ''}tables-restore --noflush -w' failed: ${why}`, { containerId, verb: 'iptables-restore', exitStatus: 1 });
    };
    if (this.failWhen?.(family, changes, this.applyCount) === true) fail('injected fault');
    const t = clone(this.#families.get(family) as Tables);
    const isUserChain = (table: Table, name: string): boolean => !BUILTIN_CHAINS[table].includes(name) && t.has(`${table}/${name}`);
    for (const c of changes) {
      const k = `${c.table}/${c.chain}`;
      const rules = t.get(k);
      if (c.op === 'newChain') {
        if (rules !== undefined) fail(`Chain already exists: ${c.chain}`);
        t.set(k, []);
        continue;
      }
      if (rules === undefined) fail(`Couldn't load target/chain '${c.chain}' (no chain by that name in ${c.table})`);
      const list = rules as string[][];
      if (c.op === 'append' || c.op === 'insert') {
        const jump = c.rule[c.rule.indexOf('-j') + 1];
        if (c.rule.includes('-j') && jump !== undefined && /^[A-Z0-9-]+$/.test(jump) && jump.startsWith('DOBBY') && !isUserChain(c.table, jump)) {
          fail(`Couldn't load target '${jump}'`);
        }
        if (c.op === 'append') list.push([...c.rule]);
        else list.unshift([...c.rule]);
      } else if (c.op === 'delete') {
        const i = list.findIndex((r) => same(r, c.rule));
        if (i < 0) fail(`Bad rule (does a matching rule exist in that chain?): -D ${c.chain} ${c.rule.join(' ')}`);
        list.splice(i, 1);
      } else if (c.op === 'flush') {
        list.length = 0;
      } else if (c.op === 'policy') {
        // Policies are not modelled: the chain's existence is all that is checked.
      } else {
        if (BUILTIN_CHAINS[c.table].includes(c.chain)) fail(`Cannot delete built-in chain ${c.chain}`);
        if (list.length > 0) fail(`Directory not empty: chain ${c.chain} still has rules`);
        for (const [other, rs] of t) {
          if (other.startsWith(`${c.table}/`) && rs.some((r) => r[r.indexOf('-j') + 1] === c.chain)) fail(`Too many links: ${c.chain} is still jumped to`);
        }
        t.delete(k);
      }
    }
    this.#families.set(family, t);
  }

  async save(family: Family): Promise<string> {
    return renderRuleset(await this.list(family, ALL_TABLES));
  }
}
