// The version and commit of this build: stamped into a release bundle by the build, else read from the checkout.

import { childProcess } from './builtins.ts';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BuildInfo {
  readonly version: string;
  /** The git commit the build was made from (12 hex digits, `-dirty` when the tree had changes), or `unknown`. */
  readonly commit: string;
}

/** Replaced by a literal in a release bundle (scripts/build/bundle.ts); undefined anywhere else. */
declare const DOBBY_BUILD: BuildInfo | undefined;

/** The version in the package.json of the dobby-ts checkout above `from`. */
function checkoutVersion(from: string): { version: string; root: string | null } {
  for (let dir = from; ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'dobby-ts' && pkg.version !== undefined) return { version: pkg.version, root: dir };
    } catch {
      // no package.json here: look further up
    }
    if (dirname(dir) === dir) return { version: 'unknown', root: null };
  }
}

/** HEAD's commit of the checkout at `root`, as the build writes it. */
export function gitCommit(root: string): string {
  const git = (...args: string[]) => childProcess().spawnSync('git', ['-C', root, ...args], { encoding: 'utf8' });
  const head = git('rev-parse', '--short=12', 'HEAD');
  if (head.status !== 0) return 'unknown';
  const dirty = git('status', '--porcelain', '--untracked-files=no').stdout.trim() !== '';
  return `${head.stdout.trim()}${dirty ? '-dirty' : ''}`;
}

/** True inside a release bundle (scripts/build/release.ts), false in a checkout (its sources or its dev bundle). */
export function isReleaseBuild(): boolean {
  return typeof DOBBY_BUILD !== 'undefined';
}

let cached: BuildInfo | null = null;

export function buildInfo(): BuildInfo {
  if (typeof DOBBY_BUILD !== 'undefined') return DOBBY_BUILD;
  if (cached !== null) return cached;
  const { version, root } = checkoutVersion(dirname(fileURLToPath(import.meta.url)));
  cached = { version, commit: root === null ? 'unknown' : gitCommit(root) };
  return cached;
}

/** Dobby's `-V` line: `Version: <x.y.z>-<build reference>` (the reference is the commit). */
export function versionLine(): string {
  const { version, commit } = buildInfo();
  return `Version: ${version}-${commit}`;
}
