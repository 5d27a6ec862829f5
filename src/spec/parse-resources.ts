// Spec fields about resources and hardware: memLimit, swapLimit, cpu, gpu, vpu, devices.

import type { Issues } from './result.ts';
import type { SpecDevice } from './types.ts';
import { parseCpuList } from './cpuset.ts';
import {
  childPath, has, indexPath, isObject, own, quote, readBoolean, readInteger, readObject, readString, warnUnknownKeys,
  wrongType,
} from './json-read.ts';

const LOW_MEMORY = 256 * 1024;
const UINT32_MAX = 2 ** 32 - 1;

export function parseMemLimit(issues: Issues, value: unknown): number | undefined {
  const limit = readInteger(issues, 'memLimit', value, {
    min: 1, max: Number.MAX_SAFE_INTEGER, hint: 'give the limit in bytes, e.g. 41943040 for 40 MiB',
  });
  if (limit !== undefined && limit < LOW_MEMORY) {
    issues.warn(`memLimit (${limit}) is below 256 KiB; the container will probably be OOM-killed as it starts`);
  }
  return limit;
}

/** Memory plus swap, in bytes (Dobby caps it at 2^32-1); checked against memLimit by the caller. */
export function parseSwapLimit(issues: Issues, value: unknown): number | undefined {
  return readInteger(issues, 'swapLimit', value, {
    min: 0, max: UINT32_MAX, hint: `give memory+swap in bytes, >= memLimit and <= ${UINT32_MAX}`,
  });
}

export function parseCpu(
  issues: Issues, value: unknown,
): { shares: number | null; cores: number[] | null } | undefined {
  const cpu = readObject(issues, 'cpu', value, '{"shares": 50, "cores": "0-1"}');
  if (cpu === undefined) return undefined;
  warnUnknownKeys(issues, 'cpu', cpu, ['shares', 'cores']);
  let ok = true;
  let shares: number | null = null;
  const rawShares = own(cpu, 'shares');
  if (rawShares !== undefined && rawShares !== null) {
    const n = readInteger(issues, 'cpu.shares', rawShares, {
      min: 1, max: 100, hint: 'shares is a percentage of the CPU time, 1..100',
    });
    if (n === undefined) ok = false;
    else shares = n;
  }
  let cores: number[] | null = null;
  const rawCores = own(cpu, 'cores');
  if (rawCores !== undefined && rawCores !== null) {
    const text = readString(issues, 'cpu.cores', rawCores, 'a CPU list like "0-1,3"');
    if (text === undefined) ok = false;
    else {
      const parsed = parseCpuList(text);
      if (parsed.ok) cores = parsed.cpus;
      else {
        issues.error('INVALID_VALUE', 'cpu.cores', parsed.reason);
        ok = false;
      }
    }
  }
  return ok ? { shares, cores } : undefined;
}

export function parseGpu(issues: Issues, value: unknown): { enable: boolean; memLimit: number | null } | undefined {
  const gpu = readObject(issues, 'gpu', value, '{"enable": true, "memLimit": 67108864}');
  if (gpu === undefined) return undefined;
  warnUnknownKeys(issues, 'gpu', gpu, ['enable', 'memLimit']);
  const rawEnable = own(gpu, 'enable');
  const enable = rawEnable === undefined ? false : readBoolean(issues, 'gpu.enable', rawEnable, false);
  const rawMem = own(gpu, 'memLimit');
  const memLimit = rawMem === undefined || rawMem === null
    ? null
    : readInteger(issues, 'gpu.memLimit', rawMem, { min: 0, max: UINT32_MAX, hint: `give GPU memory in bytes (0..${UINT32_MAX})` });
  if (enable === undefined || memLimit === undefined) return undefined;
  return { enable, memLimit };
}

export function parseVpu(issues: Issues, value: unknown): { enable: boolean } | undefined {
  const vpu = readObject(issues, 'vpu', value, '{"enable": true}');
  if (vpu === undefined) return undefined;
  warnUnknownKeys(issues, 'vpu', vpu, ['enable']);
  const rawEnable = own(vpu, 'enable');
  const enable = rawEnable === undefined ? false : readBoolean(issues, 'vpu.enable', rawEnable, false);
  return enable === undefined ? undefined : { enable };
}

const ACCESS = ['r', 'w', 'rw', 'wr'];

function parseDevice(issues: Issues, path: string, value: unknown): SpecDevice | undefined {
  if (!isObject(value)) {
    wrongType(issues, path, 'an object like {"major": "hidraw", "minor": 0, "access": "rw"}', value);
    return undefined;
  }
  warnUnknownKeys(issues, path, value, ['major', 'minor', 'access']);
  let major: string | number | undefined;
  const rawMajor = own(value, 'major');
  if (!has(value, 'major')) issues.error('MISSING', childPath(path, 'major'), 'required; a driver name like "hidraw" or a number 1..1024');
  else if (typeof rawMajor === 'string') {
    if (/^[A-Za-z0-9_./-]{1,64}$/.test(rawMajor)) major = rawMajor;
    else issues.error('INVALID_VALUE', childPath(path, 'major'), `${quote(rawMajor)} is not a driver name from /proc/devices`);
  } else {
    major = readInteger(issues, childPath(path, 'major'), rawMajor, { min: 1, max: 1024, hint: 'device majors are 1..1024' });
  }
  const minor = has(value, 'minor')
    ? readInteger(issues, childPath(path, 'minor'), own(value, 'minor'), { min: 0, max: 1024, hint: 'device minors are 0..1024' })
    : (issues.error('MISSING', childPath(path, 'minor'), 'required; a number 0..1024'), undefined);
  let access: string | undefined;
  if (!has(value, 'access')) issues.error('MISSING', childPath(path, 'access'), 'required; one of "r", "w", "rw"');
  else {
    const raw = readString(issues, childPath(path, 'access'), own(value, 'access'), '"r", "w" or "rw"');
    if (raw !== undefined) {
      if (ACCESS.includes(raw.toLowerCase())) access = raw.toLowerCase();
      else issues.error('INVALID_VALUE', childPath(path, 'access'), `${quote(raw)} is not an access mode; use "r", "w" or "rw"`);
    }
  }
  if (major === undefined || minor === undefined || access === undefined) return undefined;
  return { major, minor, access };
}

export function parseDevices(issues: Issues, value: unknown): SpecDevice[] | undefined {
  if (!Array.isArray(value)) {
    wrongType(issues, 'devices', 'an array of {"major", "minor", "access"} objects', value);
    return undefined;
  }
  const out: SpecDevice[] = [];
  let bad = false;
  value.forEach((entry: unknown, i) => {
    const device = parseDevice(issues, indexPath('devices', i), entry);
    if (device === undefined) bad = true;
    else out.push(device);
  });
  return bad ? undefined : out;
}
