// parseSpec: Dobby spec JSON text → a validated DobbySpec, or every problem found (never an exception).
//
// Unknown top-level keys are ignored, as Dobby ignores them (clients may send extra keys, e.g. a name or a
// comment); each one gives a warning, with a hint when it differs from a known key only in case. Our own extensions
// (resources, readonlyRootfs, hostNamespaces, noNewPrivileges: docs/spec-extensions.md) are known keys here.

import type { DobbySpec, SpecVersion } from './types.ts';
import { Issues, type Result } from './result.ts';
import { has, isObject, nestingDepth, own, quote, warnUnknownKeys, wrongType } from './json-read.ts';
import { parseArgs, parseCwd, parseEnv, parseRestartOnCrash, parseRtPriority, parseUser, parseUserNs } from './parse-process.ts';
import { parseCpu, parseDevices, parseGpu, parseMemLimit, parseSwapLimit, parseVpu } from './parse-resources.ts';
import { parseMounts } from './parse-mounts.ts';
import { EMPTY_ETC, parseConsole, parseDbus, parseEtc, parseNetwork, parseSyslog } from './parse-io.ts';
import { parseCapabilities } from './capabilities.ts';
import { parseSeccomp } from './seccomp.ts';
import { describeJsonError } from './json-syntax.ts';
import { parseLegacyPlugins, parseRdkPlugins } from './parse-plugins.ts';
import {
  NO_RESOURCES, checkExtensions, parseHostNamespaces, parseNoNewPrivileges, parseReadonlyRootfs, parseResourcesExtension,
} from './parse-extensions.ts';

/** Larger specs are refused before parsing (a real one is a few KiB). */
export const MAX_SPEC_BYTES = 4 * 1024 * 1024;
/** Deeper nesting is refused: no spec needs it, and it would only feed stack overflows further on. */
export const MAX_SPEC_DEPTH = 64;

export const SPEC_FIELDS = [
  'version', 'args', 'user', 'userNs', 'memLimit', 'swapLimit', 'env', 'cwd', 'console', 'network', 'mounts', 'cpu',
  'rtPriority', 'gpu', 'vpu', 'dbus', 'syslog', 'devices', 'capabilities', 'seccomp', 'etc', 'restartOnCrash',
  'plugins', 'rdkPlugins',
] as const;

/** Our extensions of the format; Dobby ignores them. */
export const EXTENSION_FIELDS = ['resources', 'readonlyRootfs', 'hostNamespaces', 'noNewPrivileges'] as const;

/** Dobby reads these objects member by member, so null passes as an empty object; elsewhere null is an error. */
const NULL_MEANS_ABSENT = new Set(['swapLimit', 'cpu', 'gpu', 'vpu', 'dbus', 'rdkPlugins', ...EXTENSION_FIELDS]);

const REQUIRED: Record<string, string> = {
  version: 'use "1.0" or "1.1"',
  args: 'give the program and its arguments, e.g. ["sleep", "60"]',
  user: 'give the host user to run as, e.g. {"uid": 1000, "gid": 1000}',
  memLimit: 'give the memory limit in bytes, e.g. 41943040 for 40 MiB',
};

export function parseSpec(text: string): Result<DobbySpec> {
  const issues = new Issues();
  const json = readJson(issues, text);
  if (json === undefined) return issues.result(undefined as never);
  if (!isObject(json)) {
    wrongType(issues, '', 'the spec to be a JSON object', json);
    return issues.result(undefined as never);
  }
  for (const [key, hint] of Object.entries(REQUIRED)) {
    if (has(json, key)) continue;
    const near = Object.keys(json).find((k) => k.toLowerCase() === key.toLowerCase());
    issues.error('MISSING', key, near === undefined ? `required; ${hint}` : `required (found '${near}': field names are case-sensitive)`);
  }
  warnUnknownKeys(issues, '', json, [...SPEC_FIELDS, ...EXTENSION_FIELDS]);

  const version = readVersion(issues, own(json, 'version'));
  const field = <T>(key: string, parse: (value: unknown) => T | undefined, absent: T): T | undefined =>
    !has(json, key) || (own(json, key) === null && NULL_MEANS_ABSENT.has(key)) ? absent : parse(own(json, key));

  const spec = {
    version: version ?? '1.0',
    args: field('args', (v) => parseArgs(issues, v), []),
    user: field('user', (v) => parseUser(issues, v), { uid: 0, gid: 0 }),
    userNs: field('userNs', (v) => parseUserNs(issues, v), true),
    memLimit: field('memLimit', (v) => parseMemLimit(issues, v), 0),
    swapLimit: field('swapLimit', (v) => parseSwapLimit(issues, v), null),
    env: field('env', (v) => parseEnv(issues, v), []),
    cwd: field('cwd', (v) => parseCwd(issues, v), '/'),
    console: field('console', (v) => parseConsole(issues, v), null),
    network: field('network', (v) => parseNetwork(issues, v), 'absent'),
    mounts: field('mounts', (v) => parseMounts(issues, v), []),
    cpu: field('cpu', (v) => parseCpu(issues, v), null),
    rtPriority: field('rtPriority', (v) => parseRtPriority(issues, v, version), null),
    gpu: field('gpu', (v) => parseGpu(issues, v), null),
    vpu: field('vpu', (v) => parseVpu(issues, v), null),
    dbus: field('dbus', (v) => parseDbus(issues, v), null),
    syslog: field('syslog', (v) => parseSyslog(issues, v), false),
    devices: field('devices', (v) => parseDevices(issues, v), []),
    capabilities: field('capabilities', (v) => parseCapabilities(issues, 'capabilities', v), null),
    seccomp: field('seccomp', (v) => parseSeccomp(issues, v), null),
    etc: field('etc', (v) => parseEtc(issues, v), EMPTY_ETC),
    restartOnCrash: field('restartOnCrash', (v) => parseRestartOnCrash(issues, v), false),
    plugins: field('plugins', (v) => parseLegacyPlugins(issues, v), []),
    rdkPlugins: field('rdkPlugins', (v) => parseRdkPlugins(issues, v), {}),
    resources: field('resources', (v) => parseResourcesExtension(issues, v), NO_RESOURCES),
    readonlyRootfs: field('readonlyRootfs', (v) => parseReadonlyRootfs(issues, v), true),
    hostNamespaces: field('hostNamespaces', (v) => parseHostNamespaces(issues, v), []),
    noNewPrivileges: field<boolean | null>('noNewPrivileges', (v) => parseNoNewPrivileges(issues, v), null),
  };

  if (spec.memLimit !== undefined && spec.swapLimit !== undefined && spec.swapLimit !== null && spec.swapLimit < spec.memLimit) {
    issues.sentence('OUT_OF_RANGE', 'swapLimit',
      `swapLimit (${spec.swapLimit}) must be >= memLimit (${spec.memLimit}); it is the limit for memory and swap together`);
  }
  const { resources, memLimit, rtPriority, userNs, network, hostNamespaces } = spec;
  if (resources !== undefined && memLimit !== undefined && rtPriority !== undefined && userNs !== undefined &&
    network !== undefined && hostNamespaces !== undefined) {
    checkExtensions({ resources, memLimit, rtPriority, userNs, network, hostNamespaces }, issues);
  }
  // Every field is defined once no error was reported (each parser reports before returning undefined).
  return issues.result(spec as DobbySpec);
}

function readJson(issues: Issues, text: unknown): unknown {
  if (typeof text !== 'string') {
    wrongType(issues, '', 'the spec as JSON text', text);
    return undefined;
  }
  if (text.length > MAX_SPEC_BYTES) {
    issues.error('TOO_LARGE', '', `the spec is ${text.length} characters long; at most ${MAX_SPEC_BYTES} are accepted`);
    return undefined;
  }
  if (text.trim() === '') {
    issues.error('SYNTAX', '', 'the spec is empty; give a JSON object like {"version": "1.0", ...}');
    return undefined;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    issues.error('SYNTAX', '', `the spec is not valid JSON: ${describeJsonError(text, err)}`);
    return undefined;
  }
  if (nestingDepth(json, MAX_SPEC_DEPTH) > MAX_SPEC_DEPTH) {
    issues.error('TOO_LARGE', '', `the spec is nested more than ${MAX_SPEC_DEPTH} levels deep`);
    return undefined;
  }
  return json;
}

function readVersion(issues: Issues, value: unknown): SpecVersion | undefined {
  if (value === undefined) return undefined;
  if (value === '1.0' || value === '1.1') return value;
  if (typeof value === 'string') issues.error('INVALID_VALUE', 'version', `${quote(value, 20)} is not a spec version; use "1.0" or "1.1"`);
  else wrongType(issues, 'version', '"1.0" or "1.1"', value);
  return undefined;
}
