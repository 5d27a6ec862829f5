// The spec's plugin fields: legacy `plugins` ([{name, data}]) and `rdkPlugins` ({name: {required, dependsOn, data}}).

import type { Issues } from './result.ts';
import type { RdkPluginSpec } from './types.ts';
import { childPath, indexPath, isObject, own, quote, readBoolean, readStringArray, warnUnknownKeys, wrongType } from './json-read.ts';

const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

function checkName(issues: Issues, path: string, name: string): boolean {
  if (NAME_PATTERN.test(name)) return true;
  issues.error('INVALID_VALUE', path, `${quote(name, 40)} is not a plugin name; use 1-64 characters of A-Z a-z 0-9 . _ -`);
  return false;
}

export function parseLegacyPlugins(issues: Issues, value: unknown): { name: string; data: unknown }[] | undefined {
  if (!Array.isArray(value)) {
    wrongType(issues, 'plugins', 'an array like [{"name": "jumper", "data": {}}]', value);
    return undefined;
  }
  const out: { name: string; data: unknown }[] = [];
  let bad = false;
  value.forEach((entry: unknown, i) => {
    const path = indexPath('plugins', i);
    if (!isObject(entry)) {
      wrongType(issues, path, 'an object like {"name": "jumper", "data": {}}', entry);
      bad = true;
      return;
    }
    warnUnknownKeys(issues, path, entry, ['name', 'data']);
    const name = own(entry, 'name');
    if (typeof name !== 'string') {
      wrongType(issues, childPath(path, 'name'), 'the plugin name as a string', name);
      bad = true;
    } else if (!checkName(issues, childPath(path, 'name'), name)) {
      bad = true;
    } else if (out.some((p) => p.name === name)) {
      issues.error('INVALID_VALUE', childPath(path, 'name'), `plugin ${quote(name)} is listed twice; list each plugin once`);
      bad = true;
    } else {
      out.push({ name, data: own(entry, 'data') ?? null });
    }
  });
  return bad ? undefined : out;
}

function parseRdkPlugin(issues: Issues, path: string, value: unknown): RdkPluginSpec | undefined {
  if (!isObject(value)) {
    wrongType(issues, path, 'an object like {"required": false, "dependsOn": [], "data": {}}', value);
    return undefined;
  }
  warnUnknownKeys(issues, path, value, ['required', 'dependsOn', 'data']);
  const rawRequired = own(value, 'required');
  const required = rawRequired === undefined || rawRequired === null
    ? null : readBoolean(issues, childPath(path, 'required'), rawRequired);
  const rawDepends = own(value, 'dependsOn');
  let dependsOn: string[] | null | undefined = null;
  if (rawDepends !== undefined && rawDepends !== null) {
    dependsOn = readStringArray(issues, childPath(path, 'dependsOn'), rawDepends);
    dependsOn?.forEach((name, i) => {
      if (!checkName(issues, indexPath(childPath(path, 'dependsOn'), i), name)) dependsOn = undefined;
    });
  }
  const rawData = own(value, 'data');
  let data: RdkPluginSpec['data'] | undefined = null;
  if (rawData !== undefined && rawData !== null) {
    if (isObject(rawData)) data = rawData;
    else {
      wrongType(issues, childPath(path, 'data'), 'an object (the plugin\'s settings)', rawData);
      data = undefined;
    }
  }
  if (required === undefined || dependsOn === undefined || data === undefined) return undefined;
  return { required, dependsOn, data };
}

export function parseRdkPlugins(issues: Issues, value: unknown): Record<string, RdkPluginSpec> | undefined {
  if (!isObject(value)) {
    wrongType(issues, 'rdkPlugins', 'an object like {"logging": {"required": false, "data": {...}}}', value);
    return undefined;
  }
  const entries: [string, RdkPluginSpec][] = [];
  let bad = false;
  for (const [name, entry] of Object.entries(value)) {
    const path = childPath('rdkPlugins', name);
    if (!checkName(issues, path, name)) {
      bad = true;
      continue;
    }
    const plugin = parseRdkPlugin(issues, path, entry);
    if (plugin === undefined) bad = true;
    else entries.push([name, plugin]);
  }
  // fromEntries defines own properties, so a plugin called __proto__ cannot touch the prototype.
  return bad ? undefined : Object.fromEntries(entries);
}
