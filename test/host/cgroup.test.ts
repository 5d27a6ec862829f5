// Tests cgroup problem detection on recorded v1, v2 and hybrid layouts (the parsers are tested in test/drivers/cgroup.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cgroupProblems, mountV1Command } from '../../src/host/cgroup-check.ts';
import { HYBRID_FIXED, HYBRID_HUGETLB, PROC_CGROUPS, V1, V2, V2_CONTROLLERS } from './cgroup-samples.ts';

const controllersAt = (map: Record<string, string>) => (mountPoint: string): string | undefined => map[mountPoint];

test('hybrid with hugetlb in cgroup2 is fatal for crun, with the mount fix', () => {
  const problems = cgroupProblems({
    mountinfo: HYBRID_HUGETLB,
    readControllers: controllersAt({ '/sys/fs/cgroup/unified': 'hugetlb\n' }),
    procCgroups: PROC_CGROUPS,
    runtimeName: 'crun',
  });
  assert.equal(problems.length, 1);
  const [p] = problems;
  assert.equal(p?.code, 'cgroup-hybrid-controllers');
  assert.equal(p?.fatal, true);
  assert.match(p?.what ?? '', /^crun 1\.8 refuses hybrid cgroups while cgroup2 holds controllers: hugetlb/);
  assert.equal(p?.fix, 'mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb');
});

test('hybrid fix lists every held controller; only a warning for runc', () => {
  const [p] = cgroupProblems({
    mountinfo: HYBRID_HUGETLB,
    readControllers: controllersAt({ '/sys/fs/cgroup/unified': 'misc hugetlb' }),
    runtimeName: 'runc',
  });
  assert.equal(p?.fatal, false);
  assert.equal(p?.fix, `${mountV1Command('/sys/fs/cgroup', 'hugetlb')} && ${mountV1Command('/sys/fs/cgroup', 'misc')}`);
});

test('hybrid after the fix, systemd-style hybrid and pure v1 are fine', () => {
  for (const mountinfo of [HYBRID_FIXED, HYBRID_HUGETLB, V1]) {
    const problems = cgroupProblems({
      mountinfo,
      readControllers: controllersAt({ '/sys/fs/cgroup/unified': '' }),
      procCgroups: PROC_CGROUPS,
      runtimeName: 'crun',
    });
    assert.deepEqual(problems, []);
  }
});

test('pure v2 with memory is fine; without memory or on an old kernel it is not', () => {
  const base = { mountinfo: V2, runtimeName: 'crun', kernelRelease: '6.1.0-18-amd64' };
  assert.deepEqual(cgroupProblems({ ...base, readControllers: controllersAt({ '/sys/fs/cgroup': V2_CONTROLLERS }) }), []);
  const codes = cgroupProblems({ ...base, kernelRelease: '4.19.0', readControllers: controllersAt({ '/sys/fs/cgroup': 'cpu pids' }) })
    .map((p) => p.code);
  assert.deepEqual(codes, ['cgroup-memory-missing', 'cgroup-freezer-missing']);
});

test('v1 without freezer: mount it if the kernel has it, else a boot option', () => {
  const noFreezer = V1.split('\n').filter((l) => !l.includes('freezer')).join('\n');
  const [mountable] = cgroupProblems({ mountinfo: noFreezer, readControllers: () => undefined, procCgroups: PROC_CGROUPS, runtimeName: 'crun' });
  assert.equal(mountable?.code, 'cgroup-freezer-missing');
  assert.equal(mountable?.fix, 'mkdir -p /sys/fs/cgroup/freezer && mount -t cgroup -o freezer cgroup /sys/fs/cgroup/freezer');
  const [boot] = cgroupProblems({
    mountinfo: noFreezer, readControllers: () => undefined, procCgroups: PROC_CGROUPS.replace('freezer\t6\t1\t1', 'freezer\t0\t1\t0'), runtimeName: 'crun',
  });
  assert.equal(boot?.fix, 'boot the kernel with cgroup_enable=freezer');
});

test('no cgroup mount at all is fatal', () => {
  const problems = cgroupProblems({ mountinfo: V2.replace(/.*cgroup2.*\n/, ''), readControllers: () => undefined, runtimeName: 'crun' });
  assert.deepEqual(problems.map((p) => [p.code, p.fatal]), [['cgroup-none', true]]);
});

test('only a named v1 hierarchy is mounted: not "no cgroup", but memory and freezer are missing', () => {
  const problems = cgroupProblems({
    mountinfo: V1.split('\n').filter((l) => !l.includes(' - cgroup cgroup rw,') || l.includes('name=systemd')).join('\n'),
    readControllers: () => undefined,
    procCgroups: PROC_CGROUPS,
    runtimeName: 'crun',
  });
  assert.deepEqual(problems.map((p) => [p.code, p.fix]), [
    ['cgroup-memory-missing', mountV1Command('/sys/fs/cgroup', 'memory')],
    ['cgroup-freezer-missing', mountV1Command('/sys/fs/cgroup', 'freezer')],
  ]);
});
