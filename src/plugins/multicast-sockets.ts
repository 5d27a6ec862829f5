// The MulticastSockets plugin: host-side UDP multicast sockets passed into a container as descriptors.
//
// At postConstruction it opens one server socket per `serverSockets` entry (bound to the group and
// joined to it on the host) and one client socket per `clientSockets` entry, passes each in and
// names its number in `MCAST_SERVER_SOCKET_<name>_FD` / `MCAST_CLIENT_SOCKET_<name>_FD`, so an app
// in a container with its own network namespace can still take part in the host's multicast
// (SSDP, mDNS). The daemon's copies are closed when the container stops (postStop), or at
// preDestruction when it never got that far; the container's copies die with it.

import { DobbyError } from '../errors.ts';
import { NodeMulticastSockets } from '../drivers/sockets/multicast-sockets.ts';
import type { MulticastSocketDriver, OpenSocket } from '../drivers/sockets/types.ts';
import { clientEnvName, parseMulticastSocketsData, serverEnvName } from './multicast-sockets-config.ts';
import { HookHint, type DobbyPlugin, type HookContext, type StartState } from './types.ts';

export const MULTICAST_SOCKETS_PLUGIN = 'MulticastSockets';

export interface MulticastSocketsPluginOptions {
  /** Where sockets come from; node:dgram sockets unless a test gives a fake. */
  readonly driver?: MulticastSocketDriver;
}

/** One socket a container was given: its env variable, its number inside and the daemon's copy. */
export interface PassedSocket {
  readonly env: string;
  readonly containerFd: number;
  readonly socket: OpenSocket;
}

export interface MulticastSocketsPlugin extends DobbyPlugin {
  /** The sockets a container holds through this plugin now (empty once they are closed). */
  passed(containerId: string): readonly PassedSocket[];
}

/** The factory the composition root registers. */
export function createMulticastSocketsPlugin(options: MulticastSocketsPluginOptions = {}): MulticastSocketsPlugin {
  const driver = options.driver ?? new NodeMulticastSockets();
  const byContainer = new Map<string, readonly PassedSocket[]>();

  const closeFor = (ctx: HookContext, hook: string): void => {
    const passed = byContainer.get(ctx.id);
    if (passed === undefined) return;
    byContainer.delete(ctx.id);
    for (const p of passed) p.socket.close();
    ctx.logger.info({ hook, sockets: passed.map((p) => p.env) }, `closed ${passed.length} multicast socket(s)`);
  };

  const openAll = async (ctx: HookContext, startState: StartState): Promise<readonly PassedSocket[]> => {
    const parsed = parseMulticastSocketsData(ctx.data);
    if (!parsed.ok) {
      throw new DobbyError('INVALID_ARGUMENT', `${MULTICAST_SOCKETS_PLUGIN} plugin data for container '${ctx.id}': ${parsed.message}`, { containerId: ctx.id });
    }
    const opened: { env: string; socket: OpenSocket }[] = [];
    try {
      for (const spec of parsed.config.serverSockets) {
        checkNotAborted(ctx);
        opened.push({ env: serverEnvName(spec.name), socket: await driver.openServer(spec) });
      }
      for (const spec of parsed.config.clientSockets) {
        checkNotAborted(ctx);
        opened.push({ env: clientEnvName(spec.name), socket: await driver.openClient() });
      }
      // Checked once more before handing anything over: a hook that timed out must not add fds late.
      checkNotAborted(ctx);
      return opened.map(({ env, socket }) => {
        const containerFd = startState.addFileDescriptor(MULTICAST_SOCKETS_PLUGIN, socket.fd);
        startState.addEnvironmentVariable(`${env}=${containerFd}`);
        return { env, containerFd, socket };
      });
    } catch (err) {
      for (const { socket } of opened) socket.close();
      if (err instanceof DobbyError && err.containerId === undefined) {
        throw new DobbyError(err.code, `${MULTICAST_SOCKETS_PLUGIN} for container '${ctx.id}': ${err.message}`, { containerId: ctx.id, cause: err });
      }
      throw err;
    }
  };

  return {
    name: MULTICAST_SOCKETS_PLUGIN,
    hookHints: HookHint.PostConstructionSync | HookHint.PostStopSync | HookHint.PreDestructionSync,
    // It closes the daemon's own copies of the sockets.
    teardownBesideRuntime: true,

    async postConstruction(ctx, startState) {
      // Sockets left from an earlier start of the same id that never reached postStop/preDestruction.
      closeFor(ctx, 'postConstruction');
      const passed = await openAll(ctx, startState);
      if (passed.length === 0) return;
      byContainer.set(ctx.id, passed);
      ctx.logger.info({ sockets: passed.map((p) => ({ env: p.env, fd: p.containerFd, local: p.socket.local })) },
        `passing ${passed.length} multicast socket(s) into the container`);
    },

    postStop(ctx) {
      closeFor(ctx, 'postStop');
    },

    preDestruction(ctx) {
      closeFor(ctx, 'preDestruction');
    },

    passed(containerId) {
      return byContainer.get(containerId) ?? [];
    },
  };
}

function checkNotAborted(ctx: HookContext): void {
  if (ctx.signal.aborted) {
    throw new DobbyError('ABORTED', `${MULTICAST_SOCKETS_PLUGIN} for container '${ctx.id}': the hook was given up before its sockets were passed in`, { containerId: ctx.id });
  }
}
