// Shared fixtures for the spec tests: a fixed host (so results do not depend on this machine) and loaders.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSpec, specToOci, validateOciConfig } from '../../src/spec/index.ts';
import type { DobbySpec, HardwareAccess, OciConversion, SpecError, SpecToOciOptions } from '../../src/spec/index.ts';

export const CORPUS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'corpus');

export const GPU: HardwareAccess = {
  devNodes: [{ path: '/dev/mali0', major: 240, minor: 0, mode: 0o666 }],
  groupIds: [44],
  extraMounts: [{ source: '/tmp/gpu-ipc', destination: '/tmp/gpu', type: 'bind', options: ['bind', 'rw'] }],
  extraEnv: ['GPU_DRIVER=mali'],
};

export const VPU: HardwareAccess = {
  devNodes: [{ path: '/dev/vpu0', major: 241, minor: 3, mode: 0o660 }],
  groupIds: [45],
  extraMounts: [],
  extraEnv: ['VPU_ON=1'],
};

/**
 * A host like this VM: cgroup v1, /lib64, 2 CPUs, RTPRIO hard limit 0, hidraw at 245, no CAP_SYS_RESOURCE, no
 * blkio.weight, a kernel that ignores kernel memory limits (but with /dev/log, unlike this VM).
 */
export const HOST: SpecToOciOptions = {
  id: 'test-app',
  rootfsPath: '/var/volatile/rdk/dobby/bundles/test-app.12345/rootfs',
  initPath: '/usr/bin/tini-static',
  cgroupVersion: 1,
  hasLib64: true,
  initTargetExists: true,
  onlineCpus: 2,
  realtimeCpu: true,
  lastCap: 40,
  hardLimits: { RLIMIT_NOFILE: 20000, RLIMIT_NPROC: 96365, RLIMIT_RTPRIO: 0 },
  capSysResource: false,
  oomScoreAdj: 0,
  blkioWeight: false,
  kernelMemory: false,
  hasDevLog: true,
  driverMajors: { hidraw: 245, input: 13, mem: 1 },
  mountSourceKind: (source) => (source === '/etc/hostname' ? 'file' : 'directory'),
};

export function corpusFiles(): string[] {
  return readdirSync(CORPUS_DIR).filter((f) => f.endsWith('.json')).sort();
}

export function corpusText(name: string): string {
  return readFileSync(join(CORPUS_DIR, name), 'utf8');
}

export function parseOk(text: string): { spec: DobbySpec; warnings: readonly string[] } {
  const r = parseSpec(text);
  assert.ok(r.ok, `expected the spec to parse, got:\n${r.ok ? '' : r.errors.map((e) => e.message).join('\n')}`);
  return { spec: r.value, warnings: r.warnings };
}

export function parseErrors(text: string): readonly SpecError[] {
  const r = parseSpec(text);
  assert.ok(!r.ok, 'expected the spec to be rejected');
  assert.ok(r.errors.length > 0);
  return r.errors;
}

/** Parses, converts and schema-checks; returns the conversion and every warning. */
export function convert(text: string, options: Partial<SpecToOciOptions> = {}): OciConversion & { warnings: readonly string[] } {
  const { spec, warnings } = parseOk(text);
  const r = specToOci(spec, { ...HOST, ...options });
  assert.ok(r.ok, `expected the spec to convert, got:\n${r.ok ? '' : r.errors.map((e) => e.message).join('\n')}`);
  assert.deepEqual(validateOciConfig(r.value.config), []);
  return { ...r.value, warnings: [...warnings, ...r.warnings] };
}

/** A minimal valid spec with `extra` fields merged in, as JSON text. */
export function specText(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ version: '1.0', args: ['sleep', '1'], user: { uid: 1000, gid: 1000 }, memLimit: 41943040, ...extra });
}
