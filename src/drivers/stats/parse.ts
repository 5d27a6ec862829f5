// Pure parsers for the cgroup and /proc files GetInfo reports (text in, values out; no I/O).

/** A cgroup counter: safe integers as numbers, larger ones as bigint, -1 for "unlimited", null when unreadable. */
import type { CgroupValue } from '../../host-services.ts';

export type { CgroupValue };

const U64_MAX = (1n << 64n) - 1n;
const I64_MAX = (1n << 63n) - 1n;

function toValue(big: bigint): number | bigint {
  return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

/**
 * The first whitespace-separated token of a single-value file (`memory.limit_in_bytes`,
 * `cpuacct.usage`, `memory.max`, …). Dobby turns the all-ones value into -1; cgroup v2 writes
 * "max" for the same meaning.
 */
export function parseSingleValue(text: string | null): CgroupValue {
  if (text === null) return null;
  const token = text.trim().split(/\s+/)[0] ?? '';
  if (token === 'max') return -1;
  if (!/^\d+$/.test(token)) return null;
  const big = BigInt(token);
  return big === U64_MAX ? -1 : toValue(big);
}

/**
 * cgroup v1 writes "no limit" as the largest page-aligned 64-bit signed value
 * (9223372036854771712 with 4 KiB pages; a little lower with bigger pages), not as all-ones.
 * Anything from 2^63 - 64 KiB up means unlimited.
 */
const V1_UNLIMITED_FROM = I64_MAX + 1n - (1n << 16n);

/**
 * A limit file (`memory.limit_in_bytes`, `memory.max`, `pids.max`): -1 for unlimited in every
 * spelling ("max", all-ones, v1's page-aligned LONG_MAX), as Dobby's "max/all-ones → -1".
 */
export function parseLimit(text: string | null): CgroupValue {
  const value = parseSingleValue(text);
  if (typeof value === 'bigint' && value >= V1_UNLIMITED_FROM) return -1;
  return value;
}

/** Whitespace-separated integers (`cgroup.procs`, `cpuacct.usage_percpu`); INT64_MAX is read as -1, as Dobby does. */
export function parseValueList(text: string | null): (number | bigint)[] {
  if (text === null) return [];
  const out: (number | bigint)[] = [];
  for (const token of text.split(/\s+/)) {
    if (!/^\d+$/.test(token)) continue;
    const big = BigInt(token);
    out.push(big === I64_MAX ? -1 : toValue(big));
  }
  return out;
}

/** A `key value` line of a flat-keyed file such as v2 `cpu.stat`; null when absent. */
export function parseFlatKey(text: string | null, key: string): number | bigint | null {
  if (text === null) return null;
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k === key && v !== undefined && /^\d+$/.test(v)) return toValue(BigInt(v));
  }
  return null;
}

/** v2 `cpu.stat` reports microseconds; GetInfo reports nanoseconds like v1's `cpuacct.usage`. */
export function parseV2CpuTotalNs(cpuStat: string | null): CgroupValue {
  const usec = parseFlatKey(cpuStat, 'usage_usec');
  if (usec === null) return null;
  return toValue(BigInt(usec) * 1000n);
}

/**
 * The pid of a process in its own (innermost) pid namespace, from the `NStgid:` line of
 * /proc/<pid>/status; -1 when the line is missing or the process is not in a child namespace.
 * Dobby reads the second entry: the container's level.
 */
export function parseNsPid(status: string | null, hostPid: number): number {
  if (status === null) return -1;
  for (const line of status.split('\n')) {
    if (!line.startsWith('NStgid:')) continue;
    const fields = line.slice('NStgid:'.length).trim().split(/\s+/).map(Number);
    const [real, ns] = fields;
    if (real !== hostPid || ns === undefined || !Number.isInteger(ns) || ns < 1) return -1;
    return ns;
  }
  return -1;
}

/** /proc/<pid>/cmdline with every NUL turned into a space (the trailing one included), as Dobby shows it. */
export function parseCmdline(raw: Buffer | string | null): string {
  if (raw === null) return '';
  return (typeof raw === 'string' ? raw : raw.toString('utf8')).replaceAll('\0', ' ');
}

/** Nanoseconds per USER_HZ tick (100 on every Linux ABI), for v1 `cpuacct.stat`. */
const NS_PER_TICK = 10_000_000n;

/** User and system cpu time in ns: v1 `cpuacct.stat` counts USER_HZ ticks. */
export function parseCpuacctStat(text: string | null): { user: CgroupValue; system: CgroupValue } {
  const ticks = (key: string): CgroupValue => {
    const v = parseFlatKey(text, key);
    return v === null ? null : toValue(BigInt(v) * NS_PER_TICK);
  };
  return { user: ticks('user'), system: ticks('system') };
}

/** User and system cpu time in ns from v2 `cpu.stat` (microseconds there). */
export function parseV2CpuSplitNs(cpuStat: string | null): { user: CgroupValue; system: CgroupValue } {
  const ns = (key: string): CgroupValue => {
    const v = parseFlatKey(cpuStat, key);
    return v === null ? null : toValue(BigInt(v) * 1000n);
  };
  return { user: ns('user_usec'), system: ns('system_usec') };
}
