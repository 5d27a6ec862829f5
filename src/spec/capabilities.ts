// Capability names and the one rule set for a spec's capability list (Docker 1.9 TweakCapabilities, with CAP_ names).
//
// Rules, in order:
//  - names are case-insensitive, the `CAP_` prefix is optional, `ALL` means every capability; output is
//    upper case with `CAP_`; an unknown name is an error (reported where it is written);
//  - Dobby's form `"capabilities": [...]` lists capabilities to add; our extension
//    `"capabilities": {"add": [...], "drop": [...]}` also drops;
//  - add ALL: start from every capability the kernel has, else from the default set;
//  - drop ALL: start from nothing (this wins over add ALL, as in Docker 1.9), else remove each dropped one;
//  - then append each added one not yet present (so `drop ALL` + `add NET_RAW` gives exactly NET_RAW, and a
//    capability both added and dropped is present);
//  - a known capability the running kernel lacks (above cap_last_cap) is an error at conversion time.

import type { Issues } from './result.ts';
import type { SpecCapabilities } from './types.ts';
import { childPath, indexPath, isObject, own, quote, readStringArray, warnUnknownKeys, wrongType } from './json-read.ts';

/** Every capability Linux defines, indexed by its number (linux/capability.h, up to 6.x). */
export const KNOWN_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

export const LAST_KNOWN_CAP = KNOWN_CAPABILITIES.length - 1;

/** Dobby's template gives every container these, in all five sets. */
export const DEFAULT_CAPABILITIES: readonly string[] = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

/** `net_raw`, `CAP_net_raw`, `NET_RAW` → `CAP_NET_RAW`; `all` → `ALL`; null when unknown. */
export function normaliseCapability(name: string): string | null {
  const upper = name.toUpperCase();
  if (upper === 'ALL') return 'ALL';
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  return KNOWN_CAPABILITIES.includes(full) ? full : null;
}

function readNames(issues: Issues, path: string, value: unknown): string[] {
  const names = readStringArray(issues, path, value);
  if (names === undefined) return [];
  const out: string[] = [];
  names.forEach((name, i) => {
    const normal = normaliseCapability(name);
    if (normal === null) {
      issues.error('UNKNOWN_NAME', indexPath(path, i),
        `unknown capability ${quote(name, 40)}; use a name from capabilities(7) such as CAP_NET_RAW ` +
        '(case and the CAP_ prefix are optional), or ALL');
    } else if (!out.includes(normal)) {
      out.push(normal);
    }
  });
  return out;
}

/** Reads the spec's `capabilities`: Dobby's array of names to add, or `{add, drop}`. */
export function parseCapabilities(issues: Issues, path: string, value: unknown): SpecCapabilities | undefined {
  if (Array.isArray(value)) return { add: readNames(issues, path, value), drop: [] };
  if (isObject(value)) {
    warnUnknownKeys(issues, path, value, ['add', 'drop']);
    const add = own(value, 'add');
    const drop = own(value, 'drop');
    return {
      add: add === undefined || add === null ? [] : readNames(issues, childPath(path, 'add'), add),
      drop: drop === undefined || drop === null ? [] : readNames(issues, childPath(path, 'drop'), drop),
    };
  }
  wrongType(issues, path, 'an array of capability names like ["CAP_NET_RAW"] or {"add": [...], "drop": [...]}', value);
  return undefined;
}

/**
 * The capability set after the spec's adds and drops (rules at the top of this file). `lastCap` is the kernel's
 * /proc/sys/kernel/cap_last_cap; names above it are reported through `issues`.
 */
export function computeCapabilities(
  caps: SpecCapabilities | null, issues: Issues, lastCap: number = LAST_KNOWN_CAP,
): string[] {
  if (caps === null) return [...DEFAULT_CAPABILITIES];
  const available = KNOWN_CAPABILITIES.slice(0, Math.max(0, Math.min(lastCap, LAST_KNOWN_CAP) + 1));
  for (const name of [...caps.add, ...caps.drop]) {
    if (name !== 'ALL' && !available.includes(name)) {
      issues.error('HOST', 'capabilities',
        `${name} is not supported by this kernel (its last capability is ${KNOWN_CAPABILITIES[lastCap] ?? lastCap}); ` +
        'remove it from the spec');
    }
  }
  const base = caps.add.includes('ALL') ? available : DEFAULT_CAPABILITIES;
  const kept = caps.drop.includes('ALL') ? [] : base.filter((c) => !caps.drop.includes(c));
  for (const name of caps.add) {
    if (name !== 'ALL' && available.includes(name) && !kept.includes(name)) kept.push(name);
  }
  return kept;
}
