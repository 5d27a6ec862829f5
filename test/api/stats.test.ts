// GetInfo's and GetStats' readers on recorded /proc and cgroup text of a cgroup v1 (hybrid) host and a v2 host.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { statsDocument } from '../../src/api/dbus/stats-doc.ts';
import { statsLines, type StatsDoc } from '../../src/api/cli/stats-format.ts';
import {
  parseCmdline, parseCpuacctStat, parseLimit, parseNsPid, parseSingleValue, parseV2CpuSplitNs, parseV2CpuTotalNs, parseValueList,
} from '../../src/drivers/stats/parse.ts';
import { readContainerStats, type StatsFs } from '../../src/drivers/stats/reader.ts';
import { readContainerUsage } from '../../src/drivers/stats/usage.ts';
import { WireState, type ContainerSummary } from '../../src/manager-types.ts';

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

test('cgroup v1 (hybrid host): cpuacct and memory controllers, percpu array, the page-aligned "unlimited" as -1', async () => {
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
  // v1 writes "no limit" as LONG_MAX rounded down to a page; Dobby's rule is "max/all-ones → -1".
  assert.deepEqual(stats.memory, { user: { limit: -1, usage: 356352, max: 524288, failcnt: 0 } });
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

// ---- GetStats: recorded files (fixtures/stats/*) --------------------------------------------

const FIXTURES = join(import.meta.dirname, 'fixtures', 'stats');

/**
 * A host seen through a fixture dir: /proc/<pid>/cgroup and /proc/self/mountinfo from the dir,
 * `<cgroup mount>/<controller or ''>/<container path>/<file>` from `<dir>/<controller or 'cgroup'>/<file>`.
 */
function fixtureFs(layout: string, pid: number, cgroupRoot: string, overrides: Record<string, string> = {}): StatsFs {
  const dir = join(FIXTURES, layout);
  return {
    readText: async (path) => {
      if (path in overrides) return overrides[path] ?? null;
      if (path === `/proc/${pid}/cgroup`) return readFileSync(join(dir, 'proc-cgroup'), 'utf8');
      if (path === '/proc/self/mountinfo') return readFileSync(join(dir, 'mountinfo'), 'utf8');
      const m = new RegExp(`^/sys/fs/cgroup/(?:(\\w+)/)?${cgroupRoot}/([\\w.]+)$`).exec(path);
      if (m === null) return null;
      try {
        return readFileSync(join(dir, m[1] ?? 'cgroup', m[2]!), 'utf8');
      } catch {
        return null;
      }
    },
    readLink: async () => null,
  };
}

test('GetStats on cgroup v1 (files read from a real cgroup of this hybrid host): cpu split, memory peak and limit, pids', async () => {
  const usage = await readContainerUsage(4242, fixtureFs('cgroup-v1-hybrid', 4242, 'dobby-rec'));
  assert.deepEqual(usage, {
    cgroupVersion: 1,
    cpu: { totalNs: 249763872, userNs: 168000000, systemNs: 60000000 },
    memory: { usage: 786432, peak: 16769024, limit: 67108864, failcnt: 0 },
    pids: { current: 2, limit: 64 },
  });
});

test('GetStats on cgroup v1: unlimited memory and pids are -1; without usage_user/usage_sys the cpuacct.stat ticks are used', async () => {
  const base = '/sys/fs/cgroup';
  const usage = await readContainerUsage(4242, fixtureFs('cgroup-v1-hybrid', 4242, 'dobby-rec', {
    [`${base}/memory/dobby-rec/memory.limit_in_bytes`]: '9223372036854771712\n',
    [`${base}/pids/dobby-rec/pids.max`]: 'max\n',
    [`${base}/cpuacct/dobby-rec/cpuacct.usage_user`]: '',
    [`${base}/cpuacct/dobby-rec/cpuacct.usage_sys`]: '',
  }));
  assert.equal(usage?.memory.limit, -1);
  assert.equal(usage?.pids.limit, -1);
  // cpuacct.stat: user 18, system 6 ticks of 10 ms.
  assert.deepEqual(usage?.cpu, { totalNs: 249763872, userNs: 180000000, systemNs: 60000000 });
});

test('GetStats on cgroup v2: one directory, cpu.stat in µs → ns, memory.peak, memory.events max as failcnt, pids.max "max"', async () => {
  const usage = await readContainerUsage(4211, fixtureFs('cgroup-v2', 4211, 'system.slice/dobby-rec'));
  assert.deepEqual(usage, {
    cgroupVersion: 2,
    cpu: { totalNs: 249763000, userNs: 168000000, systemNs: 81763000 },
    memory: { usage: 786432, peak: 16769024, limit: 67108864, failcnt: 3 },
    pids: { current: 3, limit: -1 },
  });
  // A kernel before 5.19 has no memory.peak: null, not an error.
  const old = await readContainerUsage(4211, fixtureFs('cgroup-v2', 4211, 'system.slice/dobby-rec', {
    '/sys/fs/cgroup/system.slice/dobby-rec/memory.peak': '',
  }));
  assert.equal(old?.memory.peak, null);
});

test('GetStats of a container with no cgroup left: null, and the document says so', async () => {
  assert.equal(await readContainerUsage(null), null);
  assert.equal(await readContainerUsage(4242, fakeFs({})), null);
  const summary: ContainerSummary = { descriptor: 734, id: 'gone', phase: 'stopping', wireState: WireState.STOPPING, pid: null, bundle: '' };
  assert.deepEqual(statsDocument(summary, null), {
    id: 'gone', descriptor: 734, state: 'stopping', cgroupVersion: null,
    cpu: { totalNs: null, userNs: null, systemNs: null },
    memory: { usage: null, peak: null, limit: null, failcnt: null },
    pids: { current: null, limit: null },
  });
});

test('dobby stats lines: MiB, seconds, unlimited, n/a', () => {
  const doc: StatsDoc = {
    id: 'web', descriptor: 734, state: 'running', cgroupVersion: 1,
    cpu: { totalNs: 1_234_000_000, userNs: 1_000_000_000, systemNs: null },
    memory: { usage: 12 * 1024 * 1024, peak: 20 * 1024 * 1024 + 512 * 1024, limit: -1, failcnt: 0 },
    pids: { current: 5, limit: 64 },
  };
  assert.deepEqual(statsLines(doc), [
    'id      : web (descriptor 734, running, cgroup v1)',
    'cpu     : 1.234 s (user 1.000 s, system n/a)',
    'memory  : 12.0 MiB (peak 20.5 MiB, limit unlimited, limit hit 0 times)',
    'pids    : 5 (limit 64)',
  ]);
  assert.equal(statsLines({ ...doc, restarts: 2 }).at(-1), 'restarts: 2 (restartOnCrash)');
});

test('the limit and cpu parsers', () => {
  assert.equal(parseLimit('9223372036854771712\n'), -1);
  // 64 KiB pages round LONG_MAX further down.
  assert.equal(parseLimit('9223372036854710272\n'), -1);
  assert.equal(parseLimit('max\n'), -1);
  assert.equal(parseLimit('18446744073709551615'), -1);
  assert.equal(parseLimit('41943040\n'), 41943040);
  // A real limit above 2^53 stays exact.
  assert.equal(parseLimit('9007199254740993'), 9007199254740993n);
  assert.equal(parseLimit(null), null);
  assert.deepEqual(parseCpuacctStat('user 18\nsystem 6\n'), { user: 180000000, system: 60000000 });
  assert.deepEqual(parseCpuacctStat(null), { user: null, system: null });
  assert.deepEqual(parseV2CpuSplitNs('usage_usec 3\nuser_usec 2\nsystem_usec 1\n'), { user: 2000, system: 1000 });
});
