// Settings gpu/vpu → what spec conversion adds: device node globs resolved to character devices on this host.

import { globSync, statSync } from 'node:fs';
import type { DevNode, HardwareAccess } from '../spec/options.ts';
import type { HardwareSettings } from './types.ts';

/** Linux's dev_t split (glibc's major()/minor()). */
export function majorOf(rdev: number): number {
  return Number(((BigInt(rdev) >> 8n) & 0xfffn) | ((BigInt(rdev) >> 32n) & ~0xfffn));
}

export function minorOf(rdev: number): number {
  return Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & ~0xffn));
}

/** Every character device the patterns match now (Dobby keeps only those; other files are skipped). */
export function resolveDevNodes(patterns: readonly string[]): DevNode[] {
  const out = new Map<string, DevNode>();
  for (const pattern of patterns) {
    const paths = /[*?[]/.test(pattern) ? globSync(pattern) : [pattern];
    for (const path of paths.sort()) {
      const info = (() => {
        try {
          return statSync(path);
        } catch {
          return null;
        }
      })();
      if (info === null || !info.isCharacterDevice()) continue;
      // Dobby gives the node its host mode, read and write bits only.
      out.set(path, { path, major: majorOf(info.rdev), minor: minorOf(info.rdev), mode: info.mode & 0o666 });
    }
  }
  return [...out.values()];
}

export function hardwareAccess(settings: HardwareSettings | null): HardwareAccess | undefined {
  if (settings === null) return undefined;
  return {
    devNodes: resolveDevNodes(settings.devNodes),
    groupIds: settings.groupIds,
    extraMounts: settings.extraMounts,
    extraEnv: settings.extraEnvVariables,
  };
}
