// The CPUs a release is built for: Node's name (the release tree's), Debian's, the GNU cross toolchain, ELF's.

import { openSync, readSync, closeSync } from 'node:fs';

export interface TargetArch {
  /** Node's distribution name, in the release tree's name: dobby-ts-<version>-linux-<node>. */
  readonly node: 'x64' | 'arm64' | 'armv7l';
  /** node-gyp's --arch (process.arch on the target). */
  readonly gyp: 'x64' | 'arm64' | 'arm';
  /** Debian's architecture (the package's). */
  readonly debian: 'amd64' | 'arm64' | 'armhf';
  /** The GNU triplet of Debian's cross toolchain (gcc-<triplet>, g++-<triplet>). */
  readonly triplet: string;
  /** ELF e_machine and class (32 or 64 bit) of its binaries. */
  readonly elfMachine: number;
  readonly elfBits: 32 | 64;
}

export const ARCHES: readonly TargetArch[] = [
  { node: 'x64', gyp: 'x64', debian: 'amd64', triplet: 'x86_64-linux-gnu', elfMachine: 62, elfBits: 64 },
  { node: 'arm64', gyp: 'arm64', debian: 'arm64', triplet: 'aarch64-linux-gnu', elfMachine: 183, elfBits: 64 },
  { node: 'armv7l', gyp: 'arm', debian: 'armhf', triplet: 'arm-linux-gnueabihf', elfMachine: 40, elfBits: 32 },
];

/** The arch named by any of its names (x64/amd64, arm64/aarch64, armv7l/arm/armhf); undefined if unknown. */
export function findArch(name: string): TargetArch | undefined {
  return ARCHES.find((a) => [a.node, a.gyp, a.debian, a.triplet.split('-')[0]].includes(name));
}

/** The arch of the machine running this. */
export function hostArch(): TargetArch {
  const arch = findArch(process.arch);
  if (arch === undefined) throw new Error(`this machine's CPU (${process.arch}) is not one dobby-ts builds for`);
  return arch;
}

/** ELF machine and class of a file, or null when it is no ELF file. */
export function elfOf(path: string): { machine: number; bits: 32 | 64 } | null {
  const header = Buffer.alloc(20);
  const fd = openSync(path, 'r');
  try {
    if (readSync(fd, header, 0, 20, 0) < 20) return null;
  } finally {
    closeSync(fd);
  }
  if (header.readUInt32BE(0) !== 0x7f454c46) return null;
  return { machine: header.readUInt16LE(18), bits: header[4] === 2 ? 64 : 32 };
}

/** Throws unless `path` is an ELF binary for `arch`. */
export function assertElfFor(path: string, arch: TargetArch): void {
  const elf = elfOf(path);
  if (elf === null) throw new Error(`${path} is not an ELF binary`);
  if (elf.machine !== arch.elfMachine || elf.bits !== arch.elfBits) {
    throw new Error(`${path} is built for ELF machine ${elf.machine} (${elf.bits}-bit), not for linux-${arch.node} (machine ${arch.elfMachine})`);
  }
}
