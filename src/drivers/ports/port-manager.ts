// The port manager: rootlesskit's AddPort/ListPorts/RemovePort over a registry of ports, one call at a time, on two drivers.

import type { DriverLogger } from '../process.ts';
import { PORT_DRIVER_NAMES, type ActivePort, type PortDriver, type PortDriverName, type PortTarget } from './port-driver.ts';
import { PortError } from '../../ports/port-errors.ts';
import { canonicalIp, checkPortSpec, findConflict, type PortSpec } from '../../ports/port-spec.ts';
import type { AddPortRequest } from '../../ports/types.ts';

/** Where a container's side is; undefined when the container is not known or not running. */
export type TargetResolver = (containerId: string) => PortTarget | undefined | Promise<PortTarget | undefined>;

export type { AddPortRequest } from '../../ports/types.ts';

export interface PortManagerOptions {
  readonly drivers: Partial<Record<PortDriverName, PortDriver>>;
  /** The driver for ports that do not need a particular one (default: nat when present). */
  readonly defaultDriver?: PortDriverName;
  readonly resolveTarget: TargetResolver;
  readonly logger?: DriverLogger & { info?(obj: object, msg?: string): void };
}

export interface PortManager {
  addPort(request: AddPortRequest): Promise<ActivePort>;
  listPorts(): ActivePort[];
  removePort(id: number): Promise<void>;
  /** Removes every port of a container (it stopped); resolves with the ids removed. */
  removeContainerPorts(containerId: string): Promise<number[]>;
  /** Removes every port and closes the drivers. */
  close(): Promise<void>;
  /**
   * Takes over what an earlier daemon left in kernel-state drivers (nat): ports of live containers
   * join the registry with their ids (new ids continue after them); the rest are removed.
   */
  recover(isLive: (containerId: string) => boolean): Promise<ActivePort[]>;
  /**
   * For a daemon that exits leaving its containers running: nat ports stay in place (the next
   * daemon recovers them); ports that live in this process (builtin proxies) are closed.
   */
  detach(): Promise<void>;
}

function isLoopback(ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.');
}

/**
 * Which driver serves a port: the one asked for, else builtin where DNAT cannot reach (a child
 * loopback address, or the host's [::1]), else the default.
 */
export function chooseDriver(spec: PortSpec, asked: unknown, available: readonly PortDriverName[], fallback: PortDriverName): PortDriverName {
  if (asked !== undefined && asked !== '') {
    if (typeof asked !== 'string' || !(PORT_DRIVER_NAMES as readonly string[]).includes(asked)) {
      throw new PortError('unsupported', `driver ${JSON.stringify(asked)} is not a port driver: use one of ${PORT_DRIVER_NAMES.join(', ')}, or leave it out`);
    }
    if (!available.includes(asked as PortDriverName)) {
      throw new PortError('unsupported', `the ${asked} port driver is not enabled in this daemon (enabled: ${available.join(', ') || 'none'})`);
    }
    return asked as PortDriverName;
  }
  const needsProxy = isLoopback(canonicalIp(spec.childIP)?.address ?? '') || spec.parentIP === '::1';
  if (needsProxy && available.includes('builtin')) return 'builtin';
  return available.includes(fallback) ? fallback : (available[0] ?? fallback);
}

export function createPortManager(options: PortManagerOptions): PortManager {
  const ports = new Map<number, ActivePort>();
  const available = PORT_DRIVER_NAMES.filter((n) => options.drivers[n] !== undefined);
  const fallback = options.defaultDriver ?? (available.includes('nat') ? 'nat' : 'builtin');
  let nextId = 1;
  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;

  /** Mutations run one at a time, in call order; validation, conflict check and apply are one step. */
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const result = queue.then(fn, fn);
    queue = result.catch(() => undefined);
    return result;
  };

  const driverOf = (port: ActivePort): PortDriver => {
    const d = options.drivers[port.driver];
    if (d === undefined) throw new PortError('driver-failed', `port ${port.id} uses the ${port.driver} driver, which is gone`);
    return d;
  };

  const removeOne = async (port: ActivePort): Promise<void> => {
    await driverOf(port).remove(port);
    ports.delete(port.id);
    options.logger?.info?.({ portId: port.id, containerId: port.spec.containerId }, 'port removed');
  };

  return {
    addPort: (request) => serial(async () => {
      if (closed) throw new PortError('unsupported', 'the port manager is closed (dobbyd is stopping)');
      const checked = checkPortSpec(request);
      if (!checked.ok) throw checked.error;
      const spec = checked.spec;
      const driverName = chooseDriver(spec, (request as Record<string, unknown> | null)?.['driver'], available, fallback);
      const conflict = findConflict(spec, ports.values());
      if (conflict !== null) throw conflict;
      const target = await options.resolveTarget(spec.containerId);
      if (target === undefined) {
        throw new PortError('unknown-container', `container ${spec.containerId} is not running here: ports can only be added to a running container`, { containerId: spec.containerId });
      }
      // Taken before the driver runs, so a failed add burns its id: ids are never reused.
      const port: ActivePort = { id: nextId++, spec, driver: driverName };
      const driver = options.drivers[driverName]!;
      await driver.add(port, target);
      ports.set(port.id, port);
      options.logger?.info?.({ portId: port.id, containerId: spec.containerId, driver: driverName, spec }, 'port added');
      return port;
    }),
    listPorts: () => [...ports.values()].sort((a, b) => a.id - b.id),
    removePort: (id) => serial(async () => {
      const port = Number.isInteger(id) ? ports.get(id) : undefined;
      if (port === undefined) {
        const known = [...ports.keys()].sort((a, b) => a - b);
        throw new PortError('unknown-id', `unknown id: ${String(id)} (${known.length === 0 ? 'no ports are forwarded' : `forwarded: ${known.join(', ')}`}; dobby port ls lists them)`);
      }
      await removeOne(port);
    }),
    removeContainerPorts: (containerId) => serial(async () => {
      const mine = [...ports.values()].filter((p) => p.spec.containerId === containerId);
      const removed: number[] = [];
      for (const port of mine) {
        try {
          await removeOne(port);
          removed.push(port.id);
        } catch (err) {
          options.logger?.warn({ err, portId: port.id, containerId }, 'could not remove a port of a stopped container');
        }
      }
      return removed;
    }),
    recover: (isLive) => serial(async () => {
      const recovered: ActivePort[] = [];
      for (const name of available) {
        const driver = options.drivers[name]!;
        for (const port of (await driver.recover?.(isLive)) ?? []) {
          ports.set(port.id, port);
          nextId = Math.max(nextId, port.id + 1);
          recovered.push(port);
        }
      }
      if (recovered.length > 0) options.logger?.info?.({ ports: recovered.map((p) => p.id) }, 'took over the ports an earlier dobbyd left');
      return recovered;
    }),
    detach: () => serial(async () => {
      closed = true;
      for (const port of [...ports.values()]) {
        if (options.drivers[port.driver]?.detach === undefined) await removeOne(port).catch(() => ports.delete(port.id));
      }
      ports.clear();
      for (const name of available) {
        const driver = options.drivers[name]!;
        if (driver.detach !== undefined) await driver.detach();
        else await driver.close();
      }
    }),
    close: () => serial(async () => {
      closed = true;
      for (const port of [...ports.values()]) await removeOne(port).catch(() => ports.delete(port.id));
      for (const name of available) await options.drivers[name]!.close();
    }),
  };
}
