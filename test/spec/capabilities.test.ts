// The capability rule set (Docker 1.9's TweakCapabilities with CAP_ names), case by case.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { computeCapabilities, DEFAULT_CAPABILITIES, KNOWN_CAPABILITIES, normaliseCapability } from '../../src/spec/index.ts';
import { Issues } from '../../src/spec/result.ts';

function caps(add: string[], drop: string[] = [], lastCap = 40): string[] {
  const issues = new Issues();
  const out = computeCapabilities({ add, drop }, issues, lastCap);
  assert.deepEqual(issues.errors, []);
  return out;
}

describe('capability names', () => {
  test('case-insensitive, CAP_ prefix optional, ALL in any case', () => {
    assert.equal(normaliseCapability('net_raw'), 'CAP_NET_RAW');
    assert.equal(normaliseCapability('CAP_net_raw'), 'CAP_NET_RAW');
    assert.equal(normaliseCapability('Net_Admin'), 'CAP_NET_ADMIN');
    assert.equal(normaliseCapability('all'), 'ALL');
    assert.equal(normaliseCapability('CAP_ALL'), null);
    assert.equal(normaliseCapability('CHPASS'), null);
    assert.equal(normaliseCapability(''), null);
  });

  test('the table is indexed by capability number', () => {
    assert.equal(KNOWN_CAPABILITIES[0], 'CAP_CHOWN');
    assert.equal(KNOWN_CAPABILITIES[13], 'CAP_NET_RAW');
    assert.equal(KNOWN_CAPABILITIES[29], 'CAP_AUDIT_WRITE');
    assert.equal(KNOWN_CAPABILITIES[40], 'CAP_CHECKPOINT_RESTORE');
  });
});

describe('add and drop', () => {
  test('no capabilities field: the template set', () => {
    assert.deepEqual(computeCapabilities(null, new Issues()), [...DEFAULT_CAPABILITIES]);
  });

  test('adds keep every listed capability, in order, without duplicates', () => {
    assert.deepEqual(caps(['CAP_NET_RAW', 'CAP_SYS_NICE', 'CAP_NET_RAW', 'CAP_KILL']),
      [...DEFAULT_CAPABILITIES, 'CAP_NET_RAW', 'CAP_SYS_NICE']);
  });

  test('drop one', () => {
    assert.deepEqual(caps([], ['CAP_KILL']), ['CAP_AUDIT_WRITE', 'CAP_NET_BIND_SERVICE']);
  });

  test('drop ALL + add X gives exactly X', () => {
    assert.deepEqual(caps(['CAP_MKNOD'], ['ALL']), ['CAP_MKNOD']);
    assert.deepEqual(caps(['CAP_MKNOD', 'CAP_SETGID'], ['ALL']), ['CAP_MKNOD', 'CAP_SETGID']);
  });

  test('add ALL gives every capability the kernel has; drop X then removes it', () => {
    assert.deepEqual(caps(['ALL']), KNOWN_CAPABILITIES);
    assert.deepEqual(caps(['ALL'], [], 37), KNOWN_CAPABILITIES.slice(0, 38));
    const all = caps(['ALL'], ['CAP_NET_ADMIN']);
    assert.ok(!all.includes('CAP_NET_ADMIN'));
    assert.equal(all.length, KNOWN_CAPABILITIES.length - 1);
  });

  test('add ALL + drop ALL: drop wins (Docker 1.9)', () => {
    assert.deepEqual(caps(['ALL'], ['ALL']), []);
  });

  test('the same capability added and dropped is present', () => {
    assert.deepEqual(caps(['CAP_KILL'], ['CAP_KILL']), ['CAP_AUDIT_WRITE', 'CAP_NET_BIND_SERVICE', 'CAP_KILL']);
  });

  test('a capability newer than the kernel is an error naming it', () => {
    const issues = new Issues();
    computeCapabilities({ add: ['CAP_PERFMON'], drop: [] }, issues, 37);
    assert.equal(issues.errors.length, 1);
    assert.equal(issues.errors[0]!.code, 'HOST');
    assert.match(issues.errors[0]!.message, /CAP_PERFMON is not supported by this kernel/);
  });
});
