// The spec's `mounts`: ordinary mounts (copied into the OCI config) and `type: "loop"` mounts (storage plugin).

import type { Issues } from './result.ts';
import type { SpecLoopMount, SpecMount } from './types.ts';
import { normaliseContainerPath } from './container-path.ts';
import type { JsonObject } from './json-read.ts';
import { childPath, has, indexPath, isObject, own, quote, readString, readStringArray, warnUnknownKeys, wrongType } from './json-read.ts';

const TYPE_PATTERN = /^[a-z0-9][a-z0-9._-]{0,31}$/;

function readRequiredString(issues: Issues, path: string, obj: JsonObject, key: string, hint: string): string | undefined {
  if (!has(obj, key)) {
    issues.error('MISSING', childPath(path, key), `required; ${hint}`);
    return undefined;
  }
  const s = readString(issues, childPath(path, key), own(obj, key));
  if (s === '') {
    issues.error('INVALID_VALUE', childPath(path, key), `is empty; ${hint}`);
    return undefined;
  }
  return s;
}

function parseMount(issues: Issues, path: string, value: unknown): SpecMount | SpecLoopMount | undefined {
  if (!isObject(value)) {
    wrongType(issues, path, 'an object like {"source": "/data", "destination": "/data", "type": "bind", "options": ["bind", "ro"]}', value);
    return undefined;
  }
  warnUnknownKeys(issues, path, value, ['source', 'destination', 'type', 'options', 'fstype']);
  const type = readRequiredString(issues, path, value, 'type', 'the mount type, e.g. "bind", "tmpfs" or "loop"');
  if (type !== undefined && !TYPE_PATTERN.test(type)) {
    issues.error('INVALID_VALUE', childPath(path, 'type'), `${quote(type)} is not a mount type; use e.g. "bind", "tmpfs" or "loop"`);
  }
  const source = readRequiredString(issues, path, value, 'source', 'the host path or device to mount');
  const hostPathType = type === 'bind' || type === 'rbind' || type === 'loop';
  if (source !== undefined && hostPathType && !source.startsWith('/')) {
    issues.error('INVALID_VALUE', childPath(path, 'source'), `${quote(source)} is not absolute; a ${type} mount needs an absolute host path`);
  }
  const rawDestination = readRequiredString(issues, path, value, 'destination', 'an absolute path inside the container');
  let destination: string | undefined;
  if (rawDestination !== undefined) {
    const normal = normaliseContainerPath(rawDestination);
    if (!normal.ok) issues.error('INVALID_VALUE', childPath(path, 'destination'), normal.reason);
    else if (normal.path === '/') issues.error('NOT_ALLOWED', childPath(path, 'destination'), 'mounting over / is not allowed; give a directory inside the container');
    else destination = normal.path;
  }
  const rawOptions = own(value, 'options');
  let options: string[] | undefined = [];
  if (rawOptions !== undefined && rawOptions !== null) {
    options = readStringArray(issues, childPath(path, 'options'), rawOptions);
    options?.forEach((opt, i) => {
      if (opt === '') issues.error('INVALID_VALUE', indexPath(childPath(path, 'options'), i), 'is empty; give a mount option such as "ro"');
    });
  }
  let fstype: string | undefined;
  if (type === 'loop') {
    fstype = readRequiredString(issues, path, value, 'fstype', 'the filesystem in the image, e.g. "ext4"');
    if (fstype !== undefined && !TYPE_PATTERN.test(fstype)) {
      issues.error('INVALID_VALUE', childPath(path, 'fstype'), `${quote(fstype)} is not a filesystem type; use e.g. "ext4"`);
    }
  } else if (has(value, 'fstype')) {
    issues.warn(`${childPath(path, 'fstype')}: only used by "loop" mounts, ignored`);
  }
  if (type === undefined || source === undefined || destination === undefined || options === undefined) return undefined;
  if (type === 'loop') {
    return fstype === undefined ? undefined : { kind: 'loop', source, destination, fstype, options };
  }
  return { kind: 'mount', source, destination, type, options };
}

export function parseMounts(issues: Issues, value: unknown): (SpecMount | SpecLoopMount)[] | undefined {
  if (!Array.isArray(value)) {
    wrongType(issues, 'mounts', 'an array of mount objects', value);
    return undefined;
  }
  const out: (SpecMount | SpecLoopMount)[] = [];
  const seen = new Map<string, number>();
  let bad = false;
  value.forEach((entry: unknown, i) => {
    const path = indexPath('mounts', i);
    const mount = parseMount(issues, path, entry);
    if (mount === undefined) {
      bad = true;
      return;
    }
    const earlier = seen.get(mount.destination);
    if (earlier !== undefined) {
      issues.error('INVALID_VALUE', childPath(path, 'destination'),
        `'${mount.destination}' is already the destination of mounts[${earlier}]; mount each path once`);
      bad = true;
      return;
    }
    seen.set(mount.destination, i);
    out.push(mount);
  });
  return bad ? undefined : out;
}
