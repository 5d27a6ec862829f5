// One loopback entry of the storage plugin on the host: the image made or checked (Dobby's image
// manager), attached to a loop device, mounted at a directory of the daemon's, and the device set to
// detach itself once its last mount is gone, so no path out of the container leaves it attached.

import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DobbyError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import type { StorageDriver } from '../../drivers/storage/types.ts';
import { isManagedFsType, type LoopbackMount } from './data.ts';

/** Serialises the work on each image within this daemon: two starts never mkfs or fsck one image at once. */
export class ImageLocks {
  readonly #tails = new Map<string, Promise<unknown>>();

  async with<T>(image: string, work: () => Promise<T>): Promise<T> {
    const before = this.#tails.get(image) ?? Promise.resolve();
    const result = before.catch(() => undefined).then(work);
    const tail = result.catch(() => undefined);
    this.#tails.set(image, tail);
    try {
      return await result;
    } finally {
      if (this.#tails.get(image) === tail) this.#tails.delete(image);
    }
  }
}

export interface LoopImageInput {
  readonly entry: LoopbackMount;
  /** `storage.data.loopback[i]`, for errors. */
  readonly field: string;
  readonly ownerUid: number;
  /** An empty directory of the daemon's to mount the image on. */
  readonly target: string;
  readonly signal: AbortSignal;
}

function checkNotAborted(signal: AbortSignal, field: string): void {
  if (signal.aborted) throw new DobbyError('ABORTED', `${field}: the hook was given up before the image was mounted`);
}

/** Makes the image usable: Dobby's check, and a fresh image when the check fails. */
async function prepareImage(driver: StorageDriver, input: LoopImageInput, log: Logger): Promise<void> {
  const { entry, field } = input;
  if (!entry.imgmanagement) {
    const info = await stat(entry.source).catch(() => null);
    if (info === null || !info.isFile()) {
      throw new DobbyError('INVALID_ARGUMENT', `${field}.source ${entry.source} is not an image file; with "imgmanagement": false the image must exist`);
    }
    return;
  }
  if (!isManagedFsType(entry.fstype)) throw new DobbyError('INTERNAL', `${field}.fstype ${entry.fstype} passed the data check unmanaged`);
  const check = await driver.checkImage(entry.source, input.ownerUid, entry.fstype);
  if (check.ok) {
    for (const note of check.notes) log.warn({ image: entry.source }, note);
    if (check.repaired) log.warn({ image: entry.source }, 'the image had filesystem errors; e2fsck corrected them');
    return;
  }
  log.warn({ image: entry.source, reason: check.reason }, `making a new ${entry.fstype} image of ${entry.imgsize} bytes`);
  checkNotAborted(input.signal, field);
  await mkdir(dirname(entry.source), { recursive: true, mode: 0o755 });
  try {
    for (const note of await driver.createImage(entry.source, input.ownerUid, entry.imgsize, entry.fstype)) log.warn({ image: entry.source }, note);
  } catch (err) {
    throw new DobbyError('INVALID_ARGUMENT', `${field}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/**
 * Mounts the entry's image at `target`. An image another container of this host already has
 * attached is mounted from the same device (one filesystem, never two loop devices on one image)
 * and not checked (it is in use). On failure nothing of this call is left attached or mounted.
 */
export async function mountLoopImage(driver: StorageDriver, locks: ImageLocks, input: LoopImageInput, log: Logger): Promise<void> {
  const { entry, field } = input;
  await locks.with(entry.source, async () => {
    const shared = await driver.attachedTo(entry.source);
    if (shared.length === 0) await prepareImage(driver, input, log);
    checkNotAborted(input.signal, field);
    const device = shared[0] ?? (await driver.attach(entry.source));
    const attachedHere = shared.length === 0;
    try {
      checkNotAborted(input.signal, field);
      await driver.mount({ device, target: input.target, fstype: entry.fstype, options: [...entry.flags.all, ...entry.options] });
    } catch (err) {
      if (attachedHere) await driver.detach(device).catch((e: unknown) => log.error({ err: e, device }, 'could not detach the loop device after a failed mount'));
      if (err instanceof DobbyError && err.code === 'ABORTED') throw err;
      throw new DobbyError('INVALID_ARGUMENT', `${field}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    // Mounted: the kernel now detaches the device by itself when the last mount of it goes.
    if (attachedHere) await driver.detach(device);
    log.info({ image: entry.source, device, shared: !attachedHere }, 'image mounted');
  });
}
