// The `thunder` plugin (Dobby's Thunder): the container reaches the host's Thunder (WPEFramework)
// on port 9998. With the networking plugin's nat network, `THUNDER_ACCESS` is the bridge address (from
// the configured range, known before the network is there) and
// the host rules (src/drivers/ports/host-service-access.ts, chains of the container's own) DNAT that
// port, and only it, to the host's 127.0.0.1:9998; otherwise `THUNDER_ACCESS=127.0.0.1:9998`.
// Thunder's `/tmp/communicator` socket (and, when `trusted`, SecurityAgent's token socket) is bound
// read-only where the host has it.
//
// postConstruction (Dobby's postInstallation) sets the env and the mounts; preStart (createRuntime)
// opens the port; postStop (postHalt) and preDestruction close it from the rules alone.
// Not done as Dobby: a missing /tmp/communicator is a warning (Dobby fails the start); `bearerUrl`
// tokens need SecurityAgent support, which dobbyd lacks (Dobby's build without it logs an error
// and goes on, as here); the /etc/hosts and /etc/services lines are not written into the rootfs;
// /tmp/SecurityAgent is not made world-traversable.

import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { natNetworkOf, type HostServicePluginOptions } from '../host-service-network.ts';
import { dataOf } from '../data-reader.ts';
import { ensureMountPoint } from '../mount-point.ts';
import { HookHint, type DobbyPlugin, type HookContext } from '../types.ts';
import { parseThunderData, THUNDER_PLUGIN } from './data.ts';

export const THUNDER_PORT = 9998;
/** Dobby's bridge address, which THUNDER_ACCESS names for a nat container when the networking plugin says none. */
export const THUNDER_BRIDGE_ADDRESS = '100.64.11.1';
const COMMUNICATOR = '/tmp/communicator';
const SECURITY_TOKEN_SOCKET = '/tmp/SecurityAgent/token';
const MOUNT_OPTIONS = ['bind', 'ro', 'nosuid', 'nodev', 'noexec'];

/** The networking `type` the container's config asks for (null: no networking plugin). */
async function networkingType(ctx: HookContext): Promise<string | null> {
  if (ctx.bundle === undefined) return null;
  const config = JSON.parse(await readFile(join(ctx.bundle, 'config.json'), 'utf8')) as { rdkPlugins?: Record<string, { data?: { type?: unknown } } | null> };
  const entry = Object.entries(config.rdkPlugins ?? {}).find(([name]) => name.toLowerCase() === 'networking')?.[1];
  return typeof entry?.data?.type === 'string' ? entry.data.type : null;
}

async function isSocket(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null))?.isSocket() === true;
}

export function createThunderPlugin(options: HostServicePluginOptions): DobbyPlugin {
  const close = async (ctx: { readonly id: string }): Promise<void> => options.access.close(ctx.id);
  return {
    name: THUNDER_PLUGIN,
    hookHints: HookHint.PostConstructionSync | HookHint.PreStartSync | HookHint.PostStopSync | HookHint.PreDestructionSync,
    // Every step is an iptables/sysctl run with a time limit of its own; a half-removed set must not outlive the container.
    awaitedTeardown: true,
    checkData: (data) => parseThunderData(data).warnings,

    async postConstruction(ctx, startState) {
      const data = dataOf(ctx, parseThunderData);
      const nat = (await networkingType(ctx)) === 'nat';
      const bridge = options.bridgeAddress?.() ?? THUNDER_BRIDGE_ADDRESS;
      startState.addEnvironmentVariable(`THUNDER_ACCESS=${nat ? bridge : '127.0.0.1'}:${THUNDER_PORT}`);
      const sockets = [...(data.trusted ? [SECURITY_TOKEN_SOCKET] : []), COMMUNICATOR];
      for (const socket of sockets) {
        if (!(await isSocket(socket))) {
          ctx.logger.warn({ socket }, `the host has no socket at ${socket}; the container does not get it`);
          continue;
        }
        await ensureMountPoint(ctx.rootfs, socket, 'file');
        startState.addMount({ source: socket, destination: socket, type: 'bind', options: [...MOUNT_OPTIONS] });
      }
      if (data.bearerUrl !== null) ctx.logger.error({ bearerUrl: data.bearerUrl }, 'thunder.data.bearerUrl: no security token, dobbyd has no SecurityAgent support (as a Dobby built without it)');
    },

    async preStart(ctx) {
      dataOf(ctx, parseThunderData);
      const n = options.networkOf(ctx.id);
      if (n === null || n.type !== 'nat') return;
      const nat = natNetworkOf(options.networkOf, ctx.id, THUNDER_PLUGIN);
      await options.access.open({ id: ctx.id, netnsPath: nat.netnsPath, ipv4: nat.ipv4, bridgeIpv4: nat.bridgeIpv4, containerInterface: nat.containerInterface }, [THUNDER_PORT], false);
    },

    postStop: close,
    preDestruction: close,
  };
}
