// The `ipc` plugin: the host's D-Bus buses inside the container, as Dobby's IPC plugin arranges
// them. At postConstruction each bus asked for is bind-mounted from its host socket to
// /var/run/dbus/<bus>_bus_socket and named in DBUS_<BUS>_BUS_ADDRESS; SKY_DBUS_DISABLE_UID_IN_EXTERNAL_AUTH=1
// tells a dbus patched for user namespaces to leave the uid out of its EXTERNAL auth. Every host
// socket is checked before anything is added, so a bad bus adds nothing. A missing mount point is
// made in the rootfs, as Dobby does (and crun would). Nothing to undo.

import { stat } from 'node:fs/promises';
import { DobbyError } from '../../errors.ts';
import { ensureMountPoint } from '../mount-point.ts';
import { forContainer } from '../plugin-data.ts';
import { HookHint, type DobbyPlugin } from '../types.ts';
import { parseIpcData, type BusSource, type IpcBus } from './data.ts';
import { socketPathOf } from './socket-path.ts';

export { socketPathOf };

export const IPC_PLUGIN = 'ipc';

/** Where Dobby's build puts the host's system bus (its "system" value). */
export const DEFAULT_SYSTEM_BUS_SOCKET = '/var/run/dbus/system_bus_socket';
/** Dobby's user-namespace workaround variable (RDK builds). */
export const IPC_AUTH_ENV = 'SKY_DBUS_DISABLE_UID_IN_EXTERNAL_AUTH=1';
const MOUNT_OPTIONS = ['bind', 'nodev', 'nosuid', 'noexec'];

export interface IpcPluginOptions {
  /** Host socket of the system bus (`"system"`); default /var/run/dbus/system_bus_socket. */
  readonly systemBus?: string;
  /**
   * Host sockets of the AI public and private buses (also set at run time by D-Bus SetAIDbusAddress);
   * without one, that value is skipped with a warning, as Dobby does.
   */
  readonly aiPublicBus?: string | null;
  readonly aiPrivateBus?: string | null;
}

export type AiBus = 'ai-public' | 'ai-private';

export interface IpcPlugin extends DobbyPlugin {
  /** Where an AI bus is from now on (a `unix:path=` address); false when the address names no socket file. */
  setAiBus(bus: AiBus, address: string): boolean;
}

export function isIpcPlugin(plugin: unknown): plugin is IpcPlugin {
  return typeof (plugin as Partial<IpcPlugin> | undefined)?.setAiBus === 'function';
}

export function busDestination(bus: IpcBus): string {
  return `/var/run/dbus/${bus}_bus_socket`;
}

export function createIpcPlugin(options: IpcPluginOptions = {}): IpcPlugin {
  const ai: Record<AiBus, string | null> = { 'ai-public': options.aiPublicBus ?? null, 'ai-private': options.aiPrivateBus ?? null };
  const hostSocket = (source: BusSource): string | null => {
    switch (source.kind) {
      case 'path': return source.path;
      case 'system': return options.systemBus ?? DEFAULT_SYSTEM_BUS_SOCKET;
      default: return ai[source.kind];
    }
  };

  return {
    name: IPC_PLUGIN,
    setAiBus(bus, address) {
      const socket = socketPathOf(address);
      if (socket === null) return false;
      ai[bus] = socket;
      return true;
    },
    hookHints: HookHint.PostConstructionSync,
    checkData: (data) => parseIpcData(data).warnings,
    async postConstruction(ctx, startState) {
      const { data } = forContainer(ctx.id, () => parseIpcData(ctx.data));
      if (data.buses.length === 0) {
        ctx.logger.warn('ipc: the data names no bus (system, session or debug); nothing to do');
        return;
      }
      const mounts: { bus: IpcBus; socket: string }[] = [];
      for (const { bus, source } of data.buses) {
        const socket = hostSocket(source);
        if (socket === null) {
          ctx.logger.warn(`ipc.data.${bus}: no ${source.kind} bus is known to this daemon; the container gets no ${bus} bus`);
          continue;
        }
        const st = await stat(socket).catch(() => null);
        if (st === null || !st.isSocket()) {
          throw new DobbyError('HOST_UNSUITABLE', `container '${ctx.id}': ipc.data.${bus} (${source.kind === 'path' ? 'host socket' : `the ${source.kind} bus`}) ` +
            `is ${socket}, which ${st === null ? 'does not exist' : 'is not a socket'}; is that bus running?`, { containerId: ctx.id });
        }
        mounts.push({ bus, socket });
      }
      startState.addEnvironmentVariable(IPC_AUTH_ENV);
      for (const { bus, socket } of mounts) {
        await ensureMountPoint(ctx.rootfs, busDestination(bus), 'file');
        startState.addMount({ source: socket, destination: busDestination(bus), type: 'bind', options: [...MOUNT_OPTIONS] });
        startState.addEnvironmentVariable(`DBUS_${bus.toUpperCase()}_BUS_ADDRESS=unix:path=${busDestination(bus)}`);
      }
      ctx.logger.debug({ buses: mounts }, 'D-Bus sockets mounted');
    },
  };
}
