// The `httpproxy` plugin (Dobby's HttpProxy): the container's `http_proxy` (and `no_proxy`) name the
// proxy; a given root CA is put in front of the host's CA bundle, which the container sees at the
// host bundle's own path, read-only.
//
// Dobby writes the combined bundle into the bundle dir; here it is `<workDir>/<id>.crt` in the
// daemon's state dir, so the caller's bundle is never written. postConstruction (Dobby's
// postInstallation + preCreation) writes it and adds the env and the mount; postStop (Dobby's
// postHalt) and preDestruction remove it, so no stop path leaves it (a daemon restarted meanwhile
// still removes it when the adopted container ends).

import { mkdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dataOf } from '../data-reader.ts';
import { ensureMountPoint } from '../mount-point.ts';
import { HookHint, type DobbyPlugin, type HookContext } from '../types.ts';
import { DOBBY_BRIDGE_ADDRESS, HTTPPROXY_PLUGIN, parseHttpProxyData } from './data.ts';

/** Where Debian, and Dobby's targets, keep the CA bundle OpenSSL and curl read. */
export const HOST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

const MOUNT_OPTIONS = ['bind', 'ro', 'nosuid', 'nodev', 'noexec'];

export interface HttpProxyPluginOptions {
  /** Where the per-container CA bundles live (a directory of the daemon's state dir). */
  readonly workDir: string;
  /** The host's CA bundle (the default: HOST_CA_BUNDLE). */
  readonly hostCaBundle?: string;
  /** The networking plugin's bridge address (its range may not be Dobby's); null or absent: Dobby's. */
  readonly bridgeAddress?: () => string | null;
}

export function createHttpProxyPlugin(options: HttpProxyPluginOptions): DobbyPlugin {
  const hostBundle = options.hostCaBundle ?? HOST_CA_BUNDLE;
  const bundleOf = (id: string): string => join(options.workDir, `${id}.crt`);
  const remove = async (ctx: HookContext): Promise<void> => {
    await rm(bundleOf(ctx.id), { force: true });
  };

  return {
    name: HTTPPROXY_PLUGIN,
    hookHints: HookHint.PostConstructionSync | HookHint.PostStopSync | HookHint.PreDestructionSync,
    checkData: (data) => parseHttpProxyData(data).warnings,

    async postConstruction(ctx, startState) {
      const data = dataOf(ctx, parseHttpProxyData);
      startState.addEnvironmentVariable(`http_proxy=http://${data.host}:${data.port}`);
      const noProxy = [...(data.noProxyOnBridge ? [options.bridgeAddress?.() ?? DOBBY_BRIDGE_ADDRESS] : []), ...data.noProxy];
      if (noProxy.length > 0) startState.addEnvironmentVariable(`no_proxy=${noProxy.join(',')}`);
      if (data.rootCaCert === null) return;
      // Dobby mounts at the host bundle's real path (a link's target), so links to it inside resolve as on the host.
      const destination = await realpath(hostBundle).catch(() => hostBundle);
      const hostCerts = await readFile(hostBundle, 'utf8').catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
        throw err;
      });
      const cert = data.rootCaCert.endsWith('\n') ? data.rootCaCert : `${data.rootCaCert}\n`;
      const file = bundleOf(ctx.id);
      try {
        // Traversable by all: a spec container's unprivileged user reaches the bind source through it.
        await mkdir(options.workDir, { recursive: true, mode: 0o711 });
        await writeFile(file, cert + hostCerts, { mode: 0o644 });
        await ensureMountPoint(ctx.rootfs, destination, 'file');
        startState.addMount({ source: file, destination, type: 'bind', options: [...MOUNT_OPTIONS] });
      } catch (err) {
        await remove(ctx);
        throw err;
      }
      ctx.logger.debug({ file, destination }, 'proxy root CA added to the container\'s CA bundle');
    },

    postStop: remove,
    preDestruction: remove,
  };
}
