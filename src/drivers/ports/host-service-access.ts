// A container reaching chosen TCP services on the host's loopback through its bridge address, as
// Dobby's AppServices and Thunder plugins arrange it: the container connects to the bridge address
// (e.g. 100.64.11.1:9998); on the host a nat chain of the container's own (jumped to from
// PREROUTING) DNATs exactly that (-s <container> -d <bridge>) to 127.0.0.1:port, and a filter chain
// of its own (from INPUT) accepts it. route_localnet=1 is held on the interface towards the
// container (shared with the port manager's users of it). Optionally, inside the container's
// namespace, its own 127.0.0.1:port is sent to the bridge address too (AppServices).
//
// Nothing is kept only in memory: the chains are named after the container and the jumps carry
// `<tag> container=<id> localnet=<dev>:<previous>`, so any daemon (one restarted after a crash
// included) removes them from the rules alone. The rules inside the container go with its namespace.

import { crypto } from '../../builtins.ts';
import { chainRules, valueAfter } from './rule-text.ts';
import { mustRunIn, runIn, type HostNetns } from './netns-exec.ts';
import { routeLocalnetFor, type RouteLocalnet } from './route-localnet.ts';

type Undo = () => Promise<void>;

/** The container as the networking plugin attached it (nat, IPv4). */
export interface HostServiceContainer {
  readonly id: string;
  readonly netnsPath: string;
  readonly ipv4: string;
  readonly bridgeIpv4: string;
  /** The interface inside the container (route_localnet for its own localhost forwarding). */
  readonly containerInterface: string | null;
}

export interface HostServiceAccessOptions {
  /** Names the rules: `dobby-<tag>`; chains are `DOBBY-<TAG>-<hash of the id>`. Upper-case letters and digits, at most 8. */
  readonly tag: string;
  readonly hostNetns?: HostNetns;
}

const JUMPS = [
  { table: 'nat', chain: 'PREROUTING' },
  { table: 'filter', chain: 'INPUT' },
] as const;

export class HostServiceAccess {
  readonly #netns: HostNetns;
  readonly #tag: string;
  readonly #localnet: RouteLocalnet;
  /** The route_localnet uses this daemon holds, by container. */
  readonly #held = new Map<string, Undo>();

  constructor(options: HostServiceAccessOptions) {
    if (!/^[A-Z0-9]{1,8}$/.test(options.tag)) throw new Error(`host service access tag '${options.tag}' must be 1-8 of A-Z 0-9`);
    this.#netns = options.hostNetns;
    this.#tag = options.tag;
    this.#localnet = routeLocalnetFor(options.hostNetns);
  }

  /** The container's chain (nat and filter): 28 characters at most, as iptables allows. */
  chainOf(id: string): string {
    return `DOBBY-${this.#tag}-${crypto().createHash('sha256').update(id).digest('hex').slice(0, 10)}`;
  }

  #comment(id: string): string {
    return `dobby-${this.#tag.toLowerCase()} container=${id}`;
  }

  #ipt(netns: HostNetns, table: string, args: readonly string[]): Promise<string> {
    return mustRunIn(netns, 'iptables', ['-w', '5', '-t', table, ...args]);
  }

  /** Opens the ports for the container; on any failure undoes what it did and throws. */
  async open(container: HostServiceContainer, ports: readonly number[], localhostInside: boolean): Promise<void> {
    const { id, ipv4: ctr, bridgeIpv4: bridge } = container;
    const chain = this.chainOf(id);
    const undo: Undo[] = [];
    try {
      const used = await this.#localnet.use(ctr);
      this.#held.set(id, used.undo);
      undo.push(async () => {
        this.#held.delete(id);
        await used.undo();
      });
      const comment = ['-m', 'comment', '--comment', `${this.#comment(id)} localnet=${used.dev}:${used.previous}`];
      for (const { table } of JUMPS) {
        await this.#ipt(this.#netns, table, ['-N', chain]);
        undo.push(async () => {
          await this.#ipt(this.#netns, table, ['-F', chain]);
          await this.#ipt(this.#netns, table, ['-X', chain]);
        });
      }
      for (const port of ports) {
        const match = ['-s', `${ctr}/32`, '-p', 'tcp', '-m', 'tcp', '--dport', String(port)];
        await this.#ipt(this.#netns, 'nat', ['-A', chain, ...match.slice(0, 2), '-d', `${bridge}/32`, ...match.slice(2), '-j', 'DNAT', '--to-destination', `127.0.0.1:${port}`]);
        await this.#ipt(this.#netns, 'filter', ['-A', chain, ...match.slice(0, 2), '-d', '127.0.0.1/32', ...match.slice(2), '-j', 'ACCEPT']);
      }
      for (const { table, chain: from } of JUMPS) {
        const jump = [...comment, '-j', chain];
        await this.#ipt(this.#netns, table, ['-I', from, '1', ...jump]);
        undo.push(async () => void (await this.#ipt(this.#netns, table, ['-D', from, ...jump])));
      }
      if (localhostInside) {
        const inside = container.netnsPath;
        for (const port of ports) {
          await this.#ipt(inside, 'nat', ['-A', 'OUTPUT', '-o', 'lo', '-p', 'tcp', '-m', 'tcp', '--dport', String(port), '-j', 'DNAT', '--to-destination', `${bridge}:${port}`]);
        }
        await this.#ipt(inside, 'nat', ['-A', 'POSTROUTING', '-s', '127.0.0.1/32', '-d', `${bridge}/32`, '-p', 'tcp', '-j', 'SNAT', '--to-source', ctr]);
        if (container.containerInterface !== null) {
          await mustRunIn(inside, 'sysctl', ['-q', '-w', `net/ipv4/conf/${container.containerInterface}/route_localnet=1`]);
        }
      }
    } catch (err) {
      for (const u of undo.reverse()) await u().catch(() => undefined);
      throw err;
    }
  }

  /** Removes whatever the rules hold for the container (nothing: a no-op), whichever daemon made them. */
  async close(id: string): Promise<void> {
    const chain = this.chainOf(id);
    let localnet: { dev: string; previous: string } | null = null;
    for (const { table, chain: from } of JUMPS) {
      const save = await runIn(this.#netns, 'iptables-save', ['-t', table]);
      if (save.code !== 0) throw new Error(`iptables-save -t ${table} failed: ${save.stderr}`);
      for (const args of chainRules(save.stdout, from)) {
        const comment = valueAfter(args, '--comment') ?? '';
        if (valueAfter(args, '-j') !== chain || !comment.startsWith(`${this.#comment(id)} `)) continue;
        const m = / localnet=(\S+):(\d+)$/.exec(comment);
        if (m !== null) localnet = { dev: m[1]!, previous: m[2]! };
        await this.#ipt(this.#netns, table, ['-D', from, ...args]);
      }
      if (new RegExp(`^:${chain} `, 'm').test(save.stdout)) {
        await this.#ipt(this.#netns, table, ['-F', chain]);
        await this.#ipt(this.#netns, table, ['-X', chain]);
      }
    }
    const held = this.#held.get(id);
    this.#held.delete(id);
    if (held !== undefined) await held();
    else if (localnet !== null) await this.#localnet.adopt(localnet.dev, localnet.previous)();
  }
}
