// The storage driver's interface: filesystem images (check, repair, create), loop devices and
// mounts on the host, for the storage plugin's loop-mounted images.

/** The filesystems the image manager can make and check (Dobby's mkfs choice). */
export const MANAGED_FS_TYPES = ['ext2', 'ext3', 'ext4', 'xfs'] as const;
export type ManagedFsType = (typeof MANAGED_FS_TYPES)[number];

export type ImageCheck =
  | { readonly ok: true; readonly repaired: boolean; readonly notes: readonly string[] }
  | { readonly ok: false; readonly reason: string };

export interface LoopMount {
  readonly device: string;
  /** An existing directory on the host. */
  readonly target: string;
  readonly fstype: string;
  /** mount(8) `-o` entries: flag names (ro, nosuid, ...) then the filesystem's own options. */
  readonly options: readonly string[];
}

export interface StorageDriver {
  /**
   * Dobby's check of an image it manages: a regular file whose owner tag (xattr
   * `user.storage.plugin`) is `ownerUid` (not checked where the host has no xattrs), then
   * `e2fsck -f -p` (or `xfs_repair`); errors it corrects are fine.
   */
  checkImage(image: string, ownerUid: number, fstype: ManagedFsType): Promise<ImageCheck>;
  /** Makes a fresh image (temp file, size, mkfs, owner tag) and renames it over `image`; notes for the log. */
  createImage(image: string, ownerUid: number, sizeBytes: number, fstype: ManagedFsType): Promise<readonly string[]>;
  /** Attaches the image to a free loop device (`losetup --find --show`); its path. */
  attach(image: string): Promise<string>;
  /** The loop devices the image is attached to now (`losetup -j`). */
  attachedTo(image: string): Promise<readonly string[]>;
  /**
   * Detaches the device. One still mounted in this mount namespace is left to the kernel, which
   * detaches it once its last mount goes (autoclear); any other is free when this resolves (a
   * TIMEOUT error naming it if the kernel does not release it within a few seconds).
   */
  detach(device: string): Promise<void>;
  /**
   * Resolves once the kernel has freed the device, e.g. an autoclear device whose last mount was in
   * a mount namespace that ended; a TIMEOUT error naming it if that does not come within a few seconds.
   */
  awaitRelease(device: string): Promise<void>;
  mount(mount: LoopMount): Promise<void>;
  /**
   * Unmounts; a mount still busy is detached lazily (gone once nothing uses it). The device under
   * it may outlive this call (another mount namespace may hold it): `detach` or `awaitRelease` say
   * when it is free.
   */
  unmount(target: string): Promise<void>;
  /** Mount points at or below `dir` in this mount namespace, deepest first. */
  mountsUnder(dir: string): Promise<readonly string[]>;
}
