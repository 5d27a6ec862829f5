// The data checks of the device plugins (gpu, ...) and the vendor cgroup controller lookup: Dobby's
// names, types and defaults; a wrong type is an error naming the field; an unknown field is a warning.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { findVendorController } from '../../src/drivers/cgroup/vendor-controller.ts';
import { gidOf } from '../../src/plugins/gamepad/plugin.ts';
import { parseGpuData } from '../../src/plugins/gpu/data.ts';
import { parseIonMemoryData } from '../../src/plugins/ionmemory/data.ts';
import { rejectsField } from '../helpers/data-errors.ts';

const rejects = rejectsField;

describe('gpu data', () => {
  test('memory in bytes, 1 to int32 max; an unknown field is a warning', () => {
    assert.deepEqual(parseGpuData({ memory: 67108864 }), { data: { memory: 67108864 }, warnings: [] });
    assert.deepEqual(parseGpuData({ memory: 1, limit: 2 }).warnings, ['gpu.data.limit is not a gpu option and is ignored']);
  });

  test('a missing, zero, negative, fractional, too big or non-number memory, and absent data, are refused by name', () => {
    for (const bad of [{}, { memory: 0 }, { memory: -1 }, { memory: 1.5 }, { memory: 2 ** 31 }, { memory: '64M' }, { memory: null }]) {
      rejects(() => parseGpuData(bad), /^gpu\.data\.memory /);
    }
    rejects(() => parseGpuData(null), /^gpu\.data is missing/);
    rejects(() => parseGpuData([]), /^gpu\.data must be an object/);
  });
});

describe('ionmemory data', () => {
  test('defaultLimit absent is no limit (UINT64_MAX); 18446744073709551615 is that too; heaps by name', () => {
    const max = 2n ** 64n - 1n;
    assert.deepEqual(parseIonMemoryData({}), { data: { defaultLimit: max, heaps: [] }, warnings: [] });
    const { data, warnings } = parseIonMemoryData({ defaultLimit: 18446744073709551615, heaps: [{ name: 'cma-1', limit: 2 ** 53 - 1, x: 1 }] });
    assert.equal(data.defaultLimit, max);
    assert.deepEqual(data.heaps, [{ name: 'cma-1', limit: 2n ** 53n - 1n }]);
    assert.match(warnings.join(), /ionmemory\.data\.heaps\[0\]\.x is not an option/);
  });

  test('inexact, negative and non-number limits, bad and repeated heap names are refused by name', () => {
    rejects(() => parseIonMemoryData({ defaultLimit: 2 ** 60 }), /^ionmemory\.data\.defaultLimit .*18446744073709551615 for no limit/);
    rejects(() => parseIonMemoryData({ defaultLimit: 1.5 }), /^ionmemory\.data\.defaultLimit /);
    rejects(() => parseIonMemoryData({ heaps: [{ name: 'a', limit: -1 }] }), /^ionmemory\.data\.heaps\[0\]\.limit /);
    rejects(() => parseIonMemoryData({ heaps: [{ name: 'a.b', limit: 1 }] }), /^ionmemory\.data\.heaps\[0\]\.name /);
    rejects(() => parseIonMemoryData({ heaps: [{ name: 'a', limit: 1 }, { name: 'a', limit: 2 }] }), /^ionmemory\.data\.heaps\[1\]\.name .*second time/);
    rejects(() => parseIonMemoryData(null), /^ionmemory\.data is missing/);
  });
});

test('gamepad: the input group is the one named exactly input (Dobby took any name starting with it)', () => {
  assert.equal(gidOf('inputx:x:990:\ninput:x:991:a,b\n', 'input'), 991);
  assert.equal(gidOf('inputx:x:990:\n', 'input'), null);
  assert.equal(gidOf('input:x:notanumber:\n', 'input'), null);
});

describe('vendor cgroup controller lookup', () => {
  test('a v1 cgroup mount with the option is the controller; without one, a cgroup2-only host says so, else none', async () => {
    const dir = mkdtempSync('/tmp/dobby-vendor-cg-');
    try {
      const table = join(dir, 'mountinfo');
      const v2 = '30 1 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw\n';
      writeFileSync(table, `${v2}40 30 0:99 / /x/gpu\\040cg rw,relatime shared:20 - cgroup cgroup rw,gpu\n41 30 0:98 / /x/ion rw - cgroup cgroup rw,name=ion\n`);
      assert.deepEqual(await findVendorController('gpu', table), { kind: 'v1', mountPoint: '/x/gpu cg' });
      // A named hierarchy (name=ion) holds no controller of that name.
      const cgroup2Only = existsSync('/sys/fs/cgroup/cgroup.controllers') ? { kind: 'v2-only' } : null;
      assert.deepEqual(await findVendorController('ion', table), cgroup2Only);
      writeFileSync(table, '');
      assert.equal(await findVendorController('gpu', table), null);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
