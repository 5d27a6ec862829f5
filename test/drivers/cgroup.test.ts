// The cgroup parsers (daemon and host check) on recorded v1, v2 and hybrid text, and the reader on this host.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  cgroupDir, cgroupPathsOfPid, detectCgroupLayout, holdsControllers, layoutKind, parseCgroupMounts, parseControllerList,
  parseMountinfo, parseMountinfoLine, parseOomKill, parseProcCgroup, parseProcCgroups, readOomKillCount, v1MountFor,
} from '../../src/drivers/cgroup/index.ts';
import {
  HYBRID_HUGETLB, HYBRID_MOUNTINFO, HYBRID_PROC_CGROUP, NESTED_MOUNTINFO, PROC_CGROUPS, V1, V1_MOUNTINFO, V1_PROC_CGROUP, V2,
  V2_MOUNTINFO, V2_PROC_CGROUP,
} from '../host/cgroup-samples.ts';

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

describe('parseMountinfo', () => {
  test('parseMountinfoLine reads fields, optional fields and octal escapes', () => {
    const entry = parseMountinfoLine('36 35 98:0 /mnt1 /mnt\\040two rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue');
    assert.deepEqual(entry, {
      id: 36, parentId: 35, device: '98:0', root: '/mnt1', mountPoint: '/mnt two',
      mountOptions: ['rw', 'noatime'], fsType: 'ext3', source: '/dev/root', superOptions: ['rw', 'errors=continue'],
    });
    assert.equal(parseMountinfoLine('garbage line'), undefined);
    assert.equal(parseMountinfo(`${V2}\nnot a mount\n`).length, 4);
  });
});

describe('parseCgroupMounts and layoutKind', () => {
  test('full mountinfo files: v1, v2, hybrid and none apart', () => {
    const v1 = parseCgroupMounts(V1);
    assert.equal(layoutKind(v1), 'v1');
    assert.equal(v1.v2, null);
    assert.deepEqual(v1.v1.find((m) => m.mountPoint === '/sys/fs/cgroup/cpu,cpuacct')?.controllers, ['cpu', 'cpuacct']);
    const systemd = v1.v1.find((m) => m.controllers.includes('name=systemd'));
    assert.deepEqual(systemd?.controllers, ['name=systemd']);
    assert.ok(systemd !== undefined && !holdsControllers(systemd));
    assert.equal(layoutKind(parseCgroupMounts(V2)), 'v2');
    assert.equal(parseCgroupMounts(V2).v2?.mountPoint, '/sys/fs/cgroup');
    const hybrid = parseCgroupMounts(HYBRID_HUGETLB);
    assert.equal(layoutKind(hybrid), 'hybrid');
    assert.equal(hybrid.v2?.mountPoint, '/sys/fs/cgroup/unified');
    assert.equal(layoutKind(parseCgroupMounts('28 1 8:1 / / rw - ext4 /dev/sda1 rw\n')), 'none');
  });

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

describe('parseOomKill, parseControllerList and parseProcCgroups', () => {
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

  test('cgroup.controllers sorted (as the host check lists them), or unreadable', () => {
    assert.deepEqual(parseControllerList(' memory cpu\n', { sorted: true }), ['cpu', 'memory']);
    assert.deepEqual(parseControllerList(undefined), []);
  });

  test('/proc/cgroups', () => {
    const enabled = parseProcCgroups(PROC_CGROUPS);
    assert.equal(enabled.get('memory'), true);
    assert.equal(enabled.has('#subsys_name'), false);
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
