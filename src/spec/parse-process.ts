// Spec fields about the container's process: args, user, userNs, env, cwd, rtPriority, restartOnCrash.

import type { Issues } from './result.ts';
import type { SpecVersion } from './types.ts';
import { normaliseContainerPath } from './container-path.ts';
import {
  childPath, has, indexPath, isObject, own, quote, readBoolean, readInteger, readObject, readString, readStringArray,
  warnUnknownKeys, wrongType,
} from './json-read.ts';

export function parseArgs(issues: Issues, value: unknown): string[] | undefined {
  const args = readStringArray(issues, 'args', value);
  if (args === undefined) return undefined;
  if (args.length === 0) {
    issues.error('INVALID_VALUE', 'args', 'is empty; give the program and its arguments, e.g. ["sleep", "60"]');
    return undefined;
  }
  const program = args[0]!;
  // The init (tini) would read a leading '-' as one of its own options.
  if (program === '' || program.startsWith('-')) {
    issues.error('INVALID_VALUE', 'args[0]', `${quote(program)} is not a program; give its name or path, e.g. "sleep"`);
    return undefined;
  }
  return args;
}

export function parseUser(issues: Issues, value: unknown): { uid: number; gid: number } | undefined {
  const user = readObject(issues, 'user', value, '{"uid": 1000, "gid": 1000}');
  if (user === undefined) return undefined;
  warnUnknownKeys(issues, 'user', user, ['uid', 'gid']);
  let uid: number | undefined;
  let gid: number | undefined;
  if (!has(user, 'uid')) issues.error('MISSING', 'user.uid', 'required; give the host uid to run as (1..65534)');
  else if (own(user, 'uid') === 0) {
    issues.error('NOT_ALLOWED', 'user.uid', '0 is not allowed; containers run as a non-root user (1..65534)');
  } else {
    uid = readInteger(issues, 'user.uid', own(user, 'uid'), {
      min: 1, max: 65534, hint: 'containers run as a non-root user (1..65534)',
    });
  }
  if (!has(user, 'gid')) issues.error('MISSING', 'user.gid', 'required; give the host gid to run as (0..65534)');
  else gid = readInteger(issues, 'user.gid', own(user, 'gid'), { min: 0, max: 65534, hint: 'use a gid in 0..65534' });
  return uid === undefined || gid === undefined ? undefined : { uid, gid };
}

/** Absent or true: a user namespace. false or null: none (Dobby reads null as false). */
export function parseUserNs(issues: Issues, value: unknown): boolean | undefined {
  return readBoolean(issues, 'userNs', value, false);
}

export function parseEnv(issues: Issues, value: unknown): string[] | undefined {
  const env = readStringArray(issues, 'env', value);
  if (env === undefined) return undefined;
  let bad = false;
  env.forEach((entry, i) => {
    const eq = entry.indexOf('=');
    if (eq <= 0) {
      issues.error('INVALID_VALUE', indexPath('env', i), `${quote(entry)} is not NAME=value`);
      bad = true;
    }
  });
  return bad ? undefined : env;
}

export function parseCwd(issues: Issues, value: unknown): string | undefined {
  const cwd = readString(issues, 'cwd', value, 'an absolute path');
  if (cwd === undefined) return undefined;
  const normal = normaliseContainerPath(cwd);
  if (!normal.ok) {
    issues.error('INVALID_VALUE', 'cwd', normal.reason);
    return undefined;
  }
  return normal.path;
}

const RT_RANGE = { min: 0, max: 99, hint: 'real-time priorities are 0..99' };

/** Version 1.0: an integer (default and limit). Version 1.1: `{default, limit}`, each optional. */
export function parseRtPriority(
  issues: Issues, value: unknown, version: SpecVersion | undefined,
): { default: number; limit: number } | undefined {
  if (version === '1.0' || (version === undefined && !isObject(value))) {
    if (isObject(value)) {
      issues.error('WRONG_TYPE', 'rtPriority',
        'version 1.0 specs take an integer (e.g. 4); the {"default", "limit"} object needs "version": "1.1"');
      return undefined;
    }
    const n = readInteger(issues, 'rtPriority', value, RT_RANGE);
    // Dobby writes {rtdefault: N, rtlimit: 0}: the plugin's default limit (6) applies.
    return n === undefined ? undefined : { default: n, limit: 0 };
  }
  if (!isObject(value)) {
    wrongType(issues, 'rtPriority', 'an object like {"default": 4, "limit": 6} (version 1.1)', value);
    return undefined;
  }
  warnUnknownKeys(issues, 'rtPriority', value, ['default', 'limit']);
  const rawDefault = own(value, 'default');
  const rawLimit = own(value, 'limit');
  const def = rawDefault === undefined || rawDefault === null
    ? 0 : readInteger(issues, childPath('rtPriority', 'default'), rawDefault, RT_RANGE);
  const limit = rawLimit === undefined || rawLimit === null
    ? def : readInteger(issues, childPath('rtPriority', 'limit'), rawLimit, RT_RANGE);
  if (def === undefined || limit === undefined) return undefined;
  if (def > limit) {
    issues.sentence('INVALID_VALUE', 'rtPriority.default',
      `rtPriority.default (${def}) must be <= rtPriority.limit (${limit})`);
    return undefined;
  }
  return { default: def, limit };
}

export function parseRestartOnCrash(issues: Issues, value: unknown): boolean | undefined {
  return readBoolean(issues, 'restartOnCrash', value, false);
}
