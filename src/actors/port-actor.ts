// The port actor: owns the daemon's port registry, applies a container's portForwarding at start and removes its ports when it stops.
//
// It turns lifecycle events into port-manager calls (the manager serialises them with the API's
// AddPort/RemovePort): a container that exits, fails to start or is deleted loses its ports; a
// container whose network comes up with Dobby's `portForwarding.hostToContainer` data gets them.
// It reports what it did on `events$` (port.added, port.removed, port.error).

import { Subject, type Observable, type Subscription } from 'rxjs';
import type { LifecycleEvent } from '../bus.ts';
import type { ActivePort, PortTarget } from '../drivers/ports/port-driver.ts';
import { PortError } from '../ports/port-errors.ts';
import type { AddPortRequest, PortManager } from '../drivers/ports/port-manager.ts';
import { toDobbyError } from '../errors.ts';
import type { Logger } from '../log.ts';

/** Dobby's networking data `portForwarding` (rdkPlugins.networking.data.portForwarding). */
export interface PortForwarding {
  readonly hostToContainer?: readonly { readonly port: number; readonly protocol: string }[];
  readonly containerToHost?: readonly { readonly port: number; readonly protocol: string }[];
  readonly localhostMasquerade?: boolean;
}

/** What the networking plugin tells about a container's network (its NetworkEvent, plus the data it was started with). */
export type NetworkNotice =
  | { readonly type: 'attached'; readonly network: AttachedNetwork; readonly portForwarding?: PortForwarding }
  | { readonly type: 'detached'; readonly id: string };

/** A container's network as the networking plugin reports it (its ContainerNetwork). */
export type AttachedNetwork = Omit<PortTarget, 'containerId'> & { readonly id: string; readonly bridgeIpv4?: string | null };

/** containerToHost / localhostMasquerade for one container, all or nothing (ContainerToHost in drivers/ports). */
export interface ContainerToHostPorts {
  add(
    container: { readonly id: string; readonly netnsPath: string; readonly ipv4: string | null; readonly bridgeIpv4: string | null },
    entries: readonly { readonly port: number; readonly protocol: 'tcp' | 'udp' }[],
    localhostMasquerade: boolean,
  ): Promise<void>;
  remove(containerId: string): Promise<void>;
  close(): Promise<void>;
  recover?(isLive: (containerId: string) => boolean): Promise<void>;
  detach?(): Promise<void>;
}

export type PortEvent =
  | { readonly type: 'port.added'; readonly port: ActivePort }
  | { readonly type: 'port.removed'; readonly id: number; readonly containerId: string }
  | { readonly type: 'port.error'; readonly containerId: string; readonly message: string }
  /** A container's portForwarding data is in place (its hostToContainer port ids). */
  | { readonly type: 'forwarding.applied'; readonly containerId: string; readonly ports: readonly number[] };

export interface PortActorOptions {
  readonly ports: PortManager;
  readonly containerEvents$: Observable<LifecycleEvent>;
  readonly networkEvents$?: Observable<NetworkNotice>;
  /** Applies containerToHost / localhostMasquerade; without it they are logged and left alone. */
  readonly containerToHost?: ContainerToHostPorts;
  readonly logger: Logger;
}

export interface PortActor {
  addPort(request: AddPortRequest): Promise<ActivePort>;
  listPorts(): ActivePort[];
  removePort(id: number): Promise<void>;
  /**
   * Dobby's hostToContainer entries as ports (host port N → container port N, every family the
   * container has), all or nothing: when one cannot be added, those added are removed again.
   */
  applyPortForwarding(containerId: string, forwarding: PortForwarding, network?: AttachedNetwork): Promise<ActivePort[]>;
  removeContainerPorts(containerId: string): Promise<number[]>;
  readonly events$: Observable<PortEvent>;
  /** Takes over the ports (and containerToHost rules) an earlier daemon left for containers still here. */
  recover(isLive: (containerId: string) => boolean): Promise<ActivePort[]>;
  /** Unsubscribes and closes; `keep` leaves kernel rules in place for the next daemon (containers kept running). */
  close(options?: { readonly keep?: boolean }): Promise<void>;
}

/** Dobby's hostToContainer entry → our request: the same port on both sides, on every host address. */
export function forwardingRequests(containerId: string, forwarding: PortForwarding): AddPortRequest[] {
  return (forwarding.hostToContainer ?? []).map((e) => ({
    proto: e.protocol, parentIP: '', parentPort: e.port, childIP: '', childPort: e.port, containerId,
  }));
}

export function createPortActor(options: PortActorOptions): PortActor {
  const { ports, logger } = options;
  const events = new Subject<PortEvent>();
  const subscriptions: Subscription[] = [];

  const removeAll = async (containerId: string, why: string): Promise<number[]> => {
    await options.containerToHost?.remove(containerId).catch((err: unknown) => logger.warn({ err, containerId }, 'could not remove the containerToHost rules of a container'));
    const removed = await ports.removeContainerPorts(containerId);
    for (const id of removed) events.next({ type: 'port.removed', id, containerId });
    if (removed.length > 0) logger.info({ containerId, ports: removed }, `removed the ports of a container that ${why}`);
    return removed;
  };

  const add = async (request: AddPortRequest): Promise<ActivePort> => {
    const port = await ports.addPort(request);
    events.next({ type: 'port.added', port });
    return port;
  };

  const applyPortForwarding = async (containerId: string, forwarding: PortForwarding, network?: AttachedNetwork): Promise<ActivePort[]> => {
    const added: ActivePort[] = [];
    let toHostAdded = false;
    try {
      const toHost = (forwarding.containerToHost ?? []).map((e) => ({ port: e.port, protocol: e.protocol === 'udp' ? 'udp' as const : 'tcp' as const }));
      if (toHost.length > 0) {
        if (options.containerToHost === undefined || network === undefined) {
          logger.warn({ containerId }, 'portForwarding.containerToHost is not applied: no containerToHost forwarder or no network for the container');
        } else {
          await options.containerToHost.add({ id: containerId, netnsPath: network.netnsPath, ipv4: network.ipv4, bridgeIpv4: network.bridgeIpv4 ?? null }, toHost, forwarding.localhostMasquerade === true);
          toHostAdded = true;
        }
      }
      for (const request of forwardingRequests(containerId, forwarding)) added.push(await add(request));
      events.next({ type: 'forwarding.applied', containerId, ports: added.map((p) => p.id) });
      return added;
    } catch (err) {
      if (toHostAdded) await options.containerToHost?.remove(containerId).catch(() => undefined);
      for (const port of added.reverse()) {
        await ports.removePort(port.id).catch(() => undefined);
        events.next({ type: 'port.removed', id: port.id, containerId });
      }
      const e = toDobbyError(err, 'INTERNAL', containerId);
      events.next({ type: 'port.error', containerId, message: e.message });
      throw err instanceof PortError ? new PortError(err.reason, `container ${containerId} portForwarding: ${err.message}`, { containerId, cause: err }) : e;
    }
  };

  subscriptions.push(options.containerEvents$.subscribe({
    next: (event) => {
      if (event.type !== 'exited' && event.type !== 'start-failed' && event.type !== 'deleted') return;
      removeAll(event.id, event.type === 'exited' ? 'exited' : event.type === 'deleted' ? 'was deleted' : 'failed to start').catch((err: unknown) => {
        logger.error({ err, containerId: event.id }, 'could not remove the ports of a container');
      });
    },
    error: (err: unknown) => logger.error({ err }, 'the container event stream failed: ports are no longer removed with their containers'),
  }));

  if (options.networkEvents$ !== undefined) {
    subscriptions.push(options.networkEvents$.subscribe({
      next: (notice) => {
        if (notice.type === 'detached') {
          removeAll(notice.id, 'lost its network').catch((err: unknown) => logger.error({ err, containerId: notice.id }, 'could not remove the ports of a container'));
          return;
        }
        if (notice.portForwarding === undefined) return;
        applyPortForwarding(notice.network.id, notice.portForwarding, notice.network).catch((err: unknown) => {
          logger.error({ err, containerId: notice.network.id }, 'could not apply the portForwarding of a container');
        });
      },
      error: (err: unknown) => logger.error({ err }, 'the network event stream failed'),
    }));
  }

  return {
    addPort: add,
    listPorts: () => ports.listPorts(),
    removePort: async (id) => {
      const port = ports.listPorts().find((p) => p.id === id);
      await ports.removePort(id);
      if (port !== undefined) events.next({ type: 'port.removed', id, containerId: port.spec.containerId });
    },
    applyPortForwarding,
    removeContainerPorts: (id) => removeAll(id, 'was removed'),
    events$: events.asObservable(),
    recover: async (isLive) => {
      await options.containerToHost?.recover?.(isLive);
      const recovered = await ports.recover(isLive);
      for (const port of recovered) events.next({ type: 'port.added', port });
      return recovered;
    },
    close: async (closeOptions = {}) => {
      for (const s of subscriptions.splice(0)) s.unsubscribe();
      if (closeOptions.keep === true) {
        await (options.containerToHost?.detach?.() ?? options.containerToHost?.close());
        await ports.detach();
      } else {
        await options.containerToHost?.close();
        await ports.close();
      }
      events.complete();
    },
  };
}

/** What the port actor needs from the networking plugin (duck-typed: it may not be installed). */
export interface NetworkLookup {
  addressOf(containerId: string): { readonly netnsPath: string; readonly ipv4: string | null; readonly ipv6: string | null } | null;
  readonly events$?: Observable<NetworkNotice>;
}

/** The networking plugin, when one with `addressOf` is installed. */
export function asNetworkLookup(plugin: unknown): NetworkLookup | undefined {
  const p = plugin as Partial<NetworkLookup> | undefined;
  return typeof p?.addressOf === 'function' ? (p as NetworkLookup) : undefined;
}

const LIVE_PHASES = new Set(['created', 'starting', 'running', 'pausing', 'paused', 'resuming']);

/**
 * Where a container's side of its ports is: what the networking plugin attached, else (no plugin,
 * or a mode it left alone) the namespace of the container's init with no known address, which the
 * builtin driver can still reach.
 */
export function containerTargets(
  containers: { findById(id: string): { readonly pid: number | null; readonly phase: string } | undefined },
  network: NetworkLookup | undefined,
): (containerId: string) => PortTarget | undefined {
  return (containerId) => {
    // The plugin attached it at preStart and detaches it at postStop: live whatever the phase says.
    const n = network?.addressOf(containerId) ?? null;
    if (n !== null) return { containerId, netnsPath: n.netnsPath, ipv4: n.ipv4, ipv6: n.ipv6 };
    const c = containers.findById(containerId);
    if (c === undefined || !LIVE_PHASES.has(c.phase) || c.pid === null) return undefined;
    return { containerId, netnsPath: `/proc/${c.pid}/ns/net`, ipv4: null, ipv6: null };
  };
}
