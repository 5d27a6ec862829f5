// GetInfo's stats reader on recorded /proc and cgroup text of a cgroup v1 (hybrid) host and a v2 host.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCmdline, parseNsPid, parseSingleValue, parseV2CpuTotalNs, parseValueList } from '../../src/drivers/stats/parse.ts';
import { readContainerStats, type StatsFs } from '../../src/drivers/stats/reader.ts';

const HYBRID_MOUNTINFO = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const V1_PROC_CGROUP = `10:hugetlb:/sleepy
8:pids:/sleepy
4:memory:/sleepy
2:cpuacct:/sleepy
1:cpu:/sleepy
0::/
`;
const V2_MOUNTINFO = `25 30 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;
const V2_PROC_CGROUP = '0::/system.slice/dobby/sleepy\n';
const STATUS_101 = 'Name:\tsleep\nTgid:\t101\nNgid:\t0\nPid:\t101\nNStgid:\t101\t1\nNSpid:\t101\t1\n';
const STATUS_102 = 'Name:\tsh\nNStgid:\t102\t7\n';

function fakeFs(files: Record<string, string>, links: Record<string, string> = {}): StatsFs {
  return {
    readText: async (path) => files[path] ?? null,
    readLink: async (path) => links[path] ?? null,
  };
}

const PROCS = {
  '/proc/101/cmdline': 'sleep\x001000\x00',
  '/proc/101/status': STATUS_101,
  '/proc/102/cmdline': '/bin/sh\x00-c\x00x\x00',
  '/proc/102/status': STATUS_102,
};
const LINKS = { '/proc/101/exe': '/bin/busybox', '/proc/102/exe': '/bin/busybox' };

test('cgroup v1 (hybrid host): cpuacct and memory controllers, percpu array, unlimited as a 64-bit value', async () => {
  const fs = fakeFs({
    '/proc/101/cgroup': V1_PROC_CGROUP,
    '/proc/self/mountinfo': HYBRID_MOUNTINFO,
    '/sys/fs/cgroup/cpuacct/sleepy/cgroup.procs': '101\n102\n',
    '/sys/fs/cgroup/cpuacct/sleepy/cpuacct.usage': '734236982\n',
    '/sys/fs/cgroup/cpuacct/sleepy/cpuacct.usage_percpu': '348134887 386102095 \n',
    '/sys/fs/cgroup/memory/sleepy/memory.limit_in_bytes': '9223372036854771712\n',
    '/sys/fs/cgroup/memory/sleepy/memory.usage_in_bytes': '356352\n',
    '/sys/fs/cgroup/memory/sleepy/memory.max_usage_in_bytes': '524288\n',
    '/sys/fs/cgroup/memory/sleepy/memory.failcnt': '0\n',
    ...PROCS,
  }, LINKS);
  const stats = await readContainerStats(101, fs);
  assert.deepEqual(stats.pids, [101, 102]);
  assert.deepEqual(stats.processes, [
    { pid: 101, nsPid: 1, executable: '/bin/busybox', cmdline: 'sleep 1000 ' },
    { pid: 102, nsPid: 7, executable: '/bin/busybox', cmdline: '/bin/sh -c x ' },
  ]);
  assert.deepEqual(stats.cpu, { usage: { total: 734236982, percpu: [348134887, 386102095] } });
  assert.deepEqual(stats.memory, { user: { limit: 9223372036854771712n, usage: 356352, max: 524288, failcnt: 0 } });
});

test('cgroup v2: one directory, cpu.stat usage_usec in ns, memory.max "max" as -1, failcnt null, no percpu', async () => {
  const dir = '/sys/fs/cgroup/system.slice/dobby/sleepy';
  const fs = fakeFs({
    '/proc/101/cgroup': V2_PROC_CGROUP,
    '/proc/self/mountinfo': V2_MOUNTINFO,
    [`${dir}/cgroup.procs`]: '101\n',
    [`${dir}/cpu.stat`]: 'usage_usec 1234\nuser_usec 1000\nsystem_usec 234\n',
    [`${dir}/memory.max`]: 'max\n',
    [`${dir}/memory.current`]: '4096\n',
    ...PROCS,
  }, LINKS);
  const stats = await readContainerStats(101, fs);
  assert.deepEqual(stats.pids, [101]);
  assert.deepEqual(stats.cpu, { usage: { total: 1234000 } });
  assert.deepEqual(stats.memory, { user: { limit: -1, usage: 4096, max: null, failcnt: null } });
});

test('a gone process or an unknown pid gives empty stats, not an error', async () => {
  assert.deepEqual(await readContainerStats(null, fakeFs({})), { pids: [], processes: [], cpu: null, memory: null });
  assert.deepEqual(await readContainerStats(4242, fakeFs({})), { pids: [], processes: [], cpu: null, memory: null });
});

test('the pure parsers', () => {
  assert.equal(parseSingleValue('18446744073709551615\n'), -1);
  assert.equal(parseSingleValue('max\n'), -1);
  assert.equal(parseSingleValue(''), null);
  assert.equal(parseSingleValue(null), null);
  assert.equal(parseSingleValue('12 34'), 12);
  assert.deepEqual(parseValueList('9223372036854775807 5\n'), [-1, 5]);
  assert.equal(parseV2CpuTotalNs('user_usec 1\n'), null);
  assert.equal(parseNsPid('NStgid:\t55\n', 55), -1);
  assert.equal(parseNsPid('NStgid:\t55\t3\t1\n', 55), 3);
  assert.equal(parseNsPid(null, 55), -1);
  assert.equal(parseCmdline(Buffer.from('a\0b\0')), 'a b ');
});
