// The plugin entries a spec asks for: generated from its fields, settings defaults, then the spec's own rdkPlugins.
//
// Order of precedence (later wins): settings `defaultPlugins` (required false) < data generated from spec fields
// (console → logging, dbus → ipc, gpu → gpu, loop mounts → storage, network → networking, rtPriority →
// rtscheduling) < the spec's `rdkPlugins`, merged as Dobby merges them: a non-array data member replaces, an array
// member is appended to an existing array, `required`/`dependsOn` replace when given.

import type { DobbySpec, SpecLoopMount } from './types.ts';
import type { SpecToOciOptions } from './options.ts';
import { isObject } from './json-read.ts';

export interface RdkPluginEntry {
  readonly required: boolean;
  readonly dependsOn: readonly string[];
  readonly data: { readonly [key: string]: unknown };
}

export interface PluginSet {
  readonly rdkPlugins: { readonly [name: string]: RdkPluginEntry };
  /** Legacy plugins (spec `plugins`), always required, as Dobby writes them into `legacyPlugins`. */
  readonly legacyPlugins: { readonly [name: string]: { readonly required: true; readonly data: unknown } };
}

/** Dobby's GPU plugin memory when the spec gives no gpu.memLimit. */
export const DEFAULT_GPU_MEMORY = 64 * 1024 * 1024;

const LOOP_FLAGS: Readonly<Record<string, number>> = {
  ro: 0x1, nosuid: 0x2, nodev: 0x4, noexec: 0x8, sync: 0x10, dirsync: 0x80, noatime: 0x400, nodiratime: 0x800,
  relatime: 0x200000, strictatime: 0x1000000,
};

/** The storage plugin's entry for one loop mount: known options become MS_* flags, the rest stay options. */
export function loopMountData(mount: SpecLoopMount): Record<string, unknown> {
  let flags = 0;
  const options: string[] = [];
  for (const opt of mount.options) {
    const flag = Object.hasOwn(LOOP_FLAGS, opt) ? LOOP_FLAGS[opt] : undefined;
    if (flag === undefined) options.push(opt);
    else flags |= flag;
  }
  return { source: mount.source, destination: mount.destination, fstype: mount.fstype, flags, options, imgmanagement: false };
}

function generated(spec: DobbySpec): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  if (spec.console !== null) {
    out.set('logging', spec.console.sink === 'file'
      ? { sink: 'file', fileOptions: { path: spec.console.path, limit: spec.console.limit } }
      : { sink: 'devnull' });
  }
  if (spec.dbus !== null && Object.keys(spec.dbus).length > 0) out.set('ipc', { ...spec.dbus });
  if (spec.gpu?.enable === true) out.set('gpu', { memory: spec.gpu.memLimit ?? DEFAULT_GPU_MEMORY });
  const loops = spec.mounts.filter((m): m is SpecLoopMount => m.kind === 'loop');
  if (loops.length > 0) out.set('storage', { loopback: loops.map(loopMountData) });
  if (spec.network === 'nat') out.set('networking', { type: 'nat', dnsmasq: true, ipv4: true });
  else if (spec.network === 'open') out.set('networking', { type: 'open', dnsmasq: true });
  else if (spec.network === 'private') out.set('networking', { type: 'none' });
  if (spec.rtPriority !== null) out.set('rtscheduling', { rtlimit: spec.rtPriority.limit, rtdefault: spec.rtPriority.default });
  return out;
}

/** Defines an own property: a data member named `__proto__` must stay a member, not become a prototype. */
function put(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function mergeData(existing: Record<string, unknown>, extra: { readonly [key: string]: unknown }): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(existing)) put(out, k, v);
  for (const [k, v] of Object.entries(extra)) {
    const current = Object.hasOwn(out, k) ? out[k] : undefined;
    put(out, k, Array.isArray(v) && Array.isArray(current) ? [...current, ...v] : v);
  }
  return out;
}

export function buildPlugins(spec: DobbySpec, options: Pick<SpecToOciOptions, 'defaultPlugins'>): PluginSet {
  const entries = new Map<string, { required: boolean; dependsOn: readonly string[]; data: Record<string, unknown> }>();
  for (const [name, data] of Object.entries(options.defaultPlugins ?? {})) {
    entries.set(name, { required: false, dependsOn: [], data: isObject(data) ? { ...data } : {} });
  }
  for (const [name, data] of generated(spec)) {
    entries.set(name, { required: false, dependsOn: entries.get(name)?.dependsOn ?? [], data });
  }
  for (const [name, plugin] of Object.entries(spec.rdkPlugins)) {
    const current = entries.get(name) ?? { required: false, dependsOn: [], data: {} };
    entries.set(name, {
      required: plugin.required ?? current.required,
      dependsOn: plugin.dependsOn ?? current.dependsOn,
      data: plugin.data === null ? current.data : mergeData(current.data, plugin.data),
    });
  }
  const legacy: [string, { required: true; data: unknown }][] = spec.plugins.map((p) => [p.name, { required: true, data: p.data }]);
  return { rdkPlugins: Object.fromEntries(entries), legacyPlugins: Object.fromEntries(legacy) };
}
