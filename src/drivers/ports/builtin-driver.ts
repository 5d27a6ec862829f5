// The builtin port driver: a userland proxy (TCP and UDP) from a host listener to an address inside the container's netns.
//
// Like rootlesskit's builtin driver, sockets on the container side are created inside its network
// namespace by a helper (netns-helper.mjs under nsenter) and handed to dobbyd, which moves the bytes.
// That reaches services bound only to the container's loopback, and the host's [::1], which kernel
// DNAT cannot. The container sees the connection come from its own loopback, not from the client
// (rootlesskit's CVE-2021-20199 lesson: use it for what needs it; nat is the default).
// Default childIP: 127.0.0.1 (::1 for tcp6/udp6). TCP half-close is kept both ways; UDP keeps one
// container-side socket per client address, dropped after `udpIdleMs` without traffic.

import type * as Dgram from 'node:dgram';
import { dgram } from '../../builtins.ts';
import net from 'node:net';
import type { DriverLogger } from '../process.ts';
import type { HostNetns } from './netns-exec.ts';
import { isLocalIn, netnsPathOf } from './netns-exec.ts';
import { HelperError, HelperPool, type NetnsHelper } from './netns-helpers.ts';
import type { ActivePort, PortDriver, PortTarget, StepHook } from './port-driver.ts';
import { bindError, notTheContainers, PortError } from '../../ports/port-errors.ts';
import { canonicalIp, familiesOf, transportOf, type PortSpec } from '../../ports/port-spec.ts';

export interface BuiltinDriverOptions {
  /** Treat this named network namespace as the host: listeners are made there by a helper (tests). */
  readonly hostNetns?: HostNetns;
  readonly logger?: DriverLogger;
  /** UDP client entries expire after this long without traffic (rootlesskit: 90 s). */
  readonly udpIdleMs?: number;
  readonly beforeStep?: StepHook;
}

interface Proxy {
  close(): Promise<void>;
  /** Live proxied connections (TCP) or client entries (UDP). */
  readonly active: number;
}

interface Held {
  readonly proxy: Proxy;
  readonly helpers: NetnsHelper[];
}

/** Where the listener goes: host and ipv6Only as Node's listen/bind want them ("" = dual-stack). */
export function listenAddress(spec: PortSpec): { host: string; ipv6Only: boolean } {
  const families = familiesOf(spec.proto);
  if (spec.parentIP === '') {
    if (families.length === 2) return { host: '', ipv6Only: false };
    return families[0] === 4 ? { host: '0.0.0.0', ipv6Only: false } : { host: '::', ipv6Only: true };
  }
  return { host: spec.parentIP, ipv6Only: spec.parentIP.includes(':') && families.length === 1 };
}

export function childAddress(spec: PortSpec): string {
  if (spec.childIP !== '') return spec.childIP;
  return spec.proto.endsWith('6') ? '::1' : '127.0.0.1';
}

function where(spec: PortSpec): string {
  const { host } = listenAddress(spec);
  const h = host === '' ? '*' : host.includes(':') ? `[${host}]` : host;
  return `${spec.proto} ${h}:${spec.parentPort}`;
}

export class BuiltinPortDriver implements PortDriver {
  readonly name = 'builtin' as const;
  readonly #hostNetns: HostNetns;
  readonly #logger: DriverLogger | undefined;
  readonly #udpIdleMs: number;
  readonly #beforeStep: StepHook | undefined;
  readonly #pool: HelperPool;
  readonly #ports = new Map<number, Held>();

  constructor(options: BuiltinDriverOptions = {}) {
    this.#hostNetns = options.hostNetns;
    this.#logger = options.logger;
    this.#udpIdleMs = options.udpIdleMs ?? 90_000;
    this.#beforeStep = options.beforeStep;
    this.#pool = new HelperPool(options.logger);
  }

  /** Helpers running now (one per namespace in use), for leak checks. */
  get helpers(): number {
    return this.#pool.size;
  }

  /** Proxied TCP connections / UDP client entries of a port. */
  activeOf(id: number): number {
    return this.#ports.get(id)?.proxy.active ?? 0;
  }

  async add(port: ActivePort, target: PortTarget): Promise<void> {
    const { spec } = port;
    if (this.#ports.has(port.id)) throw new PortError('driver-failed', `port id ${port.id} is already forwarded by this builtin driver (one driver per port manager)`);
    const helpers: NetnsHelper[] = [];
    try {
      if (spec.childIP !== '' && !(await isLocalIn(target.netnsPath, spec.childIP))) throw notTheContainers(spec.childIP, spec.containerId);
      await this.#beforeStep?.('child-helper', port);
      const child = await this.#pool.acquire(target.netnsPath);
      helpers.push(child);
      let host: NetnsHelper | null = null;
      if (this.#hostNetns !== undefined) {
        await this.#beforeStep?.('host-helper', port);
        host = await this.#pool.acquire(netnsPathOf(this.#hostNetns));
        helpers.push(host);
      }
      await this.#beforeStep?.('listen', port);
      const proxy = transportOf(spec.proto) === 'tcp' ? await this.#tcp(port, child, host) : await this.#udp(port, child, host);
      this.#ports.set(port.id, { proxy, helpers });
      this.#logger?.debug({ portId: port.id, containerId: spec.containerId, child: childAddress(spec) }, 'builtin port added');
    } catch (err) {
      for (const h of helpers.reverse()) await this.#pool.release(h).catch(() => undefined);
      if (err instanceof PortError) throw err;
      if (err instanceof HelperError) throw bindError(Object.assign(new Error(err.message), { code: err.code }), where(spec), spec.parentPort);
      throw new PortError('driver-failed', `the builtin driver could not forward ${where(spec)} to container ${spec.containerId}: ${err instanceof Error ? err.message : String(err)}; nothing was left applied`, { containerId: spec.containerId, cause: err });
    }
  }

  async #listenTcp(spec: PortSpec, host: NetnsHelper | null): Promise<net.Server> {
    const { host: address, ipv6Only } = listenAddress(spec);
    if (host !== null) {
      const server = await host.request<net.Server>({ op: 'listen', transport: 'tcp', host: address, port: spec.parentPort, ipv6Only });
      return server;
    }
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(address === '' ? { port: spec.parentPort } : { host: address, port: spec.parentPort, ipv6Only }, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((err: unknown) => {
      throw bindError(err, where(spec), spec.parentPort);
    });
    return server;
  }

  async #tcp(port: ActivePort, child: NetnsHelper, host: NetnsHelper | null): Promise<Proxy> {
    const { spec } = port;
    const server = await this.#listenTcp(spec, host);
    // Node reads these from the server for each accepted connection; @types/node does not list them, and a
    // server passed from a helper was made without options, so they are set here.
    Object.assign(server as net.Server & { allowHalfOpen: boolean; pauseOnConnect: boolean }, { allowHalfOpen: true, pauseOnConnect: true });
    const live = new Set<net.Socket>();
    const childHost = childAddress(spec);
    server.on('error', (err) => this.#logger?.warn({ err, portId: port.id }, 'builtin tcp listener error'));
    server.on('connection', (client: net.Socket) => {
      live.add(client);
      client.on('error', () => undefined);
      client.once('close', () => live.delete(client));
      child.request<net.Socket>({ op: 'connect', host: childHost, port: spec.childPort }).then(
        (backend) => {
          if (client.destroyed) {
            backend.destroy();
            return;
          }
          backend.allowHalfOpen = true;
          live.add(backend);
          backend.on('error', () => undefined);
          const both = (): void => {
            if (client.destroyed && backend.destroyed) return;
            client.destroy();
            backend.destroy();
          };
          client.once('error', both);
          backend.once('error', both);
          backend.once('close', () => {
            live.delete(backend);
            if (!client.writableEnded) client.end();
          });
          client.once('close', () => {
            if (!backend.writableEnded) backend.end();
          });
          // pipe() ends the other side when one side ends: TCP half-close travels both ways.
          client.pipe(backend);
          backend.pipe(client);
          client.resume();
        },
        (err: unknown) => {
          this.#logger?.debug({ err, portId: port.id }, 'builtin tcp: the container side refused; closing the client');
          client.resetAndDestroy();
        },
      );
    });
    return {
      get active() {
        return live.size;
      },
      close: async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const s of live) s.destroy();
        await closed;
      },
    };
  }

  async #udp(port: ActivePort, child: NetnsHelper, host: NetnsHelper | null): Promise<Proxy> {
    const { spec } = port;
    const { host: address, ipv6Only } = listenAddress(spec);
    let front: Dgram.Socket;
    if (host !== null) {
      front = await host.request<Dgram.Socket>({ op: 'listen', transport: 'udp', host: address, port: spec.parentPort, ipv6Only });
    } else {
      const family = address === '' || address.includes(':') ? 'udp6' : 'udp4';
      front = dgram().createSocket({ type: family, ipv6Only });
      await new Promise<void>((resolve, reject) => {
        front.once('error', reject);
        front.bind({ port: spec.parentPort, address: address === '' ? '::' : address }, () => {
          front.off('error', reject);
          resolve();
        });
      }).catch((err: unknown) => {
        front.close();
        throw bindError(err, where(spec), spec.parentPort);
      });
    }
    const childHost = childAddress(spec);
    const childType = canonicalIp(childHost)?.family === 6 ? 'udp6' : 'udp4';
    interface Entry { backend: Dgram.Socket | null; queue: Buffer[]; timer: NodeJS.Timeout; closed: boolean }
    const clients = new Map<string, Entry>();
    const drop = (key: string, e: Entry): void => {
      e.closed = true;
      clearTimeout(e.timer);
      clients.delete(key);
      try {
        e.backend?.close();
      } catch {
        // already closed
      }
    };
    const touch = (key: string, e: Entry): void => {
      clearTimeout(e.timer);
      e.timer = setTimeout(() => drop(key, e), this.#udpIdleMs);
      e.timer.unref();
    };
    front.on('error', (err) => this.#logger?.warn({ err, portId: port.id }, 'builtin udp listener error'));
    front.on('message', (msg, rinfo) => {
      const key = `${rinfo.address}|${rinfo.port}`;
      let e = clients.get(key);
      if (e !== undefined) {
        touch(key, e);
        if (e.backend === null) e.queue.push(msg);
        else e.backend.send(msg, spec.childPort, childHost);
        return;
      }
      const entry: Entry = { backend: null, queue: [msg], timer: setTimeout(() => undefined, 0), closed: false };
      e = entry;
      clients.set(key, entry);
      touch(key, entry);
      child.request<Dgram.Socket>({ op: 'udp', type: childType }).then(
        (backend) => {
          if (entry.closed) {
            backend.close();
            return;
          }
          entry.backend = backend;
          // Nothing listening yet gives ECONNREFUSED on a later send: ignored until the entry expires.
          backend.on('error', () => undefined);
          backend.on('message', (reply, from) => {
            if (from.port !== spec.childPort) return;
            touch(key, entry);
            front.send(reply, rinfo.port, rinfo.address);
          });
          for (const m of entry.queue.splice(0)) backend.send(m, spec.childPort, childHost);
        },
        (err: unknown) => {
          this.#logger?.debug({ err, portId: port.id }, 'builtin udp: no container-side socket; datagram dropped');
          drop(key, entry);
        },
      );
    });
    return {
      get active() {
        return clients.size;
      },
      close: async () => {
        for (const [key, e] of [...clients]) drop(key, e);
        await new Promise<void>((resolve) => front.close(() => resolve()));
      },
    };
  }

  async remove(port: ActivePort): Promise<void> {
    const held = this.#ports.get(port.id);
    if (held === undefined) return;
    this.#ports.delete(port.id);
    try {
      await held.proxy.close();
    } finally {
      for (const h of held.helpers.reverse()) await this.#pool.release(h).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    for (const [id, held] of [...this.#ports]) {
      this.#ports.delete(id);
      await held.proxy.close().catch(() => undefined);
    }
    await this.#pool.closeAll();
  }
}
