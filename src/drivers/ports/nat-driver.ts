// The nat port driver: kernel DNAT through iptables/ip6tables, in chains of our own, keeping the client's source address.
//
// Layout (per family, iptables for IPv4 and ip6tables for IPv6, nft or legacy backend alike):
//   nat    DOBBY-PORTS-DNAT  ← PREROUTING and OUTPUT jump here for local destinations (one rule each);
//                              one DNAT rule per port: [-d parentIP] -p P --dport N → childIP:childPort
//   nat    DOBBY-PORTS-SNAT  ← POSTROUTING; IPv4 only: MASQUERADE for connections the host makes from
//                              127.0.0.0/8, which the container could not answer otherwise
//   filter DOBBY-PORTS-FWD   ← FORWARD; ACCEPT for the DNATed connections, so a host whose FORWARD
//                              policy is DROP still forwards them
// Every rule carries the comment `dobby-port id=N container=ID` (jumps: `dobby-ports`). The jumps are
// added with the first port of a family and removed with its last; other rules are never touched.
//
// Connections from the host's own 127.0.0.1 (decision): the kernel drops packets with a loopback
// source leaving through a real interface unless that interface has route_localnet=1. For a port
// whose parentIP covers 127.0.0.1 (empty, 0.0.0.0 or 127.x) the driver sets route_localnet=1 on
// the interface that routes to the container (only that one), masquerades 127.0.0.0/8 to it, and
// restores the interface's previous value when the last such port goes. IPv6 has no equivalent:
// the kernel never routes ::1 off the host, so [::1] is left alone here (the OUTPUT jump excludes
// it) and the builtin driver serves it.

import type { DriverLogger } from '../process.ts';
import { isLocalIn, mustRunIn, runIn, ToolError, type HostNetns } from './netns-exec.ts';
import type { ActivePort, PortDriver, PortTarget, StepHook } from './port-driver.ts';
import { notTheContainers, PortError } from '../../ports/port-errors.ts';
import { routeLocalnetFor, type RouteLocalnet } from './route-localnet.ts';
import { canonicalIp, familiesOf, normalise, transportOf, type Family, type PortProto } from '../../ports/port-spec.ts';
import { chainRules, parseDnat, portTag, type RecoveredDnat } from './rule-text.ts';
import { listeningOn } from './listeners.ts';

export const NAT_CHAINS = { dnat: 'DOBBY-PORTS-DNAT', snat: 'DOBBY-PORTS-SNAT', forward: 'DOBBY-PORTS-FWD' } as const;
const JUMP_COMMENT = 'dobby-ports';

export interface NatDriverOptions {
  /** Treat this named network namespace as the host (tests). */
  readonly hostNetns?: HostNetns;
  readonly logger?: DriverLogger;
  /** Fault injection for tests. */
  readonly beforeStep?: StepHook;
}

type Undo = () => Promise<void>;

interface Jump {
  readonly table: 'nat' | 'filter';
  readonly chain: string;
  readonly match: readonly string[];
  readonly target: string;
}

function jumpsOf(family: Family): Jump[] {
  const notLoopback6 = family === 6 ? ['!', '-d', '::1/128'] : [];
  const jumps: Jump[] = [
    { table: 'nat', chain: 'PREROUTING', match: ['-m', 'addrtype', '--dst-type', 'LOCAL'], target: NAT_CHAINS.dnat },
    { table: 'nat', chain: 'OUTPUT', match: [...notLoopback6, '-m', 'addrtype', '--dst-type', 'LOCAL'], target: NAT_CHAINS.dnat },
    { table: 'filter', chain: 'FORWARD', match: [], target: NAT_CHAINS.forward },
  ];
  if (family === 4) jumps.push({ table: 'nat', chain: 'POSTROUTING', match: [], target: NAT_CHAINS.snat });
  return jumps;
}

const chainsOf = (family: Family): readonly ['nat' | 'filter', string][] =>
  family === 4 ? [['nat', NAT_CHAINS.dnat], ['nat', NAT_CHAINS.snat], ['filter', NAT_CHAINS.forward]] : [['nat', NAT_CHAINS.dnat], ['filter', NAT_CHAINS.forward]];

function jumpArgs(j: Jump): string[] {
  return [...j.match, '-m', 'comment', '--comment', JUMP_COMMENT, '-j', j.target];
}

export function portComment(port: ActivePort): string {
  return `dobby-port id=${port.id} container=${port.spec.containerId}`;
}

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.');
}

export class NatPortDriver implements PortDriver {
  readonly name = 'nat' as const;
  readonly #netns: HostNetns;
  readonly #logger: DriverLogger | undefined;
  readonly #beforeStep: StepHook | undefined;
  readonly #ports = new Map<number, Undo[]>();
  readonly #familyUsers = new Map<Family, number>();
  readonly #localnet: RouteLocalnet;
  #purged = false;

  constructor(options: NatDriverOptions = {}) {
    this.#netns = options.hostNetns;
    this.#localnet = routeLocalnetFor(options.hostNetns);
    this.#logger = options.logger;
    this.#beforeStep = options.beforeStep;
  }

  #tool(family: Family): string {
    return family === 4 ? 'iptables' : 'ip6tables';
  }

  #ipt(family: Family, table: 'nat' | 'filter', args: readonly string[]): Promise<string> {
    return mustRunIn(this.#netns, this.#tool(family), ['-w', '5', '-t', table, ...args]);
  }

  async #iptOk(family: Family, table: 'nat' | 'filter', args: readonly string[]): Promise<boolean> {
    return (await runIn(this.#netns, this.#tool(family), ['-w', '5', '-t', table, ...args])).code === 0;
  }

  /**
   * Rules an earlier daemon left (it crashed, or was killed): ids restart at 1, so its rules could
   * pass for ours. Only our own chains and our own jumps are removed.
   */
  async #purgeOnce(): Promise<void> {
    if (this.#purged) return;
    this.#purged = true;
    for (const family of [4, 6] as const) await this.#removeBase(family);
  }

  async #removeBase(family: Family): Promise<void> {
    for (const j of jumpsOf(family)) {
      while (await this.#iptOk(family, j.table, ['-D', j.chain, ...jumpArgs(j)])) {
        // a jump added twice (by a crashed run, say) is removed as often as it is there
      }
    }
    for (const [table, chain] of chainsOf(family)) {
      if (await this.#iptOk(family, table, ['-F', chain])) await this.#iptOk(family, table, ['-X', chain]);
    }
  }

  async #addBase(family: Family): Promise<void> {
    for (const [table, chain] of chainsOf(family)) {
      if (!(await this.#iptOk(family, table, ['-N', chain]))) await this.#ipt(family, table, ['-F', chain]);
    }
    for (const j of jumpsOf(family)) await this.#ipt(family, j.table, ['-A', j.chain, ...jumpArgs(j)]);
  }

  async #useFamily(family: Family): Promise<Undo> {
    const users = this.#familyUsers.get(family) ?? 0;
    if (users === 0) {
      try {
        await this.#addBase(family);
      } catch (err) {
        await this.#removeBase(family).catch(() => undefined);
        throw err;
      }
    }
    this.#familyUsers.set(family, users + 1);
    return async () => {
      const left = (this.#familyUsers.get(family) ?? 1) - 1;
      this.#familyUsers.set(family, left);
      if (left === 0) await this.#removeBase(family);
    };
  }



  /** The child address per family this port forwards to; families the container lacks are left out. */
  #destinations(port: ActivePort, target: PortTarget): Map<Family, string> {
    const { spec } = port;
    const out = new Map<Family, string>();
    const families = new Set(normalise(spec).binds.map((b) => b.family));
    const child = spec.childIP === '' ? null : canonicalIp(spec.childIP);
    if (child !== null && isLoopback(child.address)) {
      throw new PortError('unsupported', `childIP ${child.address} is the container's loopback, which kernel DNAT cannot reach: use the builtin driver for it, or the container's own address`, { containerId: spec.containerId });
    }
    for (const family of families) {
      const address = child !== null ? (child.family === family ? child.address : null) : family === 4 ? target.ipv4 : target.ipv6;
      if (address !== null) out.set(family, address);
    }
    if (spec.parentIP === '::1') {
      throw new PortError('unsupported', `parentIP ::1: the kernel does not DNAT connections from the host's IPv6 loopback; use the builtin driver for [::1]`, { containerId: spec.containerId });
    }
    if (out.size === 0) {
      const wanted = [...families].map((f) => `IPv${f}`).join(' or ');
      throw new PortError('unsupported', `container ${spec.containerId} has no ${wanted} address for ${spec.proto} port ${spec.parentPort} (network mode none or open?): the nat driver forwards to the container's address; give a childIP, or use the builtin driver`, { containerId: spec.containerId });
    }
    return out;
  }

  async add(port: ActivePort, target: PortTarget): Promise<void> {
    const { spec } = port;
    if (this.#ports.has(port.id)) throw new PortError('driver-failed', `port id ${port.id} is already forwarded by this nat driver (one driver per port manager)`);
    const undo: Undo[] = [];
    const step = async (name: string, run: () => Promise<Undo | void>): Promise<void> => {
      await this.#beforeStep?.(name, port);
      const u = await run();
      if (u !== undefined) undo.push(u);
    };
    try {
      const destinations = this.#destinations(port, target);
      if (spec.childIP !== '' && !(await isLocalIn(target.netnsPath, spec.childIP))) throw notTheContainers(spec.childIP, spec.containerId);
      await this.#purgeOnce();
      await step('check-listeners', async () => {
        const holder = await listeningOn(this.#netns, spec);
        if (holder !== null) {
          throw new PortError('address-in-use', `${spec.proto} ${holder} is already in use by a program on the host, which the DNAT rule would silently take over: pick another parentPort, or stop that program`, { containerId: spec.containerId });
        }
      });
      const transport = transportOf(spec.proto);
      const comment = ['-m', 'comment', '--comment', portComment(port)];
      for (const [family, address] of destinations) {
        const parent = spec.parentIP === '' || spec.parentIP === '0.0.0.0' || spec.parentIP === '::' ? [] : ['-d', spec.parentIP];
        // A dual-stack "::" parent covers IPv4 too; the IPv4 rule then matches every local address.
        const parentFor = parent.length > 0 && canonicalIp(spec.parentIP)?.family !== family ? [] : parent;
        const to = family === 6 ? `[${address}]:${spec.childPort}` : `${address}:${spec.childPort}`;
        await step(`base-ipv${family}`, () => this.#useFamily(family));
        const dnat = [...parentFor, '-p', transport, '-m', transport, '--dport', String(spec.parentPort), ...comment, '-j', 'DNAT', '--to-destination', to];
        await step(`dnat-ipv${family}`, async () => {
          await this.#ipt(family, 'nat', ['-A', NAT_CHAINS.dnat, ...dnat]);
          return async () => void (await this.#ipt(family, 'nat', ['-D', NAT_CHAINS.dnat, ...dnat]));
        });
        const fwd = ['-p', transport, '-m', 'conntrack', '--ctstate', 'DNAT', '--ctreplsrc', address, '--ctreplsrcport', String(spec.childPort), ...comment, '-j', 'ACCEPT'];
        await step(`forward-ipv${family}`, async () => {
          await this.#ipt(family, 'filter', ['-A', NAT_CHAINS.forward, ...fwd]);
          return async () => void (await this.#ipt(family, 'filter', ['-D', NAT_CHAINS.forward, ...fwd]));
        });
        const coversLoopback = family === 4 && (parentFor.length === 0 || isLoopback(spec.parentIP));
        if (coversLoopback && familiesOf(spec.proto).includes(4)) {
          let localnet = '';
          await step('route-localnet', async () => {
            const used = await this.#localnet.use(address);
            localnet = ` localnet=${used.dev}:${used.previous}`;
            return used.undo;
          });
          // The interface's own value rides along in the comment, for a daemon that rebuilds from the rules.
          const snat = ['-s', '127.0.0.0/8', '-d', address, '-p', transport, '-m', transport, '--dport', String(spec.childPort), '-m', 'comment', '--comment', `${portComment(port)}${localnet}`, '-j', 'MASQUERADE'];
          await step('snat-loopback', async () => {
            await this.#ipt(4, 'nat', ['-A', NAT_CHAINS.snat, ...snat]);
            return async () => void (await this.#ipt(4, 'nat', ['-D', NAT_CHAINS.snat, ...snat]));
          });
        }
      }
      this.#ports.set(port.id, undo);
      this.#logger?.debug({ portId: port.id, containerId: spec.containerId, destinations: Object.fromEntries(destinations) }, 'nat port added');
    } catch (err) {
      await this.#undo(undo, port);
      if (err instanceof PortError) throw err;
      const stderr = err instanceof ToolError ? err.result.stderr : undefined;
      throw new PortError('driver-failed', `the nat driver could not forward ${spec.proto} port ${spec.parentPort} to container ${spec.containerId}: ${err instanceof Error ? err.message : String(err)}; nothing was left applied`, { containerId: spec.containerId, cause: err, ...(stderr === undefined ? {} : { stderr }) });
    }
  }

  async #undo(undo: Undo[], port: ActivePort): Promise<void> {
    for (const u of undo.reverse()) {
      try {
        await u();
      } catch (err) {
        this.#logger?.warn({ err, portId: port.id, containerId: port.spec.containerId }, 'could not undo a nat port step');
      }
    }
  }

  async remove(port: ActivePort): Promise<void> {
    const undo = this.#ports.get(port.id);
    if (undo === undefined) return;
    this.#ports.delete(port.id);
    await this.#undo(undo, port);
  }

  /**
   * Rebuilds the ports an earlier daemon left in our chains (it crashed, or kept its containers
   * running): those of live containers are taken over, with their rules as they are; the others'
   * rules are removed. Rebuilt from the rules themselves, never from a saved registry.
   */
  async recover(isLive: (containerId: string) => boolean): Promise<ActivePort[]> {
    this.#purged = true;
    interface Found { containerId: string; rules: { family: Family; table: 'nat' | 'filter'; chain: string; args: string[] }[]; dnats: RecoveredDnat[]; localnet: { dev: string; previous: string } | null }
    const found = new Map<number, Found>();
    const families: Family[] = [];
    for (const family of [4, 6] as const) {
      const save = await runIn(this.#netns, family === 4 ? 'iptables-save' : 'ip6tables-save', []);
      if (save.code !== 0) continue;
      if (save.stdout.includes(`:${NAT_CHAINS.dnat} `)) families.push(family);
      for (const [table, chain] of chainsOf(family)) {
        const section = save.stdout.split(/^\*/m).find((t) => t.startsWith(`${table}\n`)) ?? '';
        for (const args of chainRules(section, chain)) {
          const tag = portTag(args);
          if (tag === null) continue;
          const f = found.get(tag.id) ?? { containerId: tag.containerId, rules: [], dnats: [], localnet: null };
          found.set(tag.id, f);
          f.rules.push({ family, table, chain, args });
          if (chain === NAT_CHAINS.dnat) {
            const d = parseDnat(args, family);
            if (d !== null) f.dnats.push(d);
          }
          if (tag.localnet !== null) f.localnet = tag.localnet;
        }
      }
    }
    const recovered: ActivePort[] = [];
    for (const [id, f] of [...found].sort((a, b) => a[0] - b[0])) {
      const deletes: Undo[] = f.rules.map((r) => async () => void (await this.#ipt(r.family, r.table, ['-D', r.chain, ...r.args])));
      const first = f.dnats[0];
      if (!isLive(f.containerId) || first === undefined) {
        for (const d of deletes) await d().catch(() => undefined);
        this.#logger?.warn({ portId: id, containerId: f.containerId }, 'removed the rules of a port whose container is gone');
        continue;
      }
      const fams = [...new Set(f.dnats.map((d) => d.family))].sort();
      const undo: Undo[] = [];
      for (const family of fams) {
        this.#familyUsers.set(family, (this.#familyUsers.get(family) ?? 0) + 1);
        undo.push(async () => {
          const left = (this.#familyUsers.get(family) ?? 1) - 1;
          this.#familyUsers.set(family, left);
          if (left === 0) await this.#removeBase(family);
        });
      }
      if (f.localnet !== null) {
        undo.push(this.#localnet.adopt(f.localnet.dev, f.localnet.previous));
      }
      undo.push(...deletes);
      this.#ports.set(id, undo);
      const suffix = fams.length === 2 ? '' : String(fams[0]);
      const parentIP = f.dnats.find((d) => d.parentIP !== '')?.parentIP ?? '';
      recovered.push({ id, driver: 'nat', spec: { proto: `${first.transport}${suffix}` as PortProto, parentIP, parentPort: first.parentPort, childIP: '', childPort: first.childPort, containerId: f.containerId } });
    }
    // Chains nobody uses any more (every port in them was a dead container's) go too.
    for (const family of families) if ((this.#familyUsers.get(family) ?? 0) === 0) await this.#removeBase(family);
    return recovered;
  }

  /** Forgets every port without touching its rules: they stay for a daemon that rebuilds from them. */
  async detach(): Promise<void> {
    this.#ports.clear();
    this.#familyUsers.clear();
    this.#localnet.forget();
  }

  async close(): Promise<void> {
    for (const [id, undo] of [...this.#ports]) {
      this.#ports.delete(id);
      for (const u of undo.reverse()) await u().catch(() => undefined);
    }
  }
}
