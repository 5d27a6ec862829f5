// Descriptors follow Dobby's LFSR sequence and stay unique among live containers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { allocateDescriptor, DESCRIPTOR_SEED, lfsrNext } from '../../src/machines/descriptors.ts';

test('a fresh daemon hands out the same descriptors as Dobby', () => {
  const seen: number[] = [];
  let state = DESCRIPTOR_SEED;
  for (let i = 0; i < 8; i++) {
    const next = allocateDescriptor(state, new Set());
    assert.ok(next);
    seen.push(next.descriptor);
    state = next.state;
  }
  assert.deepEqual(seen, [734, 879, 439, 731, 365, 182, 91, 45]);
});

test('the LFSR visits every value of 1..1023 exactly once per period', () => {
  const seen = new Set<number>();
  let state = DESCRIPTOR_SEED;
  for (let i = 0; i < 1023; i++) {
    state = lfsrNext(state);
    seen.add(state);
  }
  assert.equal(seen.size, 1023);
  assert.ok([...seen].every((d) => d >= 1 && d <= 1023));
});

test('allocation skips descriptors in use and fails only when all are taken', () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 1023 }), { maxLength: 1023 }), fc.integer({ min: 1, max: 1023 }), (used, seed) => {
      const inUse = new Set(used);
      const next = allocateDescriptor(seed, inUse);
      if (inUse.size === 1023) return next === null;
      return next !== null && !inUse.has(next.descriptor) && next.descriptor >= 1 && next.descriptor <= 1023;
    }),
  );
});
