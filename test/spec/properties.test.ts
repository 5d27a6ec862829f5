// Properties: every valid spec converts to a schema-valid config; every broken one gives field-naming errors.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseSpec, specToOci, validateOciConfig } from '../../src/spec/index.ts';
import type { OciConfig } from '../../src/spec/index.ts';
import { planPathProblem } from '../../src/spec/write-rootfs.ts';
import { expectedHostErrors, hostOptions, mutation, rlimitEntry, validSpec } from './arbitraries.ts';

/** Where each extension field of a converted spec went in the config. */
function checkExtensions(raw: Record<string, unknown>, config: OciConfig): void {
  const r = (raw['resources'] ?? {}) as Record<string, unknown>;
  const host = (raw['hostNamespaces'] ?? []) as string[];
  const namespaces = config.linux.namespaces.map((n) => n.type);
  for (const [ns, oci] of [['network', 'network'], ['ipc', 'ipc'], ['pid', 'pid'], ['uts', 'uts']] as const) {
    if (host.includes(ns)) assert.ok(!namespaces.includes(oci), `${ns} is the host's`);
    else if (ns !== 'network') assert.ok(namespaces.includes(oci), `${ns} is the container's own`);
  }
  assert.equal(config.hostname === undefined, host.includes('uts'));
  assert.equal(config.root.readonly, raw['readonlyRootfs'] !== false);
  if (typeof raw['noNewPrivileges'] === 'boolean') assert.equal(config.process.noNewPrivileges, raw['noNewPrivileges']);
  if (typeof r['cpuQuota'] === 'number') assert.equal(config.linux.resources.cpu?.quota, r['cpuQuota']);
  if (typeof r['cpuPeriod'] === 'number') assert.equal(config.linux.resources.cpu?.period, r['cpuPeriod']);
  if (r['pidsLimit'] === -1) assert.equal(config.linux.resources.pids, undefined);
  else if (typeof r['pidsLimit'] === 'number') assert.deepEqual(config.linux.resources.pids, { limit: r['pidsLimit'] });
  if (typeof r['memoryReservation'] === 'number') assert.equal(config.linux.resources.memory.reservation, r['memoryReservation']);
  if (typeof r['oomScoreAdj'] === 'number') assert.equal(config.process.oomScoreAdj, r['oomScoreAdj']);
  else assert.equal(config.process.oomScoreAdj, undefined);
  for (const [key, value] of Object.entries((r['rlimits'] ?? {}) as Record<string, unknown>)) {
    const want = rlimitEntry(key, value);
    assert.deepEqual(config.process.rlimits.filter((l) => l.type === want.type), [want], `${key} → ${want.type}`);
  }
}

describe('spec properties', () => {
  test('any valid spec converts to a schema-valid config with a safe rootfs plan', () => {
    fc.assert(fc.property(validSpec, hostOptions, (raw, options) => {
      const parsed = parseSpec(JSON.stringify(raw));
      if (!parsed.ok) throw new Error(`rejected: ${parsed.errors.map((e) => e.message).join(' | ')}`);
      const converted = specToOci(parsed.value, options);
      // The only refusals allowed: what this host cannot grant (CAP_SYS_RESOURCE), each naming its field.
      const hostErrors = expectedHostErrors(raw, options);
      if (!converted.ok) {
        assert.deepEqual(converted.errors.map((e) => e.path).sort(), hostErrors, converted.errors.map((e) => e.message).join(' | '));
        assert.ok(converted.errors.every((e) => e.code === 'HOST' && e.message.startsWith(e.path)));
        return;
      }
      assert.deepEqual(hostErrors, [], 'converted although this host cannot grant it');
      assert.deepEqual(validateOciConfig(converted.value.config), []);
      const { config, rootfs } = converted.value;
      const initArgs = config.process.args[1] === '-s' ? 3 : 2;
      assert.deepEqual(config.process.args.slice(initArgs), raw['args']);
      assert.equal(config.linux.resources.memory.limit, raw['memLimit']);
      assert.ok(config.process.rlimits.every((r) => r.soft <= r.hard));
      assert.ok(!config.process.rlimits.some((r) => r.type === 'RLIMIT_RTPRIO' && r.hard > 0));
      if (options.cgroupVersion === 2) {
        const m = config.linux.resources.memory;
        assert.deepEqual([m.swappiness, m.disableOOMKiller, m.kernel], [undefined, undefined, undefined], 'crun refuses these on v2');
      }
      for (const p of [...rootfs.directories, ...rootfs.files.map((f) => f.path)]) assert.equal(planPathProblem(p), null, p);
      checkExtensions(raw, config);
    }), { numRuns: 300 });
  });

  test('a valid spec broken by a mutation gives errors naming the field, never an exception', () => {
    fc.assert(fc.property(validSpec, mutation, (raw, m) => {
      const parsed = parseSpec(JSON.stringify(m.apply(raw)));
      assert.ok(!parsed.ok, `accepted after ${m.describe}`);
      assert.ok(parsed.errors.some((e) => e.path === m.path), `${m.describe}: no error for ${m.path}: ${parsed.errors.map((e) => e.message).join(' | ')}`);
      for (const e of parsed.errors) assert.ok(e.path === '' || e.message.startsWith(e.path), e.message);
    }), { numRuns: 500 });
  });

  test('arbitrary JSON and arbitrary text never throw', () => {
    fc.assert(fc.property(fc.oneof(fc.jsonValue().map((v) => JSON.stringify(v) ?? ''), fc.string(), fc.object().map((o) => JSON.stringify(o))), (text) => {
      const r = parseSpec(text);
      if (!r.ok) assert.ok(r.errors.every((e) => e.message.length > 0));
    }), { numRuns: 500 });
  });

  test('valid specs with arbitrary extra and wrong nested fields never throw', () => {
    fc.assert(fc.property(validSpec, fc.constantFrom('user', 'cpu', 'gpu', 'console', 'seccomp', 'etc', 'rdkPlugins', 'dbus', 'mounts', 'resources', 'hostNamespaces'),
      fc.jsonValue({ maxDepth: 3 }), (raw, field, value) => {
        const r = parseSpec(JSON.stringify({ ...raw, [field]: value }));
        if (!r.ok) return;
        // Whatever the nested value was, a spec that parsed converts or reports errors: it never throws.
        const converted = specToOci(r.value, { id: 'p', rootfsPath: 'rootfs', initPath: '/usr/bin/tini-static', cgroupVersion: 1 });
        assert.equal(typeof converted.ok, 'boolean');
      }), { numRuns: 300 });
  });
});
