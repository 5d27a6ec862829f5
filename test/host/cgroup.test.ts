// Tests mountinfo parsing and cgroup problem detection on recorded v1, v2 and hybrid layouts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cgroupMounts, parseControllerList, parseMountinfo, parseMountinfoLine, parseProcCgroups,
} from '../../src/host/mountinfo.ts';
import { cgroupProblems, mountV1Command } from '../../src/host/cgroup-check.ts';

/** CentOS 7 style pure cgroup v1 (systemd, no cgroup2 mount). */
const V1 = `\
18 61 0:17 / /sys rw,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs rw
24 18 0:20 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755
25 24 0:21 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
28 24 0:24 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct
29 24 0:25 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory
30 24 0:26 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,freezer
31 24 0:27 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,net_cls,net_prio
32 24 0:28 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,pids
61 1 253:0 / / rw,relatime shared:1 - xfs /dev/mapper/centos-root rw,attr2,inode64,noquota
`;

/** Debian 12 default: pure cgroup v2 at /sys/fs/cgroup. */
const V2 = `\
22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
23 28 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw
28 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;
const V2_CONTROLLERS = 'cpuset cpu io memory hugetlb pids rdma misc\n';

/** This project's build machine before the fix: v1 controllers plus cgroup2 at unified holding hugetlb. */
const HYBRID_HUGETLB = `\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
/** The same machine after `mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb`. */
const HYBRID_FIXED = `${HYBRID_HUGETLB}42 31 0:39 / /sys/fs/cgroup/hugetlb rw,relatime - cgroup cgroup rw,hugetlb\n`;

const PROC_CGROUPS = `\
#subsys_name\thierarchy\tnum_cgroups\tenabled
cpuset\t3\t1\t1
cpu\t1\t1\t1
memory\t4\t19\t1
freezer\t6\t1\t1
hugetlb\t0\t1\t1
`;

const controllersAt = (map: Record<string, string>) => (mountPoint: string): string | undefined => map[mountPoint];

test('parseMountinfoLine reads fields, optional fields and octal escapes', () => {
  const entry = parseMountinfoLine('36 35 98:0 /mnt1 /mnt\\040two rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue');
  assert.deepEqual(entry, {
    id: 36, parentId: 35, device: '98:0', root: '/mnt1', mountPoint: '/mnt two',
    mountOptions: ['rw', 'noatime'], fsType: 'ext3', source: '/dev/root', superOptions: ['rw', 'errors=continue'],
  });
  assert.equal(parseMountinfoLine('garbage line'), undefined);
  assert.equal(parseMountinfo(`${V2}\nnot a mount\n`).length, 4);
});

test('cgroupMounts tells v1, v2, hybrid and none apart', () => {
  const v1 = cgroupMounts(parseMountinfo(V1));
  assert.equal(v1.mode, 'v1');
  assert.equal(v1.v2, undefined);
  assert.deepEqual(v1.v1.find((m) => m.mountPoint === '/sys/fs/cgroup/cpu,cpuacct')?.controllers, ['cpu', 'cpuacct']);
  assert.deepEqual(v1.v1.find((m) => m.name === 'systemd')?.controllers, []);
  assert.equal(cgroupMounts(parseMountinfo(V2)).mode, 'v2');
  assert.equal(cgroupMounts(parseMountinfo(V2)).v2?.mountPoint, '/sys/fs/cgroup');
  const hybrid = cgroupMounts(parseMountinfo(HYBRID_HUGETLB));
  assert.equal(hybrid.mode, 'hybrid');
  assert.equal(hybrid.v2?.mountPoint, '/sys/fs/cgroup/unified');
  assert.equal(cgroupMounts(parseMountinfo('28 1 8:1 / / rw - ext4 /dev/sda1 rw\n')).mode, 'none');
});

test('controller lists and /proc/cgroups parse', () => {
  assert.deepEqual(parseControllerList(' memory cpu\n'), ['cpu', 'memory']);
  assert.deepEqual(parseControllerList(undefined), []);
  const enabled = parseProcCgroups(PROC_CGROUPS);
  assert.equal(enabled.get('memory'), true);
  assert.equal(enabled.has('#subsys_name'), false);
});

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
