// The real storage driver: images through e2fsprogs/xfsprogs and attr, loop devices and mounts through util-linux.

import { ImageTools, type ImageToolPaths } from './image-tools.ts';
import { LoopMounts, type LoopMountTools } from './loop-mounts.ts';
import type { StorageDriver } from './types.ts';

export interface HostStorageOptions {
  readonly imageTools?: Partial<ImageToolPaths>;
  readonly loopMountTools?: Partial<LoopMountTools>;
}

export function hostStorage(options: HostStorageOptions = {}): StorageDriver {
  const images = new ImageTools(options.imageTools);
  const loops = new LoopMounts(options.loopMountTools);
  return {
    checkImage: (image, uid, fstype) => images.check(image, uid, fstype),
    createImage: (image, uid, size, fstype) => images.create(image, uid, size, fstype),
    attach: (image) => loops.attach(image),
    attachedTo: (image) => loops.attachedTo(image),
    detach: (device) => loops.detach(device),
    awaitRelease: (device) => loops.awaitRelease(device),
    mount: (m) => loops.mount(m.device, m.target, m.fstype, m.options),
    unmount: (target) => loops.unmount(target),
    mountsUnder: (dir) => loops.mountsUnder(dir),
  };
}
