// The launch config: what one start of a bundle changes in its OCI config (Dobby's StartFromBundle
// steps 3, 4 and 8, the plugins' additions, the container's init), derived without any I/O.
//
// The caller's config.json is never rewritten: when anything differs, dobbyd writes the result to a
// file of its own and the runtime creates from that (`crun create --config`).

import { posix } from 'node:path';
import { DobbyError } from '../../errors.ts';
import { INIT_PATH_IN_CONTAINER } from '../../spec/index.ts';

/** Where Dobby bundles expect their init, inside the container and (usually bind-mounted from) on the host. */
export const DOBBY_INIT = INIT_PATH_IN_CONTAINER;

export type JsonObject = { [key: string]: unknown };

/** A mount as the OCI config holds it. */
export interface LaunchMount {
  readonly destination: string;
  readonly type: string;
  readonly source: string;
  readonly options?: readonly string[];
}

/** The per-launch settings of StartFromBundle's and StartFromSpec's long arities. */
export interface LaunchOverrides {
  /** Replaces the command: process.args = [init, ...command]. */
  readonly command?: readonly string[];
  /** A Wayland (westeros) socket on the host, bind-mounted at /tmp/westeros. */
  readonly displaySocket?: string;
  /** `KEY=VALUE` entries appended unless the exact entry is there already. */
  readonly env?: readonly string[];
  /** With groupId, both > 0 and no mappings in the config: run in a user namespace as these host ids. */
  readonly userId?: number;
  readonly groupId?: number;
}

/** What the postConstruction hooks added (fds travel separately, to the monitor). */
export interface LaunchAdditions {
  readonly env: readonly string[];
  readonly mounts: readonly LaunchMount[];
  /** Resource limits that replace the config's entry of the same type, or are appended (Dobby's rule). */
  readonly rlimits?: readonly { readonly type: string; readonly soft: number; readonly hard: number }[];
  /** Namespace types the container gets unless its config has one of the type. */
  readonly namespaces?: readonly string[];
  /** Numbers for the config's `linux.devices` entries at these paths (Dobby's DeviceMapper). */
  readonly devices?: readonly { readonly path: string; readonly major: number; readonly minor: number }[];
  /** `linux.resources.devices` rules appended. */
  readonly deviceRules?: readonly object[];
  /** gids for `process.user.additionalGids` (mapped 1:1 in a user namespace). */
  readonly groups?: readonly number[];
}

/** What is true on the host and in the rootfs about the init, found out by the caller. */
export interface InitFacts {
  /** The host's DobbyInit, or null when the host has none. */
  readonly hostDobbyInit: string | null;
  /** dobbyd's own init (Debian's static tini), used where the host has no DobbyInit. */
  readonly containerInit: string;
  /** Something exists at /usr/libexec/DobbyInit inside the bundle's rootfs. */
  readonly rootfsHasDobbyInit: boolean;
  /** The host's DobbyInit is a copy of dobbyd's init (a host set up with tini as DobbyInit). */
  readonly hostDobbyInitIsOurs?: boolean;
}

export interface LaunchInput {
  readonly id: string;
  /** The parsed config.json of the bundle; not modified. */
  readonly config: JsonObject;
  readonly overrides?: LaunchOverrides;
  readonly additions?: LaunchAdditions;
  readonly init: InitFacts;
  /** Dobby's settings `pids`: the limit a config without a `pids` object gets (null: none). */
  readonly defaultPidsLimit?: number | null;
}

export interface LaunchConfig {
  readonly config: JsonObject;
  /** False when the config is the bundle's own, unchanged: no launch config file is needed. */
  readonly changed: boolean;
  /** What was done that the user should hear about (each one a sentence). */
  readonly notes: readonly string[];
}

/** Dobby's westeros mount (step 8). */
export const WESTEROS_DESTINATION = '/tmp/westeros';
const WESTEROS_OPTIONS = ['bind', 'rw', 'nosuid', 'nodev', 'noexec'];
const WESTEROS_ENV = ['WAYLAND_DISPLAY=westeros', 'XDG_RUNTIME_DIR=/tmp'];

/** Name of the init dobbyd places in a tmpfs of the container when the bundle provides none. */
export const PLACED_INIT_NAME = '.dobby-init';

const HOOK_LISTS = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'];

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function objectAt(parent: JsonObject, key: string): JsonObject {
  const current = parent[key];
  if (isObject(current)) return current;
  const made: JsonObject = {};
  parent[key] = made;
  return made;
}

function stringsAt(parent: JsonObject, key: string): unknown[] {
  const current = parent[key];
  if (Array.isArray(current)) return current;
  const made: unknown[] = [];
  parent[key] = made;
  return made;
}

function appendEnv(env: unknown[], entries: readonly string[]): void {
  for (const entry of entries) if (!env.includes(entry)) env.push(entry);
}

function setRlimits(rlimits: unknown[], entries: NonNullable<LaunchAdditions['rlimits']>): void {
  for (const entry of entries) {
    const at = rlimits.findIndex((r) => isObject(r) && r['type'] === entry.type);
    if (at >= 0) rlimits[at] = { ...entry };
    else rlimits.push({ ...entry });
  }
}

/**
 * Dobby's DeviceMapper rewrite: each `linux.devices` entry at a path gets its host numbers, and the
 * first `linux.resources.devices` rule naming its old numbers follows, so access stays allowed.
 */
function renumberDevices(config: JsonObject, entries: NonNullable<LaunchAdditions['devices']>, notes: string[]): void {
  const linux = config['linux'];
  if (!isObject(linux) || !Array.isArray(linux['devices'])) return;
  const resources = linux['resources'];
  const rules = isObject(resources) && Array.isArray(resources['devices']) ? resources['devices'] : [];
  for (const entry of entries) {
    const device = linux['devices'].find((d): d is JsonObject => isObject(d) && d['path'] === entry.path);
    if (device === undefined || (device['major'] === entry.major && device['minor'] === entry.minor)) continue;
    const rule = rules.find((r): r is JsonObject => isObject(r) && r['major'] === device['major'] && r['minor'] === device['minor'] &&
      (r['type'] === undefined || r['type'] === 'a' || r['type'] === device['type']));
    notes.push(`device ${entry.path}: ${String(device['major'])}:${String(device['minor'])} is ${entry.major}:${entry.minor} on this host`);
    device['major'] = entry.major;
    device['minor'] = entry.minor;
    if (rule !== undefined) {
      rule['major'] = entry.major;
      rule['minor'] = entry.minor;
    }
  }
}

/** Dobby's Gamepad additions: cgroup device rules, and groups (each mapped to itself in a user namespace). */
function addDeviceAccess(config: JsonObject, additions: LaunchAdditions, notes: string[]): void {
  const rules = additions.deviceRules ?? [];
  const groups = additions.groups ?? [];
  if (rules.length > 0) stringsAt(objectAt(objectAt(config, 'linux'), 'resources'), 'devices').push(...rules.map((r) => structuredClone(r)));
  if (groups.length === 0) return;
  const additional = stringsAt(objectAt(objectAt(config, 'process'), 'user'), 'additionalGids');
  const linux = objectAt(config, 'linux');
  const mappings = Array.isArray(linux['gidMappings']) ? linux['gidMappings'] : [];
  for (const gid of groups) {
    if (!additional.includes(gid)) additional.push(gid);
    if (mappings.length === 0) continue;
    const covered = mappings.some((m) => isObject(m) && typeof m['containerID'] === 'number' && typeof m['size'] === 'number' &&
      gid >= m['containerID'] && gid < m['containerID'] + m['size']);
    if (covered) notes.push(`group ${gid}: the config maps that gid inside already; not mapped to host gid ${gid}`);
    else mappings.push({ containerID: gid, hostID: gid, size: 1 });
  }
}

function normalisedDestination(mount: unknown): string | null {
  if (!isObject(mount) || typeof mount['destination'] !== 'string') return null;
  return posix.normalize(mount['destination']).replace(/(.)\/+$/, '$1');
}

function hasOwnUtsNamespace(config: JsonObject): boolean {
  const linux = config['linux'];
  const namespaces = isObject(linux) && Array.isArray(linux['namespaces']) ? linux['namespaces'] : [];
  return namespaces.some((ns) => isObject(ns) && ns['type'] === 'uts' && (ns['path'] === undefined || ns['path'] === ''));
}

function hasMappings(linux: JsonObject): boolean {
  const nonEmpty = (v: unknown): boolean => Array.isArray(v) && v.length > 0;
  return nonEmpty(linux['uidMappings']) || nonEmpty(linux['gidMappings']);
}

function idOf(user: unknown, key: 'uid' | 'gid'): number {
  const value = isObject(user) ? user[key] : undefined;
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : 0;
}

/**
 * Maps the container's user to the host ids in a new user namespace. Dobby maps uids with size 1
 * but gids with size 10, which hands the container nine host groups that belong to others; here
 * both are size 1, and a devpts `gid=N` option naming a gid the container then lacks is dropped
 * (the kernel refuses to mount devpts with an unmapped gid).
 */
function applyUserMapping(config: JsonObject, userId: number, groupId: number, notes: string[]): void {
  const linux = objectAt(config, 'linux');
  if (hasMappings(linux)) {
    notes.push(`userId ${userId} and groupId ${groupId} were ignored: the bundle's config already has uid/gid mappings`);
    return;
  }
  const process = objectAt(config, 'process');
  const uid = idOf(process['user'], 'uid');
  const gid = idOf(process['user'], 'gid');
  linux['uidMappings'] = [{ containerID: uid, hostID: userId, size: 1 }];
  linux['gidMappings'] = [{ containerID: gid, hostID: groupId, size: 1 }];
  const namespaces = stringsAt(linux, 'namespaces');
  if (!namespaces.some((ns) => isObject(ns) && ns['type'] === 'user')) namespaces.push({ type: 'user' });
  for (const mount of Array.isArray(config['mounts']) ? config['mounts'] : []) {
    if (!isObject(mount) || mount['type'] !== 'devpts' || !Array.isArray(mount['options'])) continue;
    const options = mount['options'];
    const kept = options.filter((o) => !(typeof o === 'string' && /^gid=\d+$/.test(o) && Number(o.slice(4)) !== gid));
    if (kept.length !== options.length) {
      mount['options'] = kept;
      notes.push(`the devpts mount at ${String(mount['destination'])} lost its gid option: only gid ${gid} is mapped into the container`);
    }
  }
}

/** A tmpfs the config mounts, where a file can be created without writing into the caller's rootfs. */
function tmpfsForInit(mounts: readonly unknown[]): string | null {
  const tmpfs = mounts
    .filter((m): m is JsonObject => isObject(m) && m['type'] === 'tmpfs')
    .map((m) => normalisedDestination(m))
    .filter((d): d is string => d !== null && d.startsWith('/'));
  for (const preferred of ['/dev', '/tmp', '/run']) if (tmpfs.includes(preferred)) return preferred;
  return tmpfs[0] ?? null;
}

/**
 * Dobby's DobbyInit takes the command as its arguments; tini parses options first (`sh -c` would
 * give it a `-c`), so under dobbyd's init the command follows a `--`.
 */
function endInitOptions(args: unknown[], initBinary: string, init: InitFacts): void {
  const ours = initBinary === init.containerInit || (initBinary === init.hostDobbyInit && init.hostDobbyInit !== null && init.hostDobbyInitIsOurs === true);
  if (ours && args[1] !== '--') args.splice(1, 0, '--');
}

/**
 * Bundles made for Dobby start `/usr/libexec/DobbyInit` and usually bind-mount it from the host.
 * Where the host has none, the mount's source becomes dobbyd's init; where nothing provides it at
 * all, the init is bind-mounted into a tmpfs of the container (no write into the caller's rootfs)
 * and args[0] points there.
 */
function resolveInit(config: JsonObject, init: InitFacts, notes: string[]): void {
  const process = objectAt(config, 'process');
  const args = process['args'];
  if (!Array.isArray(args) || args[0] !== DOBBY_INIT) return;
  const hostInit = init.hostDobbyInit ?? init.containerInit;
  const mounts = stringsAt(config, 'mounts');
  const mount = mounts.find((m): m is JsonObject => normalisedDestination(m) === DOBBY_INIT);
  if (mount !== undefined) {
    if (mount['source'] === DOBBY_INIT && init.hostDobbyInit !== DOBBY_INIT) {
      mount['source'] = hostInit;
      notes.push(`this host has no ${DOBBY_INIT}: the bundle's mount of it uses ${hostInit} instead`);
    }
    const source = mount['source'] === DOBBY_INIT ? init.hostDobbyInit ?? '' : String(mount['source']);
    endInitOptions(args, source, init);
    return;
  }
  // The rootfs's own init is whatever the bundle's author put there: its arguments are theirs too.
  if (init.rootfsHasDobbyInit) return;
  const tmpfs = tmpfsForInit(mounts);
  if (tmpfs === null) {
    throw new DobbyError(
      'BUNDLE_INVALID',
      `process.args[0] is ${DOBBY_INIT}, but the rootfs has none, the config mounts none, and the config mounts no tmpfs where dobbyd could place its init; add a bind mount of ${DOBBY_INIT} or a tmpfs at /dev or /tmp`,
    );
  }
  const destination = posix.join(tmpfs, PLACED_INIT_NAME);
  mounts.push({ destination, type: 'bind', source: hostInit, options: ['bind', 'ro', 'nosuid', 'nodev'] });
  args[0] = destination;
  endInitOptions(args, hostInit, init);
  notes.push(`the bundle provides no ${DOBBY_INIT}: ${hostInit} runs as the container's init from ${destination}`);
}

/**
 * Dobby's converted bundles carry OCI hooks that run /usr/bin/DobbyPluginLauncher; dobbyd runs the
 * plugins itself, so those hooks would fail (no launcher) or run the plugins twice.
 */
function dropPluginLauncherHooks(config: JsonObject, notes: string[]): void {
  const hooks = config['hooks'];
  if (!isObject(hooks)) return;
  let dropped = 0;
  for (const list of HOOK_LISTS) {
    const entries = hooks[list];
    if (!Array.isArray(entries)) continue;
    const kept = entries.filter((h) => {
      if (!isObject(h)) return true;
      const path = typeof h['path'] === 'string' ? h['path'] : '';
      const arg0 = Array.isArray(h['args']) ? h['args'][0] : undefined;
      return !(posix.basename(path) === 'DobbyPluginLauncher' || arg0 === 'DobbyPluginLauncher');
    });
    dropped += entries.length - kept.length;
    if (kept.length === 0) delete hooks[list];
    else hooks[list] = kept;
  }
  if (dropped > 0) notes.push(`${dropped} DobbyPluginLauncher hook(s) left out: dobbyd runs the plugins itself`);
}

/** The plugins' namespaces: one of each type the config does not list yet. */
function addNamespaces(config: JsonObject, types: readonly string[], notes: string[]): void {
  if (types.length === 0) return;
  const namespaces = stringsAt(objectAt(config, 'linux'), 'namespaces');
  for (const type of types) {
    if (namespaces.some((ns) => isObject(ns) && ns['type'] === type)) continue;
    namespaces.push({ type });
    notes.push(`a plugin gave the container a ${type} namespace of its own`);
  }
}

/** The config one start runs with. Pure: the input config is copied, never changed. */
export function deriveLaunchConfig(input: LaunchInput): LaunchConfig {
  const config = structuredClone(input.config);
  const notes: string[] = [];
  const overrides = input.overrides ?? {};

  // Dobby's conversion of an unprocessed or converted bundle: the hostname is the container id, but
  // only in a UTS namespace of its own (the runtime refuses a hostname in the host's).
  if (config['ociVersion'] === '1.0.2-dobby' || config['ociVersion'] === '1.0.2') {
    config['ociVersion'] = '1.0.2';
    if (hasOwnUtsNamespace(config)) config['hostname'] = input.id;
  }
  dropPluginLauncherHooks(config, notes);

  const userId = overrides.userId ?? 0;
  const groupId = overrides.groupId ?? 0;
  if (userId > 0 && groupId > 0) applyUserMapping(config, userId, groupId, notes);
  else if (userId > 0 || groupId > 0) notes.push(`userId ${userId} and groupId ${groupId} were ignored: both must be > 0 to map the container's user`);

  // The plugins' additions come first (Dobby's postConstruction runs before the per-launch step).
  if (input.additions !== undefined) {
    appendEnv(stringsAt(objectAt(config, 'process'), 'env'), input.additions.env);
    const mounts = stringsAt(config, 'mounts');
    // A mount the config has already (same source and destination) is not made twice.
    const has = (m: LaunchMount): boolean => mounts.some((x) => isObject(x) && x['source'] === m.source && normalisedDestination(x) === normalisedDestination(m));
    mounts.push(...input.additions.mounts.filter((m) => !has(m)).map((m) => structuredClone(m)));
    const rlimits = input.additions.rlimits ?? [];
    if (rlimits.length > 0) setRlimits(stringsAt(objectAt(config, 'process'), 'rlimits'), rlimits);
    addNamespaces(config, input.additions.namespaces ?? [], notes);
    renumberDevices(config, input.additions.devices ?? [], notes);
    addDeviceAccess(config, input.additions, notes);
  }
  if (overrides.command !== undefined && overrides.command.length > 0) {
    objectAt(config, 'process')['args'] = [DOBBY_INIT, ...overrides.command];
  }
  if (overrides.displaySocket !== undefined && overrides.displaySocket !== '') {
    stringsAt(config, 'mounts').push({ destination: WESTEROS_DESTINATION, type: 'bind', source: overrides.displaySocket, options: [...WESTEROS_OPTIONS] });
    appendEnv(stringsAt(objectAt(config, 'process'), 'env'), WESTEROS_ENV);
  }
  if (overrides.env !== undefined) appendEnv(stringsAt(objectAt(config, 'process'), 'env'), overrides.env);

  resolveInit(config, input.init, notes);
  // Only into a linux section the config has, with resources an object or absent: a config without one (no
  // namespaces: crun would run it in the host's) or a malformed one is the runtime's to refuse, not ours to mend.
  const linux = config['linux'];
  if (input.defaultPidsLimit != null && isObject(linux) && (linux['resources'] === undefined || isObject(linux['resources']))) {
    const resources = objectAt(linux, 'resources');
    if (resources['pids'] === undefined) resources['pids'] = { limit: input.defaultPidsLimit };
  }
  return { config, changed: JSON.stringify(config) !== JSON.stringify(input.config), notes };
}
