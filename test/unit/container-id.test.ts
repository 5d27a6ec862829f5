// Container ids are validated exactly as Dobby does, with a reason that names the problem.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { idProblem } from '../../src/container-id.ts';

test('accepts Dobby-valid ids', () => {
  for (const id of ['sleepy', 'a', 'A.b_c-1', 'x'.repeat(128), '1a', 'com.sky.app']) assert.equal(idProblem(id), null, id);
});

test('rejects invalid ids with a reason naming the problem', () => {
  const cases: Array<[unknown, RegExp]> = [
    ['', /empty/],
    ['x'.repeat(129), /129 characters/],
    ['../etc', /characters other than|\.\./],
    ['a..b', /\.\./],
    ['12345', /at least one letter/],
    ['a/b', /characters other than/],
    ['/abs', /characters other than/],
    ['a b', /characters other than/],
    ['caf\u00e9', /characters other than/],
    [42, /must be a string/],
  ];
  for (const [id, reason] of cases) assert.match(idProblem(id) ?? 'accepted', reason, String(id));
});

test('any string accepted is a safe path component', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 140 }), (id) => {
      if (idProblem(id) !== null) return true;
      return !id.includes('/') && id !== '.' && !id.includes('..') && id.length <= 128 && /[A-Za-z]/.test(id);
    }),
  );
});
