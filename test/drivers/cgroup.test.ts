// The cgroup parsers on recorded v1, v2 and hybrid text, and the reader on this host.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  cgroupDir, cgroupPathsOfPid, detectCgroupLayout, layoutKind, parseCgroupMounts, parseControllerList, parseOomKill,
  parseProcCgroup, readOomKillCount, v1MountFor,
} from '../../src/drivers/cgroup/index.ts';

/** This dev VM: v1 controllers (cpu and cpuacct apart), an empty cgroup2 at unified, hugetlb remounted on v1. */
const HYBRID_MOUNTINFO = `\
24 1 254:1 / / rw,relatime - ext4 /dev/vda rw
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
42 31 0:39 / /sys/fs/cgroup/hugetlb rw,relatime - cgroup cgroup rw,hugetlb
`;

/** /proc/<pid>/cgroup of a crun container (id m1) on that VM. */
const HYBRID_PROC_CGROUP = `\
10:hugetlb:/m1
9:name=systemd:/m1
8:pids:/m1
7:blkio:/m1
6:freezer:/m1
5:devices:/m1
4:memory:/m1
3:cpuset:/m1
2:cpuacct:/m1
1:cpu:/m1
0::/m1
`;

/** Debian 12 default: pure cgroup v2. */
const V2_MOUNTINFO = `\
22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
28 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;
const V2_PROC_CGROUP = '0::/system.slice/dobbyd.service/ctr-1\n';

/** CentOS 7: pure v1 with co-mounted controllers and systemd's named hierarchy. */
const V1_MOUNTINFO = `\
25 24 0:21 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
28 24 0:24 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct
29 24 0:25 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory
31 24 0:27 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,net_cls,net_prio
`;
const V1_PROC_CGROUP = `\
11:net_cls,net_prio:/
4:cpu,cpuacct:/system.slice/ctr:1
3:memory:/system.slice/ctr:1
1:name=systemd:/system.slice/ctr:1
`;

/** Inside a container whose v1 memory hierarchy is bind-mounted from /docker/abc. */
const NESTED_MOUNTINFO = '1234 1200 0:32 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n';

describe('parseProcCgroup', () => {
  test('hybrid: every v1 hierarchy and the v2 path', () => {
    const paths = parseProcCgroup(HYBRID_PROC_CGROUP);
    assert.equal(paths.v2, '/m1');
    assert.equal(paths.v1['memory'], '/m1');
    assert.equal(paths.v1['name=systemd'], '/m1');
    assert.equal(Object.keys(paths.v1).length, 10);
  });

  test('v2 only', () => {
    assert.deepEqual(parseProcCgroup(V2_PROC_CGROUP), { v1: {}, v2: '/system.slice/dobbyd.service/ctr-1' });
  });

  test('v1: co-mounted controllers each get the path; a colon inside the path survives', () => {
    const paths = parseProcCgroup(V1_PROC_CGROUP);
    assert.equal(paths.v2, null);
    assert.equal(paths.v1['cpu'], '/system.slice/ctr:1');
    assert.equal(paths.v1['cpuacct'], '/system.slice/ctr:1');
    assert.equal(paths.v1['net_prio'], '/');
  });
});

describe('parseCgroupMounts and layoutKind', () => {
  test('hybrid', () => {
    const mounts = parseCgroupMounts(HYBRID_MOUNTINFO);
    assert.equal(layoutKind(mounts), 'hybrid');
    assert.deepEqual(mounts.v2, { mountPoint: '/sys/fs/cgroup/unified', root: '/' });
    assert.equal(v1MountFor(mounts, 'memory')?.mountPoint, '/sys/fs/cgroup/memory');
    assert.equal(v1MountFor(mounts, 'hugetlb')?.mountPoint, '/sys/fs/cgroup/hugetlb');
    assert.equal(v1MountFor(mounts, 'name=systemd')?.mountPoint, '/sys/fs/cgroup/systemd');
  });

  test('v2', () => {
    const mounts = parseCgroupMounts(V2_MOUNTINFO);
    assert.equal(layoutKind(mounts), 'v2');
    assert.deepEqual(mounts.v1, []);
    assert.equal(mounts.v2?.mountPoint, '/sys/fs/cgroup');
  });

  test('v1: mount options that are not controllers are dropped', () => {
    const mounts = parseCgroupMounts(V1_MOUNTINFO);
    assert.equal(layoutKind(mounts), 'v1');
    assert.deepEqual(mounts.v1.map((m) => m.controllers), [['name=systemd'], ['cpu', 'cpuacct'], ['memory'], ['net_cls', 'net_prio']]);
    assert.equal(v1MountFor(mounts, 'cpuacct')?.mountPoint, '/sys/fs/cgroup/cpu,cpuacct');
  });

  test('no cgroups at all', () => {
    assert.equal(layoutKind(parseCgroupMounts('28 1 8:1 / / rw - ext4 /dev/sda1 rw\n')), 'none');
  });

  test('escaped mount points', () => {
    const mounts = parseCgroupMounts('50 1 0:40 / /mnt/my\\040cgroup rw - cgroup2 cgroup2 rw\n');
    assert.equal(mounts.v2?.mountPoint, '/mnt/my cgroup');
  });
});

describe('cgroupDir', () => {
  test('joins the path under a root mount', () => {
    assert.equal(cgroupDir({ mountPoint: '/sys/fs/cgroup/memory', root: '/' }, '/m1'), '/sys/fs/cgroup/memory/m1');
    assert.equal(cgroupDir({ mountPoint: '/sys/fs/cgroup', root: '/' }, '/'), '/sys/fs/cgroup');
  });

  test('strips the root of a bind-mounted hierarchy, refuses paths outside it', () => {
    const mount = parseCgroupMounts(NESTED_MOUNTINFO).v1[0]!;
    assert.equal(cgroupDir(mount, '/docker/abc/inner'), '/sys/fs/cgroup/memory/inner');
    assert.equal(cgroupDir(mount, '/docker/abc'), '/sys/fs/cgroup/memory');
    assert.equal(cgroupDir(mount, '/docker/abcdef'), null);
    assert.equal(cgroupDir(mount, '/elsewhere'), null);
  });
});

describe('parseOomKill and parseControllerList', () => {
  test('v1 memory.oom_control (kernel >= 4.13)', () => {
    assert.equal(parseOomKill('oom_kill_disable 0\nunder_oom 0\noom_kill 1\n'), 1);
  });

  test('v1 memory.oom_control of an older kernel has no counter', () => {
    assert.equal(parseOomKill('oom_kill_disable 0\nunder_oom 0\n'), null);
  });

  test('v2 memory.events', () => {
    assert.equal(parseOomKill('low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n'), 2);
  });

  test('cgroup.controllers', () => {
    assert.deepEqual(parseControllerList('cpuset cpu io memory hugetlb pids rdma misc\n'), ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc']);
    assert.deepEqual(parseControllerList('\n'), []);
  });
});

describe('on this host', () => {
  test('detectCgroupLayout agrees with the mounts', async () => {
    const layout = await detectCgroupLayout();
    assert.ok(['v1', 'v2', 'hybrid', 'none'].includes(layout.layout));
    if (layout.layout === 'hybrid' || layout.layout === 'v1') assert.ok(layout.v1Controllers['memory'] !== undefined);
    if (layout.v2MountPoint !== null) assert.ok(existsSync(layout.v2MountPoint));
    // crun refuses a hybrid host whose cgroup2 holds a controller; this dev VM is set up so it holds none.
    if (layout.layout === 'hybrid') assert.deepEqual(layout.v2Controllers, []);
  });

  test('our own cgroup can be read, and a dead pid gives null', async () => {
    const paths = await cgroupPathsOfPid(process.pid);
    assert.ok(paths !== null && (paths.v2 !== null || Object.keys(paths.v1).length > 0));
    assert.ok(((await readOomKillCount(paths)) ?? 0) >= 0);
    assert.equal(await cgroupPathsOfPid(2 ** 22 + 1), null);
  });

  test('a cgroup that does not exist has no counter', async () => {
    assert.equal(await readOomKillCount({ v1: { memory: '/no-such-cgroup-here' }, v2: '/no-such-cgroup-here' }), null);
  });
});
