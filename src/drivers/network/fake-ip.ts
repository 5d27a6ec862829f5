// An in-memory iproute2 for property tests: namespaces with links, veth peers, masters, addresses,
// routes, the kernel's rules (a veth pair dies together, a namespace's links die with it) and faults.

import { DobbyError } from '../../errors.ts';
import type { IpDriver, IpOp, LinkAddress, LinkInfo, RouteInfo } from './ip.ts';
import type { NetTarget } from './net-exec.ts';

interface FakeLink {
  name: string;
  kind: string | null;
  up: boolean;
  master: string | null;
  addresses: LinkAddress[];
  /** The other end of a veth pair: its namespace key and a stable id. */
  peerId: number | null;
  readonly id: number;
}

interface FakeNs {
  links: FakeLink[];
  routes: RouteInfo[];
}

function key(target: NetTarget): string {
  return target.kind === 'host' ? 'host' : `pid:${target.pid}`;
}

export class FakeIp implements IpDriver {
  readonly #spaces = new Map<string, FakeNs>([['host', FakeIp.#emptyNs()]]);
  #nextId = 1;
  /** Ops applied so far (successful or not), for tests that count or inject by position. */
  opCount = 0;
  /** Return true to make that op fail as the real tool would (after the earlier ops of the batch were applied). */
  failWhen: ((op: IpOp, target: NetTarget, count: number) => boolean) | null = null;

  static #emptyNs(): FakeNs {
    return { links: [{ name: 'lo', kind: null, up: false, master: null, addresses: [], peerId: null, id: 0 }], routes: [] };
  }

  /** A container's namespace appears when its process is created. */
  addNamespace(pid: number): void {
    if (!this.#spaces.has(`pid:${pid}`)) this.#spaces.set(`pid:${pid}`, FakeIp.#emptyNs());
  }

  /** The process died: its namespace goes, and with it its links and the host ends of their veth pairs. */
  removeNamespace(pid: number): void {
    const ns = this.#spaces.get(`pid:${pid}`);
    if (ns === undefined) return;
    this.#spaces.delete(`pid:${pid}`);
    for (const link of ns.links) if (link.peerId !== null) this.#deleteById(link.peerId);
  }

  /** Every namespace's links, for leak checks. */
  snapshot(): Record<string, LinkInfo[]> {
    const out: Record<string, LinkInfo[]> = {};
    for (const [k, ns] of this.#spaces) out[k] = ns.links.map(FakeIp.#info);
    return out;
  }

  static #info(l: FakeLink): LinkInfo {
    return { name: l.name, kind: l.kind, up: l.up, master: l.master, addresses: [...l.addresses] };
  }

  #ns(target: NetTarget): FakeNs {
    const ns = this.#spaces.get(key(target));
    if (ns === undefined) throw new DobbyError('INTERNAL', `nsenter: cannot open /proc/${target.kind === 'pid' ? target.pid : '?'}/ns/net: No such file or directory`);
    return ns;
  }

  #deleteById(id: number): void {
    for (const ns of this.#spaces.values()) {
      const index = ns.links.findIndex((l) => l.id === id);
      if (index < 0) continue;
      const [gone] = ns.links.splice(index, 1);
      if (gone === undefined) return;
      for (const l of ns.links) if (l.master === gone.name) l.master = null;
      ns.routes = ns.routes.filter((r) => r.dev !== gone.name);
      return;
    }
  }

  async apply(target: NetTarget, ops: readonly IpOp[], containerId?: string): Promise<void> {
    const ns = this.#ns(target);
    ops.forEach((op, i) => {
      this.opCount++;
      const fail = (why: string): never => {
        throw new DobbyError('INTERNAL', `'ip -batch -' failed in ${key(target)} (exit 1): ${why} (command ${i + 1}: ${op.op})`, { containerId, verb: 'ip -batch -', exitStatus: 1 });
      };
      if (this.failWhen?.(op, target, this.opCount) === true) fail('injected fault');
      const find = (name: string): FakeLink => ns.links.find((l) => l.name === name) ?? fail(`Cannot find device "${name}"`);
      const free = (name: string, space: FakeNs = ns): void => {
        if (space.links.some((l) => l.name === name)) fail(`RTNETLINK answers: File exists (${name})`);
      };
      switch (op.op) {
        case 'addBridge':
          free(op.name);
          ns.links.push({ name: op.name, kind: 'bridge', up: false, master: null, addresses: [], peerId: null, id: this.#nextId++ });
          break;
        case 'addVeth': {
          const peerNs = op.peerPid === undefined ? ns : this.#spaces.get(`pid:${op.peerPid}`) ?? fail(`Invalid "netns" value "${op.peerPid}"`);
          free(op.name);
          free(op.peer, peerNs);
          if (op.name === op.peer && peerNs === ns) fail('RTNETLINK answers: File exists');
          const a = this.#nextId++;
          const b = this.#nextId++;
          ns.links.push({ name: op.name, kind: 'veth', up: false, master: null, addresses: [], peerId: b, id: a });
          peerNs.links.push({ name: op.peer, kind: 'veth', up: false, master: null, addresses: [], peerId: a, id: b });
          break;
        }
        case 'setMaster': {
          const link = find(op.link);
          if (find(op.master).kind !== 'bridge') fail(`${op.master} is not a bridge`);
          link.master = op.master;
          break;
        }
        case 'up':
          find(op.link).up = true;
          break;
        case 'moveToNetns': {
          const link = find(op.link);
          const dest = this.#spaces.get(`pid:${op.pid}`) ?? fail(`Invalid "netns" value "${op.pid}"`);
          free(op.link, dest);
          ns.links.splice(ns.links.indexOf(link), 1);
          link.master = null;
          link.up = false;
          link.addresses = [];
          dest.links.push(link);
          break;
        }
        case 'rename': {
          const link = find(op.link);
          free(op.to);
          if (link.up) fail('RTNETLINK answers: Device or resource busy');
          link.name = op.to;
          break;
        }
        case 'addAddress': {
          const link = find(op.link);
          const [address = '', len = ''] = op.cidr.split('/');
          if (link.addresses.some((a) => a.address === address)) fail('RTNETLINK answers: File exists');
          link.addresses.push({ family: address.includes(':') ? 6 : 4, address, prefixLength: Number(len) });
          break;
        }
        case 'addDefaultRoute': {
          if (ns.routes.some((r) => r.family === op.family && r.dst === 'default')) fail('RTNETLINK answers: File exists');
          const dev = ns.links.find((l) => l.up && l.addresses.some((a) => a.family === op.family && a.address !== op.via)) ?? fail('RTNETLINK answers: Network is unreachable');
          ns.routes.push({ family: op.family, dst: 'default', gateway: op.via, dev: dev.name });
          break;
        }
        case 'deleteLink': {
          if (op.ifExists === true && !ns.links.some((l) => l.name === op.name)) break;
          const link = find(op.name);
          this.#deleteById(link.id);
          if (link.peerId !== null) this.#deleteById(link.peerId);
          break;
        }
      }
    });
  }

  async links(target: NetTarget): Promise<LinkInfo[]> {
    return this.#ns(target).links.map(FakeIp.#info);
  }

  async routes(target: NetTarget, family: 4 | 6): Promise<RouteInfo[]> {
    return this.#ns(target).routes.filter((r) => r.family === family);
  }
}
