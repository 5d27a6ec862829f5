// Dobby's portForwarding.containerToHost and localhostMasquerade: a container reaching services on the host's 127.0.0.1.
//
// containerToHost (as Dobby does it): the container connects to the bridge address (e.g.
// 100.64.11.1:N); on the host, nat chain DOBBY-PORTS-C2H (from PREROUTING) DNATs exactly that
// (-s <container> -d <bridge>) to 127.0.0.1:N, and filter chain DOBBY-PORTS-C2H-IN (from INPUT)
// accepts it, so a host whose INPUT policy is DROP lets it in. DNAT to 127.0.0.1 from an interface
// needs route_localnet=1 there: it is set on the interface towards the container and restored with
// the last rule. IPv4 only: the kernel never DNATs to ::1.
// localhostMasquerade: inside the container's own namespace, 127.0.0.1:N is forwarded to the bridge
// address (a nat port driver run in that namespace), so the container can use localhost too.
// Every rule carries `dobby-port c2h container=<id>`; a container's set is all or nothing.

import { closeSync, openSync } from 'node:fs';
import type { DriverLogger } from '../process.ts';
import { NatPortDriver } from './nat-driver.ts';
import { mustRunIn, runIn, type HostNetns } from './netns-exec.ts';
import type { ActivePort, StepHook } from './port-driver.ts';
import { chainRules, valueAfter } from './rule-text.ts';
import { PortError } from '../../ports/port-errors.ts';
import { routeLocalnetFor, type RouteLocalnet } from './route-localnet.ts';

export const C2H_CHAINS = { dnat: 'DOBBY-PORTS-C2H', input: 'DOBBY-PORTS-C2H-IN' } as const;
const JUMP_COMMENT = 'dobby-ports c2h';

export interface ContainerToHostEntry {
  readonly port: number;
  readonly protocol: 'tcp' | 'udp';
}

/** The container's side as the networking plugin set it up. */
export interface BridgedContainer {
  readonly id: string;
  readonly netnsPath: string;
  readonly ipv4: string | null;
  readonly bridgeIpv4: string | null;
}

export interface ContainerToHostOptions {
  readonly hostNetns?: HostNetns;
  readonly logger?: DriverLogger;
  readonly beforeStep?: StepHook;
}

type Undo = () => Promise<void>;

const JUMPS = [
  { table: 'nat', chain: 'PREROUTING', target: C2H_CHAINS.dnat },
  { table: 'filter', chain: 'INPUT', target: C2H_CHAINS.input },
] as const;

export class ContainerToHost {
  readonly #netns: HostNetns;
  readonly #logger: DriverLogger | undefined;
  readonly #beforeStep: StepHook | undefined;
  readonly #containers = new Map<string, Undo[]>();
  readonly #localnet: RouteLocalnet;
  #users = 0;
  #purged = false;
  #nextId = 1;

  constructor(options: ContainerToHostOptions = {}) {
    this.#netns = options.hostNetns;
    this.#localnet = routeLocalnetFor(options.hostNetns);
    this.#logger = options.logger;
    this.#beforeStep = options.beforeStep;
  }

  #ipt(table: string, args: readonly string[]): Promise<string> {
    return mustRunIn(this.#netns, 'iptables', ['-w', '5', '-t', table, ...args]);
  }

  async #iptOk(table: string, args: readonly string[]): Promise<boolean> {
    return (await runIn(this.#netns, 'iptables', ['-w', '5', '-t', table, ...args])).code === 0;
  }

  async #removeBase(): Promise<void> {
    for (const j of JUMPS) {
      while (await this.#iptOk(j.table, ['-D', j.chain, '-m', 'comment', '--comment', JUMP_COMMENT, '-j', j.target])) {
        // as often as it is there
      }
      if (await this.#iptOk(j.table, ['-F', j.target])) await this.#iptOk(j.table, ['-X', j.target]);
    }
  }

  async #useBase(): Promise<Undo> {
    if (!this.#purged) {
      this.#purged = true;
      await this.#removeBase();
    }
    if (this.#users === 0) {
      try {
        for (const j of JUMPS) {
          if (!(await this.#iptOk(j.table, ['-N', j.target]))) await this.#ipt(j.table, ['-F', j.target]);
          await this.#ipt(j.table, ['-A', j.chain, '-m', 'comment', '--comment', JUMP_COMMENT, '-j', j.target]);
        }
      } catch (err) {
        await this.#removeBase().catch(() => undefined);
        throw err;
      }
    }
    this.#users++;
    return async () => {
      this.#users--;
      if (this.#users === 0) await this.#removeBase();
    };
  }



  /** Sets up the container's entries; on any failure undoes what it did and throws a PortError. */
  async add(container: BridgedContainer, entries: readonly ContainerToHostEntry[], localhostMasquerade: boolean): Promise<void> {
    if (entries.length === 0) return;
    const { id } = container;
    if (this.#containers.has(id)) throw new PortError('driver-failed', `container ${id} already has its containerToHost ports`, { containerId: id });
    if (container.ipv4 === null || container.bridgeIpv4 === null) {
      throw new PortError('unsupported', `container ${id}: containerToHost needs nat networking with IPv4 (the container and bridge addresses); it has ${container.ipv4 ?? 'no address'}`, { containerId: id });
    }
    const ctr = container.ipv4;
    const bridge = container.bridgeIpv4;
    const undo: Undo[] = [];
    let comment: string[] = [];
    const step = async (name: string, fn: () => Promise<Undo | void>): Promise<void> => {
      await this.#beforeStep?.(name, { id: 0, driver: 'nat', spec: { proto: 'tcp4', parentIP: bridge, parentPort: entries[0]!.port, childIP: '127.0.0.1', childPort: entries[0]!.port, containerId: id } });
      const u = await fn();
      if (u !== undefined) undo.push(u);
    };
    try {
      await step('c2h-base', () => this.#useBase());
      await step('c2h-route-localnet', async () => {
        const used = await this.#localnet.use(ctr);
        // The interface's own value rides along, for a daemon that rebuilds from the rules.
        comment = ['-m', 'comment', '--comment', `dobby-port c2h container=${id} localnet=${used.dev}:${used.previous}`];
        return used.undo;
      });
      for (const e of entries) {
        const match = ['-s', ctr, '-p', e.protocol, '-m', e.protocol, '--dport', String(e.port), ...comment];
        const dnat = [...match.slice(0, 2), '-d', bridge, ...match.slice(2), '-j', 'DNAT', '--to-destination', `127.0.0.1:${e.port}`];
        await step('c2h-dnat', async () => {
          await this.#ipt('nat', ['-A', C2H_CHAINS.dnat, ...dnat]);
          return async () => void (await this.#ipt('nat', ['-D', C2H_CHAINS.dnat, ...dnat]));
        });
        const accept = [...match.slice(0, 2), '-d', '127.0.0.1', ...match.slice(2), '-j', 'ACCEPT'];
        await step('c2h-accept', async () => {
          await this.#ipt('filter', ['-A', C2H_CHAINS.input, ...accept]);
          return async () => void (await this.#ipt('filter', ['-D', C2H_CHAINS.input, ...accept]));
        });
      }
      if (localhostMasquerade) {
        // Held open so that the rules are undone in this namespace, even after the container's pid
        // is gone (and maybe reused by a process in another namespace): the fd names the namespace.
        const fd = openSync(container.netnsPath, 'r');
        undo.push(async () => closeSync(fd));
        const pinned = `/proc/${process.pid}/fd/${fd}`;
        const driver = new NatPortDriver({ hostNetns: pinned, ...(this.#logger === undefined ? {} : { logger: this.#logger }) });
        undo.push(() => driver.close());
        for (const e of entries) {
          const port: ActivePort = { id: this.#nextId++, driver: 'nat', spec: { proto: `${e.protocol}4`, parentIP: '127.0.0.1', parentPort: e.port, childIP: '', childPort: e.port, containerId: id } };
          await step('c2h-masquerade', () => driver.add(port, { containerId: id, netnsPath: pinned, ipv4: bridge, ipv6: null }));
        }
      }
      this.#containers.set(id, undo);
      this.#logger?.debug({ containerId: id, ports: entries.map((e) => `${e.protocol}/${e.port}`), localhostMasquerade }, 'containerToHost ports added');
    } catch (err) {
      for (const u of undo.reverse()) await u().catch((e: unknown) => this.#logger?.warn({ err: e, containerId: id }, 'could not undo a containerToHost step'));
      if (err instanceof PortError) throw new PortError(err.reason, `container ${id} containerToHost: ${err.message}`, { containerId: id, cause: err });
      throw new PortError('driver-failed', `container ${id} containerToHost: ${err instanceof Error ? err.message : String(err)}; nothing was left applied`, { containerId: id, cause: err });
    }
  }

  /** Removes a container's entries (the rules inside its namespace go with the namespace if it is gone). */
  async remove(containerId: string): Promise<void> {
    const undo = this.#containers.get(containerId);
    if (undo === undefined) return;
    this.#containers.delete(containerId);
    for (const u of undo.reverse()) await u().catch((err: unknown) => this.#logger?.debug({ err, containerId }, 'containerToHost undo failed (namespace gone?)'));
  }

  /**
   * Takes over the host-side rules an earlier daemon left for containers still here and removes the
   * others'. (The rules inside a container's namespace go with that namespace.)
   */
  async recover(isLive: (containerId: string) => boolean): Promise<void> {
    this.#purged = true;
    const save = await runIn(this.#netns, 'iptables-save', []);
    if (save.code !== 0) return;
    const byContainer = new Map<string, { undo: Undo[]; localnet: { dev: string; previous: string } | null }>();
    for (const j of JUMPS) {
      const section = save.stdout.split(/^\*/m).find((t) => t.startsWith(`${j.table}\n`)) ?? '';
      for (const args of chainRules(section, j.target)) {
        const m = /^dobby-port c2h container=(\S+)(?: localnet=(\S+):(\d+))?$/.exec(valueAfter(args, '--comment') ?? '');
        if (m === null) continue;
        const entry = byContainer.get(m[1]!) ?? { undo: [], localnet: null };
        byContainer.set(m[1]!, entry);
        entry.undo.push(async () => void (await this.#ipt(j.table, ['-D', j.target, ...args])));
        if (m[2] !== undefined) entry.localnet = { dev: m[2], previous: m[3]! };
      }
    }
    for (const [id, entry] of byContainer) {
      if (!isLive(id)) {
        for (const u of entry.undo) await u().catch(() => undefined);
        continue;
      }
      this.#users++;
      const undo: Undo[] = [async () => {
        this.#users--;
        if (this.#users === 0) await this.#removeBase();
      }];
      if (entry.localnet !== null) {
        undo.push(this.#localnet.adopt(entry.localnet.dev, entry.localnet.previous));
      }
      undo.push(...entry.undo);
      this.#containers.set(id, undo);
    }
    if (this.#users === 0) await this.#removeBase();
  }

  /** Forgets everything, leaving the rules for the next daemon. */
  async detach(): Promise<void> {
    this.#containers.clear();
    this.#localnet.forget();
    this.#users = 0;
  }

  async close(): Promise<void> {
    for (const id of [...this.#containers.keys()]) await this.remove(id);
  }
}
