// Properties: every valid spec converts to a schema-valid config; every broken one gives field-naming errors.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseSpec, specToOci, validateOciConfig } from '../../src/spec/index.ts';
import { planPathProblem } from '../../src/spec/write-rootfs.ts';
import { hostOptions, mutation, validSpec } from './arbitraries.ts';

describe('spec properties', () => {
  test('any valid spec converts to a schema-valid config with a safe rootfs plan', () => {
    fc.assert(fc.property(validSpec, hostOptions, (raw, options) => {
      const parsed = parseSpec(JSON.stringify(raw));
      if (!parsed.ok) throw new Error(`rejected: ${parsed.errors.map((e) => e.message).join(' | ')}`);
      const converted = specToOci(parsed.value, options);
      if (!converted.ok) throw new Error(`not converted: ${converted.errors.map((e) => e.message).join(' | ')}`);
      assert.deepEqual(validateOciConfig(converted.value.config), []);
      const { config, rootfs } = converted.value;
      assert.deepEqual(config.process.args.slice(2), raw['args']);
      assert.equal(config.linux.resources.memory.limit, raw['memLimit']);
      assert.ok(config.process.rlimits.every((r) => r.hard <= (options.hardLimits?.[r.type] ?? Infinity)));
      assert.ok(!config.process.rlimits.some((r) => r.type === 'RLIMIT_RTPRIO' && r.hard > 0));
      if (options.cgroupVersion === 2) assert.equal(config.linux.resources.memory.swappiness, undefined);
      for (const p of [...rootfs.directories, ...rootfs.files.map((f) => f.path)]) assert.equal(planPathProblem(p), null, p);
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
    fc.assert(fc.property(validSpec, fc.constantFrom('user', 'cpu', 'gpu', 'console', 'seccomp', 'etc', 'rdkPlugins', 'dbus', 'mounts'),
      fc.jsonValue({ maxDepth: 3 }), (raw, field, value) => {
        const r = parseSpec(JSON.stringify({ ...raw, [field]: value }));
        if (!r.ok) return;
        // Whatever the nested value was, a spec that parsed converts or reports errors: it never throws.
        const converted = specToOci(r.value, { id: 'p', rootfsPath: 'rootfs', initPath: '/usr/bin/tini-static', cgroupVersion: 1 });
        assert.equal(typeof converted.ok, 'boolean');
      }), { numRuns: 300 });
  });
});
