// The `storage` plugin (Dobby's Storage): loop-mounted image files, dynamic bind mounts and mount
// owners, over the plugin hooks, with Dobby's hook timing.
//
// postConstruction (Dobby's preCreation): each loopback image is checked or made, attached and
// mounted at `<mountsDir>/<id>/<n>`, and bound into the container at its destination (crun does
// the bind, as Dobby's createContainer hook does); dynamic mounts whose host source exists are
// bound in too. preStart (createRuntime): the image roots and mountOwner paths get their owners.
// postStart: the host-side mounts go, so only the container's mount namespace holds the images and
// the loop devices (autoclear) are freed by the kernel the moment it ends, whatever ends it
// (a stop, a crash, a daemon that is not there). preDestruction (Dobby's postStop): whatever a
// start that failed early left mounted goes, the loop devices of images no other container of
// ours uses are waited for until the kernel has freed them (the container is not reported gone
// while its device is still attached), and images that are not persistent are deleted.

import { chmod, chown, lstat, mkdir, readdir, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { hostStorage } from '../../drivers/storage/host-storage.ts';
import type { StorageDriver } from '../../drivers/storage/types.ts';
import { dataOf, containerError } from '../data-reader.ts';
import { ensureMountPoint } from '../mount-point.ts';
import { HookHint, type DobbyPlugin, type HookContext } from '../types.ts';
import { bindOptions, parseStorageData, STORAGE_PLUGIN, type StorageData } from './data.ts';
import { ImageUsers } from './image-users.ts';
import { ImageLocks, mountLoopImage } from './loop-image.ts';
import { containerOwner, HOST_OWNER_FILES, resolveOwner, type HostIds, type OwnerFiles } from './owner.ts';

export { STORAGE_PLUGIN } from './data.ts';

export interface StoragePluginOptions {
  /** Where the images are mounted on the host until the container holds them (Dobby: `<rootfs><dest>.temp`). */
  readonly mountsDir: string;
  readonly driver?: StorageDriver;
  /** The host's user and group files, for mountOwner names. */
  readonly ownerFiles?: OwnerFiles;
}

/** What postConstruction worked out for preStart. */
interface Prepared {
  readonly owner: HostIds;
  readonly targets: readonly string[];
  readonly owners: readonly { readonly source: string; readonly ids: HostIds; readonly recursive: boolean }[];
}

async function chownTree(path: string, ids: HostIds): Promise<void> {
  await chown(path, ids.uid, ids.gid);
  const info = await lstat(path);
  if (!info.isDirectory()) return;
  for (const name of await readdir(path)) {
    const child = join(path, name);
    const c = await lstat(child);
    if (c.isSymbolicLink()) continue;
    if (c.isDirectory()) await chownTree(child, ids);
    else await chown(child, ids.uid, ids.gid);
  }
}

export function createStoragePlugin(options: StoragePluginOptions): DobbyPlugin {
  const driver = options.driver ?? hostStorage();
  const ownerFiles = options.ownerFiles ?? HOST_OWNER_FILES;
  const locks = new ImageLocks();
  const prepared = new Map<string, Prepared>();
  /** A postConstruction still running (e.g. past its time limit): teardown waits for it. */
  const inFlight = new Map<string, Promise<unknown>>();
  /** The containers each image is mounted into (an image may be shared): its device is freed with the last. */
  const imageUsers = new ImageUsers(`${options.mountsDir}.users`);
  const dirOf = (id: string): string => join(options.mountsDir, id);

  /** Unmounts whatever is mounted under the container's directory and removes it (never recursively: nothing mounted is ever deleted). */
  const release = async (ctx: HookContext): Promise<void> => {
    const dir = dirOf(ctx.id);
    for (const point of await driver.mountsUnder(dir)) {
      await driver.unmount(point);
      ctx.logger.debug({ point }, 'host-side image mount removed');
    }
    const entries = await readdir(dir).catch(() => [] as string[]);
    for (const name of entries) await rmdir(join(dir, name)).catch((err: unknown) => ctx.logger.warn({ err, path: join(dir, name) }, 'could not remove a mount point'));
    await rmdir(dir).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') ctx.logger.warn({ err, dir }, 'could not remove the mount directory');
    });
  };

  const construct = async (ctx: HookContext, add: (m: { destination: string; source: string; options: string[] }) => void): Promise<void> => {
    const data = dataOf(ctx, parseStorageData);
    const notes: string[] = [];
    const owner = await containerOwner(ctx.bundle, notes);
    for (const n of notes) ctx.logger.warn(n);
    const owners = [];
    for (const [i, o] of data.mountOwner.entries()) {
      const ids = await resolveOwner(o.user, o.group, owner, ownerFiles, `storage.data.mountOwner[${i}]`).catch((err: unknown) => {
        throw containerError(ctx.id, err);
      });
      owners.push({ source: o.source, ids, recursive: o.recursive });
    }
    await release(ctx);
    const dir = dirOf(ctx.id);
    const targets: string[] = [];
    try {
      if (data.loopback.length > 0) {
        // Traversable by the container's (mapped) root, which does the bind inside its user namespace.
        await mkdir(options.mountsDir, { recursive: true, mode: 0o711 });
        await mkdir(dir, { mode: 0o711 });
      }
      for (const [i, entry] of data.loopback.entries()) {
        const target = join(dir, String(i));
        await mkdir(target, { mode: 0o711 });
        await mountLoopImage(driver, locks, { entry, field: `storage.data.loopback[${i}]`, ownerUid: owner.uid, target, signal: ctx.signal }, ctx.logger);
        await imageUsers.add(entry.source, ctx.id);
        targets.push(target);
        await ensureMountPoint(ctx.rootfs, entry.destination, 'directory');
        add({ destination: entry.destination, source: target, options: bindOptions(entry.flags, false) });
      }
    } catch (err) {
      await release(ctx).catch((e: unknown) => ctx.logger.error({ err: e }, 'could not undo the image mounts of a failed start'));
      throw containerError(ctx.id, err);
    }
    for (const [i, d] of data.dynamic.entries()) {
      const source = await stat(d.source).catch(() => null);
      if (source === null) {
        ctx.logger.info({ source: d.source }, `storage.data.dynamic[${i}]: ${d.source} does not exist on the host; not mounted`);
        continue;
      }
      await ensureMountPoint(ctx.rootfs, d.destination, source.isDirectory() ? 'directory' : 'file');
      add({ destination: d.destination, source: d.source, options: bindOptions(d.flags, d.flags.recursive, d.options) });
    }
    prepared.set(ctx.id, { owner, targets, owners });
  };

  return {
    name: STORAGE_PLUGIN,
    hookHints: HookHint.PostConstructionSync | HookHint.PreStartSync | HookHint.PostStartSync | HookHint.PreDestructionSync,
    checkData: (data) => parseStorageData(data).warnings,

    async postConstruction(ctx, startState) {
      prepared.delete(ctx.id);
      const work = construct(ctx, (m) => startState.addMount({ destination: m.destination, type: 'bind', source: m.source, options: m.options }));
      inFlight.set(ctx.id, work.catch(() => undefined));
      try {
        await work;
      } finally {
        inFlight.delete(ctx.id);
      }
    },

    async preStart(ctx) {
      const p = prepared.get(ctx.id);
      // Its postConstruction failed and the plugin is optional: the container runs without its mounts.
      if (p === undefined) return;
      // Dobby: the image root belongs to the container's user, or is open to all when it is (mapped) root.
      for (const target of p.targets) {
        if (p.owner.uid === 0 || p.owner.gid === 0) await chmod(target, 0o777);
        else await chown(target, p.owner.uid, p.owner.gid);
      }
      for (const o of p.owners) {
        if ((await lstat(o.source).catch(() => null)) === null) continue;
        if (o.recursive) await chownTree(o.source, o.ids);
        else await chown(o.source, o.ids.uid, o.ids.gid);
      }
    },

    async postStart(ctx) {
      await release(ctx);
    },

    async preDestruction(ctx) {
      await inFlight.get(ctx.id);
      prepared.delete(ctx.id);
      await release(ctx);
      let data: StorageData | null = null;
      try {
        data = dataOf(ctx, parseStorageData);
      } catch {
        // Bad data never mounted anything; nothing more to undo.
      }
      let unreleased: unknown = null;
      for (const entry of data?.loopback ?? []) {
        if (await imageUsers.drop(entry.source, ctx.id)) continue;
        // The container's mount namespace held the only mount: the kernel frees the device as it ends, a moment after the stop.
        for (const device of await driver.attachedTo(entry.source)) {
          await driver.awaitRelease(device).catch((err: unknown) => {
            ctx.logger.error({ err, device, image: entry.source }, 'the loop device of the image was not freed');
            unreleased ??= err;
          });
        }
      }
      for (const entry of data?.loopback ?? []) {
        if (entry.persistent) continue;
        await rm(entry.source, { force: true });
        ctx.logger.info({ image: entry.source }, 'image removed (not persistent)');
      }
      if (unreleased !== null) throw containerError(ctx.id, unreleased);
    },
  };
}
