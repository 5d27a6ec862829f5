// The jsoncpp-style formatter against Dobby's documented GetInfo example, byte for byte.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatJsonLikeJsoncpp } from '../../src/api/json-format.ts';

const EXAMPLE = [
  '{',
  ' "annotations" : ',
  ' {',
  '  "Key1" : "Value1"',
  ' },',
  ' "id" : "sleepy",',
  ' "pids" : ',
  ' [',
  '  1234,',
  '  1245',
  ' ],',
  ' "state" : "running",',
  ' "timestamp" : 348134887768',
  '}',
].join('\n');

test('matches the example of reference §3.7 byte for byte (keys given unsorted)', () => {
  const text = formatJsonLikeJsoncpp({
    timestamp: 348134887768,
    state: 'running',
    pids: [1234, 1245],
    id: 'sleepy',
    annotations: { Key1: 'Value1' },
  });
  assert.equal(text, EXAMPLE);
  assert.deepEqual(JSON.parse(text), JSON.parse(EXAMPLE));
});

test('empty containers stay inline, nested containers open on the next line', () => {
  assert.equal(formatJsonLikeJsoncpp({ a: [], b: {} }), '{\n "a" : [],\n "b" : {}\n}');
  assert.equal(formatJsonLikeJsoncpp([]), '[]');
  assert.equal(formatJsonLikeJsoncpp({}), '{}');
  assert.equal(
    formatJsonLikeJsoncpp({ cpu: { usage: { percpu: [1, 2], total: 3 } } }),
    '{\n "cpu" : \n {\n  "usage" : \n  {\n   "percpu" : \n   [\n    1,\n    2\n   ],\n   "total" : 3\n  }\n }\n}',
  );
});

test('objects inside arrays start on their own indented line', () => {
  const text = formatJsonLikeJsoncpp({ processes: [{ pid: 1, cmdline: 'sleep 1 ' }, { pid: 2, cmdline: 'x' }] });
  assert.equal(
    text,
    '{\n "processes" : \n [\n  {\n   "cmdline" : "sleep 1 ",\n   "pid" : 1\n  },\n  {\n   "cmdline" : "x",\n   "pid" : 2\n  }\n ]\n}',
  );
});

test('scalars: null, booleans, negative numbers, 64-bit counters, escapes', () => {
  assert.equal(formatJsonLikeJsoncpp(null), 'null');
  assert.equal(formatJsonLikeJsoncpp({ t: true, f: false, n: null, m: -1 }), '{\n "f" : false,\n "m" : -1,\n "n" : null,\n "t" : true\n}');
  assert.equal(formatJsonLikeJsoncpp(9223372036854771712n), '9223372036854771712');
  assert.equal(formatJsonLikeJsoncpp('a"b\\c\n\t\u0001/é€😀'), '"a\\"b\\\\c\\n\\t\\u0001/\\u00e9\\u20ac\\ud83d\\ude00"');
  assert.equal(formatJsonLikeJsoncpp(0.5), '0.5');
  assert.equal(formatJsonLikeJsoncpp(2.25), '2.25');
});

test('keys sort by byte order (uppercase before lowercase), undefined members are left out', () => {
  assert.equal(formatJsonLikeJsoncpp({ b: 1, B: 2, a: undefined, _: 3 }), '{\n "B" : 2,\n "_" : 3,\n "b" : 1\n}');
});
