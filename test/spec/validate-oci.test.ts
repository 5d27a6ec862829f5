// validateOciConfig against the Debian-shipped OCI runtime-spec schema, and the host-facts parsers.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OCI_SCHEMA_DIR, validateOciConfig } from '../../src/spec/index.ts';
import { hasEffectiveCap, kernelHonoursKmemLimit, parseProcDevices, parseProcLimits } from '../../src/spec/host-facts.ts';
import { convert, corpusText } from './helpers.ts';

describe('validateOciConfig', () => {
  test('a converted config is valid', () => {
    assert.deepEqual(validateOciConfig(convert(corpusText('everything.json')).config), []);
  });

  test('problems name the JSON path', () => {
    const config = structuredClone(convert(corpusText('sleepy.json')).config) as unknown as Record<string, any>;
    config['process'].user.uid = -1;
    config['linux'].namespaces.push({ type: 'bogus' });
    config['mounts'][0].destination = 7;
    delete config['ociVersion'];
    const errors = validateOciConfig(config);
    assert.ok(errors.includes('/process/user/uid: must be >= 0'), errors.join('\n'));
    assert.ok(errors.some((e) => e.startsWith('/linux/namespaces/6/type: must be equal to one of the allowed values')), errors.join('\n'));
    assert.ok(errors.includes('/mounts/0/destination: must be string'), errors.join('\n'));
    assert.ok(errors.includes("/: must have required property 'ociVersion'"), errors.join('\n'));
  });

  test('non-objects are invalid, not exceptions', () => {
    assert.ok(validateOciConfig(null).length > 0);
    assert.ok(validateOciConfig('config').length > 0);
  });

  test('a missing schema says which package to install', () => {
    const errors = validateOciConfig({}, '/nonexistent/schema');
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /apt-get install golang-github-opencontainers-specs-dev/);
    assert.ok(OCI_SCHEMA_DIR.endsWith('/runtime-spec/schema'));
  });
});

describe('host facts parsers', () => {
  test('/proc/self/limits: hard limits by RLIMIT name', () => {
    const text = [
      'Limit                     Soft Limit           Hard Limit           Units     ',
      'Max cpu time              unlimited            unlimited            seconds   ',
      'Max processes             96365                96365                processes ',
      'Max open files            1024                 20000                files     ',
      'Max realtime priority     0                    0                    ',
    ].join('\n');
    assert.deepEqual(parseProcLimits(text), { RLIMIT_NPROC: 96365, RLIMIT_NOFILE: 20000, RLIMIT_RTPRIO: 0 });
  });

  test('/proc/self/limits: every limit, as the rlimits extension checks them', () => {
    const text = [
      'Limit                     Soft Limit           Hard Limit           Units     ',
      'Max stack size            8388608              unlimited            bytes     ',
      'Max core file size        0                    4096                 bytes     ',
      'Max locked memory         8388608              8388608              bytes     ',
      'Max pending signals       96364                96364                signals   ',
      'Max msgqueue size         819200               819200               bytes     ',
      'Max nice priority         0                    0                    ',
    ].join('\n');
    assert.deepEqual(parseProcLimits(text), {
      RLIMIT_CORE: 4096, RLIMIT_MEMLOCK: 8388608, RLIMIT_SIGPENDING: 96364, RLIMIT_MSGQUEUE: 819200, RLIMIT_NICE: 0,
    });
  });

  test('CAP_SYS_RESOURCE from /proc/self/status, and which kernels honour kernel memory limits', () => {
    // This VM's root: everything but CAP_SYS_RESOURCE (bit 24).
    assert.equal(hasEffectiveCap('CapPrm:\t000001fffeffffff\nCapEff:\t000001fffeffffff\n', 24), false);
    assert.equal(hasEffectiveCap('CapEff:\t000001fffeffffff\n', 21), true);
    assert.equal(hasEffectiveCap('CapEff:\t000001ffffffffff\n', 24), true);
    assert.equal(hasEffectiveCap('', 24), false);
    assert.deepEqual(['5.15.0-91-generic', '6.0.19', '6.1.0-13-amd64', '6.18.44-fc', 'junk'].map(kernelHonoursKmemLimit),
      [true, true, false, false, false]);
  });

  test('/proc/devices: character drivers only', () => {
    const text = 'Character devices:\n  1 mem\n 13 input\n245 hidraw\n\nBlock devices:\n  7 loop\n259 blkext\n';
    assert.deepEqual(parseProcDevices(text), { mem: 1, input: 13, hidraw: 245 });
  });
});
