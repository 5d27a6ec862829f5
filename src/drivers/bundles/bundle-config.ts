// Reads and checks a caller's OCI bundle (path, config.json, rootfs) before anything is made for it.

import { readFileSync, statSync, type BigIntStats } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { isAbsolute, join, posix, resolve } from 'node:path';
import { DobbyError } from '../../errors.ts';
import { statOrNull } from '../small-file.ts';
import type { JsonObject } from './launch-config.ts';

/** config.json larger than this is refused unread (Dobby's are a few KiB). */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

export interface BundleConfig {
  /** The bundle dir as given (checked to be a plain absolute path). */
  readonly bundle: string;
  readonly configPath: string;
  readonly config: JsonObject;
  /** root.path resolved against the bundle dir. */
  readonly rootfs: string;
}

/** Why a bundle path is refused, or null when it is a plain absolute path. */
export function bundlePathProblem(bundle: unknown): string | null {
  if (typeof bundle !== 'string' || bundle === '') return `the bundle path must be a non-empty string, got ${JSON.stringify(bundle)}`;
  if (!isAbsolute(bundle)) return `the bundle path '${bundle}' must be absolute (start with '/')`;
  if (bundle.includes('\0')) return 'the bundle path contains a NUL byte';
  const parts = bundle.split('/');
  if (parts.some((p) => p === '..' || p === '.')) {
    return `the bundle path '${bundle}' must not contain '.' or '..' components; give '${posix.normalize(bundle)}' if that is what you mean`;
  }
  return null;
}

/**
 * The text of the config.json files read lately, with the version (inode, size, times) it was read
 * at: one start reads its bundle's config more than once (the check before anything is made, the
 * launch config), and a bundle started again and again is read once per change, not per start.
 */
const recentTexts = new Map<string, { readonly version: string; readonly text: string }>();
const RECENT_MAX = 32;
/** Larger configs are read each time rather than kept. */
const RECENT_MAX_BYTES = 64 * 1024;

function versionOf(info: BigIntStats): string {
  return `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
}

/**
 * File times tick with the kernel's coarse clock (a few ms): a file changed twice within one tick
 * keeps its times, so only a file whose last change is older than this is kept (as git does).
 */
const SETTLED_NS = 2_000_000_000n;

function settled(info: BigIntStats): boolean {
  const now = BigInt(Date.now()) * 1_000_000n;
  return now - info.mtimeNs > SETTLED_NS && now - info.ctimeNs > SETTLED_NS;
}

/** Sets `key` as the newest of `map`, dropping the oldest past `max`. */
function keepNewest<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value as string);
}

/**
 * The config.json files the daemon wrote into bundles of its own (a spec's, in a directory only the
 * daemon writes), by path: read from here without a look at the file (a spec start read its
 * config three times, a stat each, ~1 ms on its path). Forgotten when the bundle is removed; the
 * oldest go past OWN_MAX (then read as any bundle's).
 */
const ownTexts = new Map<string, string>();
const OWN_MAX = 256;

/** Writes a config.json of the daemon's own and keeps its text (see ownTexts). */
export async function writeOwnConfig(configPath: string, text: string): Promise<void> {
  await writeFile(configPath, text);
  keepNewest(ownTexts, configPath, text, OWN_MAX);
}

/** The bundle of the daemon's own holding `configPath` is being removed. */
export function forgetOwnConfig(configPath: string): void {
  ownTexts.delete(configPath);
}

// The bundle's files are looked at and read with synchronous calls (small-file.ts says why).
function readConfigText(configPath: string, info: BigIntStats): string {
  const version = versionOf(info);
  const known = recentTexts.get(configPath);
  if (known !== undefined && known.version === version) return known.text;
  const text = readFileSync(configPath, 'utf8');
  recentTexts.delete(configPath);
  // Kept under the version stat saw: a file changed since is read again at its next, different, version.
  if (info.size <= BigInt(RECENT_MAX_BYTES) && settled(info)) keepNewest(recentTexts, configPath, { version, text }, RECENT_MAX);
  return text;
}

/**
 * `<bundle>/config.json` parsed, read through the same cache as readBundleConfig (a start reads it
 * again to select its plugins: a stat then, not a read). Throws as readFile and JSON.parse do.
 */
export async function readConfigJson(bundle: string): Promise<unknown> {
  const configPath = join(bundle, 'config.json');
  const own = ownTexts.get(configPath);
  if (own !== undefined) return JSON.parse(own);
  const info = statSync(configPath, { bigint: true });
  if (info.size > BigInt(MAX_CONFIG_BYTES)) throw new Error(`${configPath} is ${info.size} bytes; at most ${MAX_CONFIG_BYTES} are read`);
  return JSON.parse(readConfigText(configPath, info));
}

function invalid(message: string, id: string | undefined, cause?: unknown): DobbyError {
  return new DobbyError('BUNDLE_INVALID', message, { ...(id === undefined ? {} : { containerId: id }), ...(cause === undefined ? {} : { cause }) });
}

/** The text of a caller's config.json, checked to be a file of a bundle dir, not too large. */
function readCallersConfig(bundle: string, configPath: string, id: string | undefined): string {
  const dir = statOrNull(bundle);
  if (dir === null || !dir.isDirectory()) throw invalid(`the bundle '${bundle}' is not a directory; a bundle is a directory with config.json and rootfs/`, id);
  let info: BigIntStats | null;
  try {
    info = statSync(configPath, { bigint: true, throwIfNoEntry: false }) ?? null;
  } catch {
    info = null;
  }
  if (info === null || !info.isFile()) {
    throw invalid(`no config.json file found in '${bundle}'; a bundle is a directory with config.json and rootfs/`, id);
  }
  if (info.size > BigInt(MAX_CONFIG_BYTES)) throw invalid(`${configPath} is ${info.size} bytes; at most ${MAX_CONFIG_BYTES} are read`, id);
  try {
    return readConfigText(configPath, info);
  } catch (err) {
    throw invalid(`could not read ${configPath}: ${String(err)}`, id, err);
  }
}

/** Reads `<bundle>/config.json` and checks that its rootfs exists; a BUNDLE_INVALID error names what is wrong. */
export async function readBundleConfig(bundle: string, id?: string): Promise<BundleConfig> {
  const problem = bundlePathProblem(bundle);
  if (problem !== null) throw invalid(problem, id);
  const configPath = join(bundle, 'config.json');
  // A bundle of the daemon's own was made whole (its rootfs too) before it was started: nothing to look at.
  const own = ownTexts.get(configPath);
  const text = own ?? readCallersConfig(bundle, configPath, id);
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (err) {
    throw invalid(`${configPath} is not valid JSON: ${(err as Error).message}`, id, err);
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw invalid(`${configPath} must hold a JSON object (an OCI runtime config)`, id);
  }
  const object = config as JsonObject;
  const root = object['root'];
  const rootPath = typeof root === 'object' && root !== null ? (root as JsonObject)['path'] : undefined;
  if (typeof rootPath !== 'string' || rootPath === '') {
    throw invalid(`${configPath} has no root.path; it names the rootfs directory (usually "rootfs")`, id);
  }
  const process = object['process'];
  const args = typeof process === 'object' && process !== null ? (process as JsonObject)['args'] : undefined;
  if (!Array.isArray(args) || args.length === 0 || !args.every((a) => typeof a === 'string')) {
    throw invalid(`${configPath} has no process.args; it must be a non-empty array of strings (the command to run)`, id);
  }
  const rootfs = resolve(bundle, rootPath);
  if (own === undefined) {
    const rootInfo = statOrNull(rootfs);
    if (rootInfo === null || !rootInfo.isDirectory()) {
      throw invalid(`the rootfs '${rootfs}' (root.path "${rootPath}" in ${configPath}) does not exist or is not a directory`, id);
    }
  }
  return { bundle, configPath, config: object, rootfs };
}
