// The composition root: the only place that wires the real drivers, the manager and the API together
// (src/api depends on interfaces only: it is given the bus, the manager and the host services here).

import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { CgroupProbe } from './actors/container-actors.ts';
import type { DaemonOptions } from './daemon-options.ts';
import { ConmonMonitor } from './drivers/monitor/conmon-monitor.ts';
import { ConsoleSinks } from './drivers/monitor/console-follower.ts';
import { OciCliRuntime } from './drivers/runtime/oci-cli-runtime.ts';
import { cgroupPathsOfPid, oomKillCount, removeEmptyCgroups } from './drivers/cgroup/index.ts';
import { SpecBundles } from './drivers/bundles/spec-bundles.ts';
import { LaunchConfigs } from './drivers/bundles/launch-configs.ts';
import { installLayout } from './install-layout.ts';
import { FileContainerRecords, type ContainerRecords } from './drivers/records/container-records.ts';
import type { OciRuntime } from './drivers/runtime/types.ts';
import { DobbyError } from './errors.ts';
import type { Logger } from './log.ts';
import { createContainerManager, type Manager } from './manager.ts';
import { DEFAULT_RESTART_POLICY } from './machines/restart-policy.ts';
import { busProblem } from './host/dbus-check.ts';
import { createAppServicesPlugin } from './plugins/appservices/plugin.ts';
import type { NetworkOf } from './plugins/host-service-network.ts';
import { createHttpProxyPlugin } from './plugins/httpproxy/plugin.ts';
import { HostServiceAccess } from './drivers/ports/host-service-access.ts';
import { createIpcPlugin, IPC_PLUGIN, isIpcPlugin, socketPathOf, type IpcPluginOptions } from './plugins/ipc/plugin.ts';
import { createLocalTimePlugin } from './plugins/localtime/plugin.ts';
import { createLoggingPlugin } from './plugins/logging.ts';
import { createRtSchedulingPlugin } from './plugins/rtscheduling/plugin.ts';
import { createMinidumpPlugin } from './plugins/minidump/plugin.ts';
import { createOomCrashPlugin } from './plugins/oomcrash/plugin.ts';
import { createStoragePlugin } from './plugins/storage/plugin.ts';
import { createGpuPlugin, type GpuPluginOptions } from './plugins/gpu/plugin.ts';
import { createIonMemoryPlugin, type IonMemoryPluginOptions } from './plugins/ionmemory/plugin.ts';
import { createDeviceMapperPlugin } from './plugins/devicemapper/plugin.ts';
import { createGamepadPlugin, type GamepadPluginOptions } from './plugins/gamepad/plugin.ts';
import { createTestPlugin } from './plugins/testplugin/plugin.ts';
import { createThunderPlugin } from './plugins/thunder/plugin.ts';
import { createMulticastSocketsPlugin } from './plugins/multicast-sockets.ts';
import { createNetworkingPlugin, NETWORKING_PLUGIN, type NetworkingPlugin } from './plugins/networking/plugin.ts';
import { loadPluginDir } from './plugins/plugin-dir.ts';
import { PluginRegistry } from './plugins/registry.ts';
import type { DobbyPlugin } from './plugins/types.ts';
import { lockStateDir, type StateLock } from './state-lock.ts';
import { asNetworkLookup, containerTargets, createPortActor, type PortActor } from './actors/port-actor.ts';
import { createContainerToHost, createPorts } from './drivers/ports/index.ts';
import { resolveBus } from './drivers/dbus/bus-address.ts';
import { createNsMounter } from './drivers/mount/ns-mount.ts';
import { readContainerStats } from './drivers/stats/reader.ts';
import { readContainerUsage } from './drivers/stats/usage.ts';
import type { AdminHooks, SpecSupport } from './api/dbus/deps.ts';
import type { PortService } from './api/dbus/ports-handlers.ts';
import { startDbusService } from './api/dbus/service.ts';
import type { ContainerManager } from './manager-types.ts';
import { killUnrecoverableLeftovers } from './leftover-cleanup.ts';
import { bundlePidsLimitOf, networkOptionsOf, specConversionOf } from './settings/apply.ts';
import type { DobbySettings } from './settings/types.ts';

export interface Daemon {
  readonly manager: Manager;
  readonly stateDir: string;
  /** The installed plugins (built-in and from the plugin dir) and the plugin files that were skipped. */
  readonly plugins: PluginRegistry;
  /** The port manager (org.rdk.dobby.ports1, portForwarding): ports go with their containers. */
  readonly ports: PortActor;
  /**
   * Rebuilds an actor for every container an earlier daemon left. Called once the API serves, so
   * the signals for containers that ended meanwhile reach the bus.
   */
  adoptLeftovers(): Promise<void>;
  /**
   * D-Bus SetAIDbusAddress: true when the bus answers there; from then on the ipc plugin gives
   * containers that ask for `ai-private` (privateBus) or `ai-public` that bus.
   */
  setAIDbusAddress(privateBus: boolean, address: string): Promise<boolean>;
  /** Stops the containers (unless kept), then releases everything the daemon holds. */
  close(options?: { keepContainers?: boolean }): Promise<void>;
}

/** The runtime's and the monitor's directories under the daemon's state dir. */
export function stateLayout(stateDir: string) {
  return {
    runtimeRoot: join(stateDir, 'runtime'),
    /** The link to the runtime binary's sealed copy. */
    runtimeExecDir: join(stateDir, 'exec'),
    monitorDir: join(stateDir, 'monitor'),
    logsDir: join(stateDir, 'logs'),
    recordsDir: join(stateDir, 'containers'),
    bundlesDir: join(stateDir, 'bundles'),
    /** Per-launch OCI configs (`<id>.json`), never inside a caller's bundle. */
    launchConfigsDir: join(stateDir, 'configs'),
  };
}

/**
 * The init spec containers run under: Debian's static tini (forwards signals, reaps, exits 128+N), the host's in a
 * checkout, the release tree's own copy (libexec/DobbyInit) in a release.
 */
export const CONTAINER_INIT = installLayout().containerInit;

export const realCgroupProbe: CgroupProbe = {
  pathsOf: (pid) => cgroupPathsOfPid(pid),
  oomKillCount: (paths) => oomKillCount(paths),
  // crun's default cgroup of a container is /<id> in each hierarchy.
  removeLeftovers: async (id) => void (await removeEmptyCgroups(`/${id}`)),
};

/** What the composition root is given beyond the command line (tests add their own plugins here). */
export interface DaemonExtras {
  /** Installed before the plugin dir is read, after the built-in plugins. */
  readonly plugins?: readonly DobbyPlugin[];
  /** A named network namespace the port drivers treat as the host (tests). */
  readonly portsHostNetns?: string;
  /** Dobby's settings file, loaded (daemon-main loads it); without it, dobbyd's own defaults. */
  readonly settings?: DobbySettings;
  /** Host facts for the built-in plugins beyond the settings (tests point them at hosts they simulate). */
  readonly builtinPlugins?: BuiltinPluginSettings;
}

/**
 * The built-in plugins. They are registered before the plugin dir is read, so a plugin file
 * cannot replace one of them (the registry refuses a second plugin of the same name).
 */
export function registerBuiltinPlugins(registry: PluginRegistry, _logger: Logger, settings: BuiltinPluginSettings = {}): void {
  registry.register(createMulticastSocketsPlugin());
  registry.register(createLoggingPlugin());
  registry.register(createIpcPlugin(settings.ipc));
  registry.register(createLocalTimePlugin());
  registry.register(createRtSchedulingPlugin());
  const stateDir = settings.stateDir ?? DEFAULT_PLUGIN_STATE_DIR;
  registry.register(createStoragePlugin({ mountsDir: join(stateDir, 'storage') }));
  registry.register(createOomCrashPlugin());
  registry.register(createMinidumpPlugin({ workDir: join(stateDir, 'minidump') }));
  registry.register(createGpuPlugin(settings.gpu));
  registry.register(createIonMemoryPlugin(settings.ionmemory));
  registry.register(createDeviceMapperPlugin());
  registry.register(createGamepadPlugin(settings.gamepad));
  registry.register(createHttpProxyPlugin({
    workDir: join(stateDir, 'httpproxy'), ...(settings.bridgeAddress === undefined ? {} : { bridgeAddress: settings.bridgeAddress }),
  }));
  registry.register(createTestPlugin());
  const networkOf = settings.networkOf ?? ((): null => null);
  registry.register(createAppServicesPlugin({ access: new HostServiceAccess({ tag: 'AS', ...hostNetnsOf(settings) }), networkOf }));
  registry.register(createThunderPlugin({
    access: new HostServiceAccess({ tag: 'THUNDER', ...hostNetnsOf(settings) }), networkOf,
    ...(settings.bridgeAddress === undefined ? {} : { bridgeAddress: settings.bridgeAddress }),
  }));
}

/** Where storage mounts images and minidump keeps its buffers when not told: Dobby's /run/dobby. */
const DEFAULT_PLUGIN_STATE_DIR = '/run/dobby';

/** What the daemon's settings tell the built-in plugins (host bus sockets, ...). */
export interface BuiltinPluginSettings {
  readonly ipc?: IpcPluginOptions;
  /** The daemon's state dir: storage's image mounts, minidump's buffers and httpproxy's CA bundles live below it. */
  readonly stateDir?: string;
  /** The settings' gpu device nodes, and where the gpu cgroup controller is looked for. */
  readonly gpu?: GpuPluginOptions;
  readonly ionmemory?: IonMemoryPluginOptions;
  /** Where the host's input devices and group database are. */
  readonly gamepad?: GamepadPluginOptions;
  /** The networking plugin's view of a container (appservicesrdk opens host ports to its address). */
  readonly networkOf?: NetworkOf;
  /** The networking plugin's bridge address (thunder's THUNDER_ACCESS, httpproxy's no_proxy). */
  readonly bridgeAddress?: () => string | null;
  /** A named namespace standing in for the host's firewall (tests; as the port manager's). */
  readonly hostNetns?: string;
}

function hostNetnsOf(settings: BuiltinPluginSettings): { hostNetns?: string } {
  return settings.hostNetns === undefined ? {} : { hostNetns: settings.hostNetns };
}

/** The host's system bus is where $DBUS_SYSTEM_BUS_ADDRESS says (as for every libdbus client), else Dobby's path. */
export function pluginSettingsFromEnv(env: NodeJS.ProcessEnv): BuiltinPluginSettings {
  const systemBus = socketPathOf(env['DBUS_SYSTEM_BUS_ADDRESS']);
  return systemBus === null ? {} : { ipc: { systemBus } };
}

export async function startDaemon(options: DaemonOptions, logger: Logger, extras: DaemonExtras = {}): Promise<Daemon> {
  const layout = stateLayout(options.stateDir);
  // Traversable (not readable) by everyone when we create it: spec containers run as unprivileged
  // host uids and must reach their rootfs under bundles/; the runtime and monitor dirs stay 0700.
  await mkdir(options.stateDir, { recursive: true, mode: 0o711 });
  const lock: StateLock = await lockStateDir(options.stateDir);
  try {
    await mkdir(layout.runtimeRoot, { recursive: true, mode: 0o700 });
    await mkdir(layout.monitorDir, { recursive: true, mode: 0o700 });
    await mkdir(layout.logsDir, { recursive: true, mode: 0o755 });
    // Made here, not by the first start that needs one: with Dobby's pids default most bundle starts do.
    await mkdir(layout.launchConfigsDir, { recursive: true, mode: 0o700 });
    const runtime = new OciCliRuntime({ binary: options.runtime, root: layout.runtimeRoot, execDir: layout.runtimeExecDir, logger: logger.child({ driver: 'runtime' }) });
    const monitor = new ConmonMonitor({ runtime, stateDir: layout.monitorDir, logger: logger.child({ driver: 'monitor' }) });
    const records = new FileContainerRecords(layout.recordsDir);
    const consoleSinks = new ConsoleSinks({ dir: layout.launchConfigsDir, logger: logger.child({ driver: 'console' }) });
    const plugins = new PluginRegistry();
    registerBuiltinPlugins(plugins, logger, {
      ...pluginSettingsFromEnv(process.env), stateDir: options.stateDir,
      gpu: { devNodes: extras.settings?.gpu?.devNodes ?? [] },
      networkOf: (id) => (plugins.get(NETWORKING_PLUGIN) as Partial<NetworkingPlugin> | undefined)?.addressOf?.(id) ?? null,
      bridgeAddress: () => (plugins.get(NETWORKING_PLUGIN) as Partial<NetworkingPlugin> | undefined)?.bridgeIpv4 ?? null,
      ...(extras.portsHostNetns === undefined ? {} : { hostNetns: extras.portsHostNetns }),
      ...extras.builtinPlugins,
    });
    // Built in unless the embedder brings its own (tests give one whose "host" is a namespace of theirs).
    if (!(extras.plugins ?? []).some((p) => p.name.toLowerCase() === NETWORKING_PLUGIN)) {
      plugins.register(createNetworkingPlugin({
        stateDir: join(options.stateDir, 'network'), logger: logger.child({ plugin: NETWORKING_PLUGIN }),
        ...(extras.settings === undefined ? {} : networkOptionsOf(extras.settings)),
      }));
    }
    for (const plugin of extras.plugins ?? []) plugins.register(plugin, 'the daemon embedder');
    await loadPluginDir(options.pluginDir, plugins, logger);
    logger.info({ plugins: plugins.list().map((p) => ({ name: p.name, source: p.source })), skipped: plugins.problems() }, 'plugins installed');
    const specBundles = new SpecBundles({
      dir: layout.bundlesDir, initPath: CONTAINER_INIT, ...(extras.settings === undefined ? {} : { settings: specConversionOf(extras.settings) }),
    });
    const startedAt = Date.now();
    const manager = createContainerManager({
      runtime,
      monitor,
      cgroups: realCgroupProbe,
      records,
      specBundles,
      launchConfigs: new LaunchConfigs({
        dir: layout.launchConfigsDir, containerInit: CONTAINER_INIT,
        ...(extras.settings === undefined ? {} : { defaultPidsLimit: bundlePidsLimitOf(extras.settings) }),
      }),
      consoleSinks,
      logger,
      stateDir: options.stateDir,
      stopGraceMs: options.stopGraceMs,
      maxRuntimeProcesses: options.maxRuntimeProcesses,
      restartPolicy: { ...DEFAULT_RESTART_POLICY, initialDelayMs: options.restartDelayMs, maxDelayMs: options.restartMaxDelayMs },
      plugins,
      hookTimeoutMs: options.hookTimeoutMs,
    });
    const network = asNetworkLookup(plugins.get('networking'));
    const ports = createPortActor({
      ports: createPorts({
        resolveTarget: containerTargets(manager, network),
        logger: logger.child({ driver: 'ports' }),
        ...(extras.portsHostNetns === undefined ? {} : { hostNetns: extras.portsHostNetns }),
      }),
      containerEvents$: manager.events$,
      ...(network?.events$ === undefined ? {} : { networkEvents$: network.events$ }),
      containerToHost: createContainerToHost({
        logger: logger.child({ driver: 'ports' }),
        ...(extras.portsHostNetns === undefined ? {} : { hostNetns: extras.portsHostNetns }),
      }),
      logger: logger.child({ component: 'ports' }),
    });
    let closed = false;
    return {
      manager,
      stateDir: options.stateDir,
      plugins,
      ports,
      setAIDbusAddress: async (privateBus, address) => {
        const bus = privateBus ? 'ai-private' : 'ai-public';
        const problem = await busProblem(address, 2_000);
        if (problem !== undefined) {
          logger.warn({ address, bus }, `SetAIDbusAddress: ${problem.what}`);
          return false;
        }
        const ipc = plugins.get(IPC_PLUGIN);
        if (isIpcPlugin(ipc) && !ipc.setAiBus(bus, address)) {
          logger.warn({ address, bus }, `SetAIDbusAddress: ${address} names no socket file, so containers asking for ${bus} cannot be given it`);
        } else {
          logger.info({ address, bus }, `the ${bus} bus is at ${address}`);
        }
        return true;
      },
      adoptLeftovers: async () => {
        await killUnrecoverableLeftovers({ runtime, monitor, logger });
        await adoptLeftovers(manager, runtime, records, logger, {
          dir: layout.bundlesDir, before: startedAt, remove: (bundle) => specBundles.remove(bundle),
        });
        // Rebuilt from the rules an earlier dobbyd left: the ports of the containers just adopted stay.
        await ports.recover((id) => manager.findById(id) !== undefined).catch((err: unknown) => logger.error({ err }, 'could not take over the ports an earlier dobbyd left'));
      },
      async close(closeOptions = {}) {
        if (closed) return;
        closed = true;
        if (closeOptions.keepContainers !== true) await manager.shutdown();
        // Containers left running keep their nat ports (the next dobbyd takes them over); proxies end with us.
        await ports.close({ keep: closeOptions.keepContainers === true });
        manager.close();
        monitor.close();
        // Containers left running keep their sink plans: the next daemon follows them again.
        await consoleSinks.detachAll();
        await lock.release();
      },
    };
  } catch (err) {
    await lock.release();
    throw err instanceof DobbyError ? err : new DobbyError('INTERNAL', `dobbyd could not start: ${String(err)}`, { cause: err });
  }
}

/** Where generated bundles live, for sweeping the ones no container owns any more. */
export interface LeftoverBundles {
  readonly dir: string;
  remove(bundle: string): Promise<void>;
  /** Only bundles older than this (ms since the epoch) are swept: newer ones belong to starts in flight. */
  readonly before: number;
}

/**
 * Rebuilds from the host, never from a saved snapshot: every container the runtime still has in our
 * root, and every one we had a record of, gets an actor that finds out what is true of it now. A
 * stop the last daemon had begun is finished; generated bundles no record owns are removed.
 */
export async function adoptLeftovers(
  manager: Manager, runtime: OciRuntime, records: ContainerRecords, logger: Logger, bundles?: LeftoverBundles,
): Promise<void> {
  const [known, present] = await Promise.all([records.list(), runtime.list().catch(() => [])]);
  const byId = new Map(known.map((r) => [r.id, r]));
  const ids = new Set([...known.map((r) => r.id), ...present.map((s) => s.id)]);
  for (const id of [...ids].sort()) {
    const record = byId.get(id);
    logger.info({ containerId: id, descriptor: record?.descriptor }, 'adopting a container left by an earlier daemon');
    manager.adopt(id, record?.descriptor);
    const descriptor = manager.findById(id)?.descriptor;
    if (record?.stop !== undefined && descriptor !== undefined) {
      logger.info({ containerId: id, force: record.stop.force }, 'finishing the stop an earlier daemon began');
      void manager.stop(descriptor, record.stop.force).catch((err: unknown) => logger.warn({ err, containerId: id }, 'could not finish the stop'));
    }
  }
  if (bundles !== undefined) await sweepBundles(bundles, new Set(known.map((r) => r.bundle)), logger);
}

async function sweepBundles(bundles: LeftoverBundles, owned: ReadonlySet<string>, logger: Logger): Promise<void> {
  const names = await readdir(bundles.dir).catch(() => [] as string[]);
  for (const name of names) {
    const path = join(bundles.dir, name);
    if (owned.has(path)) continue;
    const info = await stat(path).catch(() => null);
    if (info === null || !info.isDirectory() || info.mtimeMs >= bundles.before) continue;
    logger.info({ bundle: path }, 'removing a generated bundle no container owns');
    await bundles.remove(path).catch((err: unknown) => logger.warn({ err, bundle: path }, 'could not remove a leftover bundle'));
  }
}

export interface ApiOptions extends Partial<AdminHooks> {
  readonly manager: ContainerManager & Partial<SpecSupport>;
  readonly logger: Logger;
  /** org.rdk.dobby.ports1's port manager. */
  readonly ports?: PortService;
  /** Where a private bus keeps its config, socket and pid file (`<stateDir>/dbus`). */
  readonly stateDir: string;
  /** --dbus-address; else $DBUS_SYSTEM_BUS_ADDRESS, else the system bus. */
  readonly dbusAddress: string | null;
  readonly privateBus: boolean;
  readonly onShutdown: () => void;
  /** The bus connection is gone for good (the daemon should exit and be restarted). */
  readonly onBusLost?: (reason: unknown) => void;
  /** Container calls wait for it (see DbusServiceOptions.ready): the leftovers' adoption. */
  readonly ready?: Promise<unknown>;
  readonly env?: NodeJS.ProcessEnv;
}

export interface Api {
  /** The private bus's address (for the `DBUS_ADDRESS=` line), or null when serving on an existing bus. */
  readonly address: string | null;
  /** The address served on, whichever bus it is. */
  readonly busAddress: string;
  /** Stops serving, then ends the private bus if dobbyd started one. */
  close(): Promise<void>;
}

/** The daemon's entry to the API: pick or start the bus, serve org.rdk.dobby on it over the host's drivers, and tear both down on close. */
export async function startApi(options: ApiOptions): Promise<Api> {
  const bus = await resolveBus({ dbusAddress: options.dbusAddress, privateBus: options.privateBus, stateDir: options.stateDir }, options.env);
  try {
    const service = await startDbusService({
      ...options,
      address: bus.address,
      mounter: createNsMounter(),
      readStats: (pid) => readContainerStats(pid),
      readUsage: (pid) => readContainerUsage(pid),
    });
    let closing: Promise<void> | null = null;
    return {
      address: bus.privateBus?.address ?? null,
      busAddress: bus.address,
      close: () => (closing ??= (async () => {
        await service.close();
        await bus.privateBus?.stop();
      })()),
    };
  } catch (err) {
    await bus.privateBus?.stop();
    throw err;
  }
}
