// Checks a parsed settings document key by key and fills in Dobby's defaults: every problem names its key.
//
// Dobby logs most wrong-typed values and keeps its default; a drop-in that silently ran with other settings
// than the file says would be worse, so here each one is an error and the daemon does not start.

import { expandPath } from './expand-path.ts';
import type { DobbySettings, HardwareSettings, LogRelaySettings, SettingsMount } from './types.ts';

export interface ParseSettingsContext {
  readonly env: NodeJS.ProcessEnv;
  /** A group name → its gid, or undefined when the host has no such group. */
  readonly groupId: (name: string) => number | undefined;
  /** Whether a path is a directory this process may read, write and enter (for AI_WORKSPACE_PATH). */
  readonly isUsableDir: (path: string) => boolean;
}

export type ParsedSettings =
  | { ok: true; settings: Omit<DobbySettings, 'source'>; warnings: string[] }
  | { ok: false; problems: string[] };

const TOP_KEYS = ['paths', 'logging', 'extraEnvVariables', 'gpu', 'vpu', 'network', 'defaultPlugins', 'logRelay', 'strace', 'apparmor', 'pids'];
/** Mount options Dobby accepts for gpu/vpu extraMounts; any other drops the mount there, and is an error here. */
export const HARDWARE_MOUNT_OPTIONS = ['rbind', 'bind', 'silent', 'ro', 'sync', 'nosuid', 'dirsync', 'nodiratime', 'relatime', 'noexec', 'nodev', 'noatime', 'strictatime'];
const ENV_ENTRY = /^[A-Za-z_][A-Za-z0-9_]*=[^\0\n]*$/;
const LINK_NAME = /^[A-Za-z0-9_.-]{1,15}$/;
const PLUGIN_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
/** Dobby's platform models for AI_PLATFORM_MODEL (with AI_PLATFORM_TYPE, they become ETHAN_STB_* in spec containers). */
const PLATFORM_MODELS = ['ES140', 'ES130', 'EM150', 'ES240', 'ES340', 'ESi240', 'vSTB', 'ES160'];
const PLATFORM_TYPES = ['MR', 'GW', 'HIP'];

export const DEFAULT_WORKSPACE_DIR = '/var/volatile/rdk';
export const DEFAULT_PERSISTENT_DIR = '/opt/persistent/rdk';
export const DEFAULT_CONSOLE_SOCKET = '/tmp/dobbyPty.sock';
export const DEFAULT_STRACE_DIR = '/tmp/strace';
export const DEFAULT_APPARMOR_PROFILE = 'dobby_default';
export const DEFAULT_PIDS_LIMIT = 256;

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Collects problems while reading; each reader returns undefined for a missing or bad value. */
class Reader {
  readonly problems: string[] = [];
  readonly warnings: string[] = [];
  readonly #ctx: ParseSettingsContext;

  constructor(ctx: ParseSettingsContext) {
    this.#ctx = ctx;
  }

  bad(key: string, problem: string): undefined {
    this.problems.push(`'${key}' ${problem}`);
    return undefined;
  }

  object(v: unknown, key: string, known: readonly string[]): Record<string, unknown> | undefined {
    if (!isObject(v)) return this.bad(key, `must be an object, not ${typeName(v)}`);
    // Not an error: Dobby ignores keys it does not read, and its own DEV_VM file carries one (extraMounts).
    for (const k of Object.keys(v)) {
      if (!known.includes(k)) this.warnings.push(`'${key === '' ? k : `${key}.${k}`}' is not a key Dobby reads (known here: ${known.join(', ')}); ignored`);
    }
    return v;
  }

  string(v: unknown, key: string): string | undefined {
    if (v === undefined) return this.bad(key, 'is missing');
    if (typeof v !== 'string') return this.bad(key, `must be a string, not ${typeName(v)}`);
    if (v.length === 0) return this.bad(key, 'must not be empty');
    return v;
  }

  bool(v: unknown, key: string): boolean | undefined {
    return typeof v === 'boolean' ? v : this.bad(key, `must be true or false, not ${typeName(v)}`);
  }

  path(v: unknown, key: string): string | undefined {
    const s = this.string(v, key);
    if (s === undefined) return undefined;
    const expanded = expandPath(s, this.#ctx.env);
    if (!expanded.ok) return this.bad(key, `'${s}' cannot be expanded: ${expanded.problem}`);
    if (!expanded.value.startsWith('/')) return this.bad(key, `must be an absolute path, not '${expanded.value}'`);
    return expanded.value;
  }

  strings(v: unknown, key: string, check: (s: string, at: string) => string | undefined = (s, at) => this.string(s, at)): string[] | undefined {
    if (!Array.isArray(v)) return this.bad(key, `must be an array of strings, not ${typeName(v)}`);
    const out: string[] = [];
    v.forEach((item, i) => {
      const s = check(item as string, `${key}[${i}]`);
      if (s !== undefined) out.push(s);
    });
    return out.length === v.length ? out : undefined;
  }

  envEntry(v: unknown, key: string): string | undefined {
    const s = this.string(v, key);
    if (s !== undefined && !ENV_ENTRY.test(s)) return this.bad(key, `'${s}' must be NAME=value (NAME of letters, digits and _, not starting with a digit)`);
    return s;
  }

  gid(v: unknown, key: string): number | undefined {
    if (typeof v === 'number') {
      if (!Number.isInteger(v) || v < 1 || v > 0xfffffffe) return this.bad(key, `must be a group id above 0, not ${v}`);
      return v;
    }
    if (typeof v === 'string' && v.length > 0) {
      const gid = this.#ctx.groupId(v);
      if (gid === undefined) return this.bad(key, `names the group '${v}', which this host does not have (/etc/group)`);
      // Dobby keeps only gids above 0: root's group is never added.
      return gid > 0 ? gid : this.bad(key, `names the group '${v}', whose id is 0; give a group above 0`);
    }
    return this.bad(key, `must be a group id or group name, not ${typeName(v)}`);
  }
}

function hardware(r: Reader, v: unknown, key: string): HardwareSettings | undefined {
  const o = r.object(v, key, ['groupIds', 'groupId', 'devNodes', 'extraMounts', 'extraEnvVariables']);
  if (o === undefined) return undefined;
  const groupKey = o['groupIds'] !== undefined ? 'groupIds' : 'groupId';
  const groupValue = o[groupKey];
  const gids: number[] = [];
  if (Array.isArray(groupValue)) groupValue.forEach((g, i) => void ((n) => n !== undefined && gids.push(n))(r.gid(g, `${key}.${groupKey}[${i}]`)));
  else if (groupValue !== undefined) ((n) => n !== undefined && gids.push(n))(r.gid(groupValue, `${key}.${groupKey}`));
  const devNodes = o['devNodes'] === undefined ? [] : r.strings(o['devNodes'], `${key}.devNodes`, (s, at) => r.path(s, at)) ?? [];
  const mounts: SettingsMount[] = [];
  if (o['extraMounts'] !== undefined) {
    if (!Array.isArray(o['extraMounts'])) r.bad(`${key}.extraMounts`, `must be an array of mounts, not ${typeName(o['extraMounts'])}`);
    else o['extraMounts'].forEach((m, i) => {
      const at = `${key}.extraMounts[${i}]`;
      const mo = r.object(m, at, ['source', 'destination', 'type', 'options']);
      if (mo === undefined) return;
      const source = r.string(mo['source'], `${at}.source`);
      const destination = r.path(mo['destination'], `${at}.destination`);
      const type = r.string(mo['type'], `${at}.type`);
      const options = mo['options'] === undefined ? [] : r.strings(mo['options'], `${at}.options`, (s, oat) => {
        if (typeof s === 'string' && !HARDWARE_MOUNT_OPTIONS.includes(s)) return r.bad(oat, `'${s}' is not a mount option Dobby allows here (${HARDWARE_MOUNT_OPTIONS.join(' ')})`);
        return r.string(s, oat);
      });
      if (source !== undefined && destination !== undefined && type !== undefined && options !== undefined) {
        mounts.push({ source, destination, type, options: [...new Set(options)].sort() });
      }
    });
  }
  const env = o['extraEnvVariables'] === undefined ? [] : r.strings(o['extraEnvVariables'], `${key}.extraEnvVariables`, (s, at) => r.envEntry(s, at)) ?? [];
  return { groupIds: [...new Set(gids)].sort((a, b) => a - b), devNodes, extraMounts: mounts, extraEnvVariables: env };
}

function logRelay(r: Reader, v: unknown, key: string): LogRelaySettings | null {
  const o = r.object(v, key, ['enable', 'socketPath']);
  if (o === undefined) return null;
  const enable = r.bool(o['enable'], `${key}.enable`) ?? false;
  const socketPath = o['socketPath'] === undefined && !enable ? '' : r.path(o['socketPath'], `${key}.socketPath`);
  return socketPath === undefined ? null : { enable, socketPath };
}

function defaultPlugins(r: Reader, v: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!Array.isArray(v)) {
    r.bad('defaultPlugins', `must be an array of plugin names and {"name": data} objects, not ${typeName(v)}`);
    return out;
  }
  const add = (name: string, data: unknown, at: string): void => {
    if (!PLUGIN_NAME.test(name)) r.bad(at, `'${name}' is not a plugin name (1-64 of A-Z a-z 0-9 _ . -)`);
    else if (data !== null && !isObject(data)) r.bad(`${at}.${name}`, `must be the plugin's data object, not ${typeName(data)}`);
    // An own property, so a plugin named __proto__ stays a plugin name.
    else Object.defineProperty(out, name, { value: data, enumerable: true, writable: true, configurable: true });
  };
  v.forEach((entry, i) => {
    const at = `defaultPlugins[${i}]`;
    if (typeof entry === 'string') add(entry, null, at);
    else if (isObject(entry)) for (const [name, data] of Object.entries(entry)) add(name, data, at);
    else r.bad(at, `must be a plugin name or a {"name": data} object, not ${typeName(entry)}`);
  });
  return out;
}

/** ETHAN_STB_TYPE / ETHAN_STB_MODEL from AI_PLATFORM_TYPE and AI_PLATFORM_MODEL, as Dobby sets them. */
export function platformEnv(env: NodeJS.ProcessEnv): string[] {
  const type = env['AI_PLATFORM_TYPE'];
  const model = env['AI_PLATFORM_MODEL'];
  if (type === undefined || model === undefined || !PLATFORM_TYPES.includes(type) || !PLATFORM_MODELS.includes(model)) return [];
  return [`ETHAN_STB_TYPE=${type}`, `ETHAN_STB_MODEL=${model}`];
}

/** Settings entries win over the platform's by name; the result is sorted by name, as Dobby's map is. */
function mergeEnv(platform: readonly string[], settings: readonly string[]): string[] {
  const byName = new Map<string, string>();
  for (const e of [...platform, ...settings]) byName.set(e.slice(0, e.indexOf('=')), e);
  return [...byName.keys()].sort().map((k) => byName.get(k)!);
}

export function parseSettings(doc: unknown, ctx: ParseSettingsContext): ParsedSettings {
  const r = new Reader(ctx);
  const top = r.object(doc, '', TOP_KEYS) ?? {};
  const envWorkspace = ctx.env['AI_WORKSPACE_PATH'];
  let workspaceDir = envWorkspace !== undefined && ctx.isUsableDir(envWorkspace) ? envWorkspace : DEFAULT_WORKSPACE_DIR;
  let persistentDir = ctx.env['AI_PERSISTENT_PATH'] ?? DEFAULT_PERSISTENT_DIR;
  if (top['paths'] !== undefined) {
    const p = r.object(top['paths'], 'paths', ['workspaceDir', 'persistentDir']);
    if (p?.['workspaceDir'] !== undefined) workspaceDir = r.path(p['workspaceDir'], 'paths.workspaceDir') ?? workspaceDir;
    if (p?.['persistentDir'] !== undefined) persistentDir = r.path(p['persistentDir'], 'paths.persistentDir') ?? persistentDir;
  }
  let consoleSocket = DEFAULT_CONSOLE_SOCKET;
  if (top['logging'] !== undefined) {
    const l = r.object(top['logging'], 'logging', ['consoleSocket']);
    if (l?.['consoleSocket'] !== undefined) consoleSocket = r.path(l['consoleSocket'], 'logging.consoleSocket') ?? consoleSocket;
  }
  const extraEnv = top['extraEnvVariables'] === undefined ? [] : r.strings(top['extraEnvVariables'], 'extraEnvVariables', (s, at) => r.envEntry(s, at)) ?? [];
  const gpu = top['gpu'] === undefined ? null : hardware(r, top['gpu'], 'gpu') ?? null;
  const vpu = top['vpu'] === undefined ? null : hardware(r, top['vpu'], 'vpu') ?? null;

  let externalInterfaces: string[] | null = null;
  let addressRange: string | null = null;
  let ipv6 = false;
  if (top['network'] !== undefined) {
    const n = r.object(top['network'], 'network', ['externalInterfaces', 'addressRange', 'ipv6']);
    const ext = n?.['externalInterfaces'];
    const linkName = (s: unknown, at: string): string | undefined => {
      const name = r.string(s, at);
      if (name !== undefined && (!LINK_NAME.test(name) || name === '.' || name === '..')) return r.bad(at, `'${name}' is not an interface name: 1-15 characters of A-Z a-z 0-9 _ . -`);
      return name;
    };
    // The daemon takes a string or an array; Dobby's networking plugin reads only the array form.
    if (typeof ext === 'string') externalInterfaces = ((s) => (s === undefined ? null : [s]))(linkName(ext, 'network.externalInterfaces'));
    else if (ext !== undefined) externalInterfaces = r.strings(ext, 'network.externalInterfaces', linkName) ?? null;
    if (n?.['addressRange'] !== undefined) {
      const s = r.string(n['addressRange'], 'network.addressRange');
      const m = s === undefined ? null : /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
      if (s !== undefined && (m === null || m.slice(1).some((o) => Number(o) > 255))) r.bad('network.addressRange', `'${s}' must be an IPv4 address a.b.c.0`);
      else if (m !== null && m[4] !== '0') r.bad('network.addressRange', `'${s}' must end in .0 (the containers get a.b.c.0/24)`);
      else if (s !== undefined) addressRange = `${s}/24`;
    }
    if (n?.['ipv6'] !== undefined) ipv6 = r.bool(n['ipv6'], 'network.ipv6') ?? false;
  }

  const plugins = top['defaultPlugins'] === undefined ? {} : defaultPlugins(r, top['defaultPlugins']);
  let syslogRelay: LogRelaySettings | null = null;
  let journaldRelay: LogRelaySettings | null = null;
  if (top['logRelay'] !== undefined) {
    const lr = r.object(top['logRelay'], 'logRelay', ['syslog', 'journald']);
    if (lr?.['syslog'] !== undefined) syslogRelay = logRelay(r, lr['syslog'], 'logRelay.syslog');
    if (lr?.['journald'] !== undefined) journaldRelay = logRelay(r, lr['journald'], 'logRelay.journald');
  }
  let strace: DobbySettings['strace'] = null;
  if (top['strace'] !== undefined) {
    const s = r.object(top['strace'], 'strace', ['logsDir', 'apps']);
    const logsDir = s?.['logsDir'] === undefined ? DEFAULT_STRACE_DIR : r.path(s['logsDir'], 'strace.logsDir');
    const apps = s?.['apps'] === undefined ? [] : r.strings(s['apps'], 'strace.apps');
    if (s !== undefined && logsDir !== undefined && apps !== undefined) strace = { logsDir, apps };
  }
  let apparmor = { enable: true, defaultProfile: DEFAULT_APPARMOR_PROFILE };
  if (top['apparmor'] !== undefined) {
    const a = r.object(top['apparmor'], 'apparmor', ['enable', 'defaultProfile']);
    apparmor = {
      enable: a?.['enable'] === undefined ? true : r.bool(a['enable'], 'apparmor.enable') ?? true,
      defaultProfile: a?.['defaultProfile'] === undefined ? DEFAULT_APPARMOR_PROFILE : r.string(a['defaultProfile'], 'apparmor.defaultProfile') ?? DEFAULT_APPARMOR_PROFILE,
    };
  }
  let pids = { enable: true, limit: DEFAULT_PIDS_LIMIT };
  if (top['pids'] !== undefined) {
    const p = r.object(top['pids'], 'pids', ['enable', 'limit']);
    const enable = p?.['enable'] === undefined ? true : r.bool(p['enable'], 'pids.enable') ?? true;
    let limit = DEFAULT_PIDS_LIMIT;
    if (p?.['limit'] !== undefined) {
      const l = p['limit'];
      if (typeof l !== 'number' || !Number.isInteger(l) || l < 1 || l > 4_194_304) r.bad('pids.limit', `must be a whole number of processes from 1 to 4194304, not ${typeof l === 'number' ? l : typeName(l)}`);
      else limit = l;
    }
    pids = { enable, limit };
  }
  if (r.problems.length > 0) return { ok: false, problems: r.problems };
  return {
    ok: true,
    warnings: r.warnings,
    settings: {
      paths: { workspaceDir, persistentDir },
      logging: { consoleSocket },
      extraEnvVariables: mergeEnv(platformEnv(ctx.env), extraEnv),
      gpu, vpu,
      network: { externalInterfaces, addressRange, ipv6 },
      defaultPlugins: plugins,
      logRelay: { syslog: syslogRelay, journald: journaldRelay },
      strace, apparmor, pids,
    },
  };
}
