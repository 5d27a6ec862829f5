// Container addresses from an IPv4 range: never the same one twice while it is leased, persisted in
// the daemon's state dir so a restarted daemon knows which are taken, safe under concurrent starts.
// IPv6 addresses are derived from the IPv4 one (its 32 bits at the end of a /96 prefix).

import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { isIPv6 } from 'node:net';
import { dirname } from 'node:path';
import { DobbyError } from '../../errors.ts';
import { Semaphore } from '../../semaphore.ts';

export interface Ipv4Range {
  /** The network address as a 32-bit number. */
  readonly network: number;
  readonly prefixLength: number;
}

export function ipv4ToNumber(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return null;
    n = n * 256 + Number(p);
  }
  return n;
}

export function ipv4ToString(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** `a.b.c.d/len` with 8 ≤ len ≤ 29 (room for the bridge and at least two containers); `field` names it in errors. */
export function parseIpv4Range(text: string, field: string): Ipv4Range {
  const [addr = '', len = '24', extra] = text.split('/');
  const n = ipv4ToNumber(addr);
  const prefixLength = /^[0-9]{1,2}$/.test(len) ? Number(len) : NaN;
  if (n === null || extra !== undefined || !(prefixLength >= 8 && prefixLength <= 29)) {
    throw new DobbyError('INVALID_ARGUMENT', `${field} '${text}' is not an IPv4 range: give a network like 100.64.11.0/24 (prefix length 8-29)`);
  }
  const mask = prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
  if (((n & mask) >>> 0) !== n) {
    throw new DobbyError('INVALID_ARGUMENT', `${field} '${text}' has host bits set: the network is ${ipv4ToString((n & mask) >>> 0)}/${prefixLength}`);
  }
  return { network: n, prefixLength };
}

export function rangeText(range: Ipv4Range): string {
  return `${ipv4ToString(range.network)}/${range.prefixLength}`;
}

/** The bridge takes the first host address. */
export function bridgeIpv4(range: Ipv4Range): number {
  return range.network + 1;
}

/** Containers get .2 up to three below the broadcast address (Dobby: 100.64.11.2-.252). */
export function poolBounds(range: Ipv4Range): { readonly first: number; readonly last: number } {
  const size = 2 ** (32 - range.prefixLength);
  return { first: range.network + 2, last: range.network + size - 4 };
}

export function inRange(range: Ipv4Range, address: number): boolean {
  return address >= range.network && address < range.network + 2 ** (32 - range.prefixLength);
}

/** `prefix` is the first 96 bits written as `x:y:z::` (Dobby's 2080:d0bb:1e::). */
export function ipv6For(prefix: string, ipv4: number): string {
  const hi = (ipv4 >>> 16).toString(16);
  const lo = (ipv4 & 0xffff).toString(16);
  const address = `${prefix}${hi}:${lo}`;
  if (!isIPv6(address)) throw new DobbyError('INVALID_ARGUMENT', `IPv6 prefix '${prefix}' does not give an address (got ${address}); write it like 2080:d0bb:1e::`);
  return address;
}

/** Checks an IPv6 /96 prefix written as `x:y:z::`. */
export function checkIpv6Prefix(prefix: string, field: string): string {
  if (!prefix.endsWith('::') || !isIPv6(`${prefix}1`) || prefix.slice(0, -2).split(':').length > 6 || prefix.slice(0, -2).includes('::')) {
    throw new DobbyError('INVALID_ARGUMENT', `${field} '${prefix}' is not an IPv6 /96 prefix: write the first 96 bits ending in '::', like 2080:d0bb:1e::`);
  }
  return prefix;
}

export interface Lease {
  readonly id: string;
  readonly ipv4: string;
  /** The address's offset in the range: gives the host-side veth its name. */
  readonly index: number;
}

interface LeaseFile {
  readonly version: 1;
  readonly range: string;
  /** The last address handed out; the next search starts after it so a freed address rests a while. */
  readonly cursor: number;
  readonly leases: Readonly<Record<string, string>>;
  /** Host settings the plugin changed and must put back when the last container leaves. */
  readonly restore?: Readonly<Record<string, string>>;
}

export class AddressAllocator {
  readonly #file: string;
  readonly #range: Ipv4Range;
  readonly #lock = new Semaphore(1);

  constructor(options: { readonly file: string; readonly range: Ipv4Range }) {
    this.#file = options.file;
    this.#range = options.range;
  }

  get range(): Ipv4Range {
    return this.#range;
  }

  /** Read afresh every time (under the lock): another allocator over the same file may have changed it. */
  async #load(): Promise<LeaseFile> {
    let text: string | null = null;
    try {
      text = await readFile(this.#file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const empty: LeaseFile = { version: 1, range: rangeText(this.#range), cursor: poolBounds(this.#range).first - 1, leases: {} };
    if (text === null) return empty;
    try {
      const parsed = JSON.parse(text) as Partial<LeaseFile>;
      const leases: Record<string, string> = {};
      for (const [id, ip] of Object.entries(parsed.leases ?? {})) if (typeof ip === 'string' && ipv4ToNumber(ip) !== null) leases[id] = ip;
      const restore: Record<string, string> = {};
      for (const [k, v] of Object.entries(parsed.restore ?? {})) if (typeof v === 'string') restore[k] = v;
      const cursor = typeof parsed.cursor === 'number' && inRange(this.#range, parsed.cursor) ? parsed.cursor : empty.cursor;
      return { ...empty, cursor, leases, restore };
    } catch {
      // A torn write cannot happen (rename), so this is someone's hand edit: start afresh, loudly.
      throw new DobbyError('INTERNAL', `the address lease file ${this.#file} is not valid JSON; remove it once no nat container runs`);
    }
  }

  async #save(next: LeaseFile): Promise<void> {
    await mkdir(dirname(this.#file), { recursive: true, mode: 0o700 });
    const tmp = `${this.#file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(next, null, 1) + '\n', { mode: 0o600 });
    await rename(tmp, this.#file);
  }

  #lease(id: string, ip: string): Lease {
    return { id, ipv4: ip, index: ((ipv4ToNumber(ip) ?? 0) - this.#range.network) >>> 0 };
  }

  /** The container's address: the one it has, else the next free one. `then` runs under the same lock. */
  async allocate(id: string): Promise<{ readonly lease: Lease; readonly first: boolean }> {
    return this.#lock.run(async () => {
      const state = await this.#load();
      const existing = state.leases[id];
      const first = Object.keys(state.leases).length === 0;
      if (existing !== undefined) return { lease: this.#lease(id, existing), first };
      const taken = new Set(Object.values(state.leases));
      const { first: lo, last: hi } = poolBounds(this.#range);
      const count = hi - lo + 1;
      for (let step = 1; step <= count; step++) {
        const candidate = lo + ((state.cursor - lo + step) % count + count) % count;
        const ip = ipv4ToString(candidate);
        if (taken.has(ip)) continue;
        await this.#save({ ...state, cursor: candidate, leases: { ...state.leases, [id]: ip } });
        return { lease: this.#lease(id, ip), first };
      }
      throw new DobbyError('INVALID_ARGUMENT', `no free address left in ${rangeText(this.#range)} for container '${id}': ${count} containers hold one; stop one or widen the range`, { containerId: id });
    });
  }

  /** Frees the container's address; returns how many leases remain. */
  async release(id: string): Promise<number> {
    return this.#lock.run(async () => {
      const state = await this.#load();
      if (state.leases[id] === undefined) return Object.keys(state.leases).length;
      const { [id]: _gone, ...rest } = state.leases;
      await this.#save({ ...state, leases: rest });
      return Object.keys(rest).length;
    });
  }

  async leases(): Promise<Lease[]> {
    const state = await this.#lock.run(() => this.#load());
    return Object.entries(state.leases).map(([id, ip]) => this.#lease(id, ip));
  }

  async leaseOf(id: string): Promise<Lease | null> {
    const state = await this.#lock.run(() => this.#load());
    const ip = state.leases[id];
    return ip === undefined ? null : this.#lease(id, ip);
  }

  /** Host settings to put back later (persisted with the leases so a restarted daemon still knows). */
  async restoreValues(): Promise<Readonly<Record<string, string>>> {
    return (await this.#lock.run(() => this.#load())).restore ?? {};
  }

  async setRestoreValues(values: Readonly<Record<string, string>>): Promise<void> {
    await this.#lock.run(async () => this.#save({ ...(await this.#load()), restore: values }));
  }
}
