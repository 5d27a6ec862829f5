// The firewall through iptables/ip6tables: whole batches applied atomically with `iptables-restore
// --noflush` (never a flush of anything but our own chains), the live rules read back with `iptables-save`.
//
// On this Debian 12 host `iptables` is the nf_tables variant (iptables-nft 1.8.9); `iptables-legacy`
// works too. The binary is an option: use the one the rest of the host uses, or rules end up in a
// table nobody else looks at.

import { DobbyError } from '../../errors.ts';
import type { NetExec } from './net-exec.ts';
import { HOST } from './net-exec.ts';

export type Family = 4 | 6;
export type Table = 'filter' | 'nat' | 'mangle';
/** The tables read by default: mangle (multicast forwarding's TTL rules) only when asked for. */
export const TABLES: readonly Table[] = ['filter', 'nat'];
export const ALL_TABLES: readonly Table[] = ['filter', 'nat', 'mangle'];

export const BUILTIN_CHAINS: Readonly<Record<Table, readonly string[]>> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
};

/** One change; a list is applied all or nothing. A rule is the iptables arguments after `-A CHAIN`. */
export type FirewallChange =
  | { readonly op: 'newChain'; readonly table: Table; readonly chain: string }
  | { readonly op: 'append'; readonly table: Table; readonly chain: string; readonly rule: readonly string[] }
  /** Inserts at the top of the chain (position 1). */
  | { readonly op: 'insert'; readonly table: Table; readonly chain: string; readonly rule: readonly string[] }
  | { readonly op: 'delete'; readonly table: Table; readonly chain: string; readonly rule: readonly string[] }
  | { readonly op: 'flush'; readonly table: Table; readonly chain: string }
  /** A chain's policy (ebtables takes one for user-defined chains too). */
  | { readonly op: 'policy'; readonly table: Table; readonly chain: string; readonly target: string }
  | { readonly op: 'deleteChain'; readonly table: Table; readonly chain: string };

export interface FirewallRule {
  readonly table: Table;
  readonly chain: string;
  readonly rule: readonly string[];
}

export interface FirewallRuleset {
  /** Every chain of the tables read (filter and nat unless asked), built-in and user-defined, as `table/chain`. */
  readonly chains: readonly string[];
  /** Every rule, in chain order, as iptables-save prints it (so it can be deleted as given). */
  readonly rules: readonly FirewallRule[];
}

export interface Firewall {
  /** The rules of `tables` (default filter and nat). */
  list(family: Family, tables?: readonly Table[]): Promise<FirewallRuleset>;
  apply(family: Family, changes: readonly FirewallChange[], containerId?: string): Promise<void>;
  /** All the tables as iptables-save text without comments and counters: for leak checks. */
  save(family: Family): Promise<string>;
}

/** Splits an iptables-save rule line the way iptables-restore does: whitespace, double quotes, backslashes. */
export function tokenize(line: string): string[] {
  const out: string[] = [];
  let current = '';
  let inToken = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === '\\' && i + 1 < line.length) {
      current += line[++i];
      inToken = true;
    } else if (c === '"') {
      quoted = !quoted;
      inToken = true;
    } else if (!quoted && (c === ' ' || c === '\t')) {
      if (inToken) out.push(current);
      current = '';
      inToken = false;
    } else {
      current += c;
      inToken = true;
    }
  }
  if (inToken) out.push(current);
  return out;
}

/** The inverse of tokenize for one argument. */
export function quoteArg(arg: string): string {
  if (arg !== '' && /^[A-Za-z0-9_.:/,=+!@%-]+$/.test(arg)) return arg;
  return `"${arg.replace(/["\\]/g, (m) => `\\${m}`)}"`;
}

/** The iptables-restore text for a batch (one COMMIT per table touched). */
export function restoreText(changes: readonly FirewallChange[]): string {
  const byTable = new Map<Table, string[]>();
  for (const c of changes) {
    const lines = byTable.get(c.table) ?? [];
    byTable.set(c.table, lines);
    switch (c.op) {
      case 'newChain': lines.push(`-N ${c.chain}`); break;
      case 'append': lines.push(`-A ${c.chain} ${c.rule.map(quoteArg).join(' ')}`); break;
      case 'insert': lines.push(`-I ${c.chain} 1 ${c.rule.map(quoteArg).join(' ')}`); break;
      case 'delete': lines.push(`-D ${c.chain} ${c.rule.map(quoteArg).join(' ')}`); break;
      case 'flush': lines.push(`-F ${c.chain}`); break;
      case 'policy': lines.push(`-P ${c.chain} ${c.target}`); break;
      case 'deleteChain': lines.push(`-X ${c.chain}`); break;
    }
  }
  return [...byTable].map(([table, lines]) => `*${table}\n${lines.join('\n')}\nCOMMIT\n`).join('');
}

/** Reads iptables-save output: the chains and rules of `tables` (default filter and nat). */
export function parseSave(text: string, tables: readonly Table[] = TABLES): FirewallRuleset {
  const chains: string[] = [];
  const rules: FirewallRule[] = [];
  let table: Table | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      const name = line.slice(1);
      table = tables.find((t) => t === name) ?? null;
    } else if (table === null || line === '' || line.startsWith('#') || line === 'COMMIT') {
      continue;
    } else if (line.startsWith(':')) {
      chains.push(`${table}/${line.slice(1).split(' ')[0]}`);
    } else if (line.startsWith('-A ')) {
      const [, chain = '', ...rule] = tokenize(line);
      rules.push({ table, chain, rule });
    }
  }
  return { chains, rules };
}

/** The ruleset as stable text: for before/after comparisons. */
export function renderRuleset(set: FirewallRuleset): string {
  const lines: string[] = [];
  // filter and nat always (so earlier snapshots compare equal), mangle when it was read.
  for (const table of ALL_TABLES.filter((t) => TABLES.includes(t) || set.chains.some((c) => c.startsWith(`${t}/`)))) {
    lines.push(`*${table}`);
    for (const chain of set.chains.filter((c) => c.startsWith(`${table}/`)).sort()) lines.push(`:${chain.slice(table.length + 1)}`);
    for (const r of set.rules.filter((x) => x.table === table)) lines.push(`-A ${r.chain} ${r.rule.map(quoteArg).join(' ')}`);
  }
  return lines.join('\n') + '\n';
}

/** Feeds a batch to an `*-restore --noflush` tool in the host; its error shows the batch. */
export async function applyRestore(exec: NetExec, argv: readonly string[], changes: readonly FirewallChange[], containerId?: string): Promise<void> {
  if (changes.length === 0) return;
  const input = restoreText(changes);
  try {
    await exec.run(HOST, argv, { input, ...(containerId === undefined ? {} : { containerId }) });
  } catch (err) {
    if (err instanceof DobbyError) {
      throw new DobbyError(err.code, `${err.message}\n${input}`, { containerId, verb: err.verb, exitStatus: err.exitStatus, stderr: err.stderr, cause: err });
    }
    throw err;
  }
}

export interface IptablesOptions {
  /** `iptables` (the host's alternative), `iptables-nft` or `iptables-legacy`; ip6tables follows. */
  readonly binary?: string;
}

export class Iptables implements Firewall {
  readonly #exec: NetExec;
  readonly #v4: string;
  readonly #v6: string;

  constructor(exec: NetExec, options: IptablesOptions = {}) {
    this.#exec = exec;
    this.#v4 = options.binary ?? 'iptables';
    this.#v6 = this.#v4.replace(/^iptables/, 'ip6tables');
  }

  #tool(family: Family, suffix: '-save' | '-restore'): string {
    const base = family === 4 ? this.#v4 : this.#v6;
    // iptables-nft → iptables-nft-save; iptables → iptables-save.
    return `${base}${suffix}`;
  }

  async list(family: Family, tables: readonly Table[] = TABLES): Promise<FirewallRuleset> {
    const saved = await Promise.all(tables.map((t) => this.#exec.run(HOST, [this.#tool(family, '-save'), '-t', t])));
    return parseSave(saved.map((r) => r.stdout).join('\n'), tables);
  }

  apply(family: Family, changes: readonly FirewallChange[], containerId?: string): Promise<void> {
    return applyRestore(this.#exec, [this.#tool(family, '-restore'), '--noflush', '-w'], changes, containerId);
  }

  async save(family: Family): Promise<string> {
    return renderRuleset(await this.list(family, ALL_TABLES));
  }
}
