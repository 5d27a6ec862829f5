// Links, bridges, veth pairs, addresses and routes through iproute2 (`ip -batch` to write, `ip -json` to read).

import { DobbyError } from '../../errors.ts';
import type { NetExec, NetTarget } from './net-exec.ts';

/** One change to a namespace's links; a list of them is applied in order and stops at the first failure. */
export type IpOp =
  | { readonly op: 'addBridge'; readonly name: string }
  /**
   * `peerMac` sets the MAC address of the peer end (the container's); `peerPid` makes that end in
   * the network namespace of the process, which costs the kernel no move between namespaces (a
   * moved link waits for an RCU grace period: 15-20 ms of every nat start here).
   */
  | { readonly op: 'addVeth'; readonly name: string; readonly peer: string; readonly peerMac?: string; readonly peerPid?: number }
  | { readonly op: 'setMaster'; readonly link: string; readonly master: string }
  | { readonly op: 'up'; readonly link: string }
  | { readonly op: 'moveToNetns'; readonly link: string; readonly pid: number }
  | { readonly op: 'rename'; readonly link: string; readonly to: string }
  /** `cidr` is `a.b.c.d/len` or an IPv6 `addr/len`; IPv6 addresses skip duplicate address detection. */
  | { readonly op: 'addAddress'; readonly link: string; readonly cidr: string }
  | { readonly op: 'addDefaultRoute'; readonly via: string; readonly family: 4 | 6 }
  /** `ifExists`: a link that is not there (its namespace died and took it) is no failure. */
  | { readonly op: 'deleteLink'; readonly name: string; readonly ifExists?: boolean };

export interface LinkAddress {
  readonly family: 4 | 6;
  readonly address: string;
  readonly prefixLength: number;
}

export interface LinkInfo {
  readonly name: string;
  /** `bridge`, `veth`, … ; null for links without a kind (lo, physical). */
  readonly kind: string | null;
  readonly up: boolean;
  readonly master: string | null;
  readonly addresses: readonly LinkAddress[];
}

export interface RouteInfo {
  readonly family: 4 | 6;
  readonly dst: string;
  readonly gateway: string | null;
  readonly dev: string | null;
}

export interface IpDriver {
  apply(target: NetTarget, ops: readonly IpOp[], containerId?: string): Promise<void>;
  links(target: NetTarget): Promise<LinkInfo[]>;
  routes(target: NetTarget, family: 4 | 6): Promise<RouteInfo[]>;
}

/** The `ip` command line (without `ip`) for one op; exported for the tests of the fake's fidelity. */
export function ipCommand(op: IpOp): string[] {
  switch (op.op) {
    case 'addBridge': return ['link', 'add', 'name', op.name, 'type', 'bridge', 'stp_state', '0'];
    case 'addVeth': return ['link', 'add', 'name', op.name, 'type', 'veth', 'peer', 'name', op.peer,
      ...(op.peerMac === undefined ? [] : ['address', op.peerMac]), ...(op.peerPid === undefined ? [] : ['netns', String(op.peerPid)])];
    case 'setMaster': return ['link', 'set', 'dev', op.link, 'master', op.master];
    case 'up': return ['link', 'set', 'dev', op.link, 'up'];
    case 'moveToNetns': return ['link', 'set', 'dev', op.link, 'netns', String(op.pid)];
    case 'rename': return ['link', 'set', 'dev', op.link, 'name', op.to];
    // Batch lines take no -4/-6: the family comes from the address.
    case 'addAddress': return op.cidr.includes(':')
      ? ['addr', 'add', op.cidr, 'dev', op.link, 'nodad']
      : ['addr', 'add', op.cidr, 'dev', op.link];
    case 'addDefaultRoute': return ['route', 'add', 'default', 'via', op.via];
    case 'deleteLink': return ['link', 'del', 'dev', op.name];
  }
}

/** True when `ip -force -batch` stderr reports nothing but links missing on `ifExists` deletes. */
export function onlyMissingLinks(ops: readonly IpOp[], stderr: string): boolean {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const mayMiss = (i: number): boolean => {
    const op = ops[i];
    return op !== undefined && op.op === 'deleteLink' && op.ifExists === true;
  };
  return lines.length > 0 && lines.every((line) => {
    const missing = /^Cannot find device "([^"]+)"$/.exec(line);
    if (missing !== null) return ops.some((op, i) => mayMiss(i) && op.op === 'deleteLink' && op.name === missing[1]);
    const failed = /^Command failed -:(\d+)$/.exec(line);
    return failed !== null && mayMiss(Number(failed[1]) - 1);
  });
}

const NAME = /^[A-Za-z0-9_.-]{1,15}$/;

/** Interface names reach a command line: refuse anything the kernel would not take anyway. */
export function assertLinkName(name: string, what: string): void {
  if (!NAME.test(name) || name === '.' || name === '..') {
    throw new DobbyError('INVALID_ARGUMENT', `${what} '${name}' is not a usable interface name: 1-15 characters of A-Z a-z 0-9 _ . -`);
  }
}

interface JsonAddr { family?: string; local?: string; prefixlen?: number }
interface JsonLink { ifname?: string; flags?: string[]; master?: string; linkinfo?: { info_kind?: string }; addr_info?: JsonAddr[] }
interface JsonRoute { dst?: string; gateway?: string; dev?: string }

export class IpCommands implements IpDriver {
  readonly #exec: NetExec;

  constructor(exec: NetExec) {
    this.#exec = exec;
  }

  async apply(target: NetTarget, ops: readonly IpOp[], containerId?: string): Promise<void> {
    if (ops.length === 0) return;
    // Batch files are split on whitespace: the names and addresses were checked to hold none.
    const input = ops.map((op) => ipCommand(op).join(' ')).join('\n') + '\n';
    const options = { input, ...(containerId === undefined ? {} : { containerId }) };
    if (!ops.some((op) => op.op === 'deleteLink' && op.ifExists === true)) {
      await this.#exec.run(target, ['ip', '-batch', '-'], options);
      return;
    }
    // -force goes on past a failed line; the batch still fails unless every failure is a missing link that may be missing.
    try {
      await this.#exec.run(target, ['ip', '-force', '-batch', '-'], options);
    } catch (err) {
      if (!(err instanceof DobbyError) || err.stderr === undefined || !onlyMissingLinks(ops, err.stderr)) throw err;
    }
  }

  async links(target: NetTarget): Promise<LinkInfo[]> {
    const { stdout } = await this.#exec.run(target, ['ip', '-json', '-details', 'addr', 'show']);
    const parsed = JSON.parse(stdout === '' ? '[]' : stdout) as JsonLink[];
    return parsed.map((l) => ({
      name: l.ifname ?? '',
      kind: l.linkinfo?.info_kind ?? null,
      up: (l.flags ?? []).includes('UP'),
      master: l.master ?? null,
      addresses: (l.addr_info ?? [])
        .filter((a) => a.family === 'inet' || a.family === 'inet6')
        .map((a) => ({ family: a.family === 'inet' ? 4 as const : 6 as const, address: a.local ?? '', prefixLength: a.prefixlen ?? 0 })),
    }));
  }

  async routes(target: NetTarget, family: 4 | 6): Promise<RouteInfo[]> {
    const { stdout } = await this.#exec.run(target, ['ip', '-json', family === 6 ? '-6' : '-4', 'route', 'show']);
    const parsed = JSON.parse(stdout === '' ? '[]' : stdout) as JsonRoute[];
    return parsed.map((r) => ({ family, dst: r.dst ?? '', gateway: r.gateway ?? null, dev: r.dev ?? null }));
  }
}
