// Dobby specs over D-Bus with the real manager and crun: StartFromSpec (both arities), GetSpec,
// CreateBundle, and bad specs refused with -1 and nothing left behind.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readHostFacts } from '../../src/spec/index.ts';
import { realManager, specBundlesDir } from '../helpers/manager.ts';
import { containerEnviron } from '../helpers/container-environ.ts';
import { makeScratch } from '../helpers/scratch.ts';
import { call, serve, testBus, type TestBus } from '../api/harness.ts';

const scratch = makeScratch();
const real = realManager(scratch, 'crun', { stopGraceMs: 2_000 });
const bundlesDir = specBundlesDir(scratch, 'crun');

function spec(args: string[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ version: '1.0', args, user: { uid: 1000, gid: 1000 }, memLimit: 41943040, ...extra });
}

const leftBundles = (id: string) => (existsSync(bundlesDir) ? readdirSync(bundlesDir).filter((n) => n.startsWith(`${id}.`)) : []);

const CGROUP_ROOT = '/sys/fs/cgroup';

/**
 * Cgroup dirs named like the container: crun (cgroupfs, no cgroupsPath) makes `<controller root>/<id>` on v1, and
 * `/sys/fs/cgroup/<id>` on v2. An id with slashes is looked up by its last part, where an escape would land.
 */
function cgroupsNamed(id: string): string[] {
  const name = basename(id);
  if (name === '' || name === '.' || name === '..') return [];
  const roots = [CGROUP_ROOT, ...readdirSync(CGROUP_ROOT, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(CGROUP_ROOT, d.name))];
  return roots.map((root) => join(root, name)).filter((dir) => existsSync(dir));
}

/** Lines of this (the host's) mount table that mention the container: its bundle, rootfs or id. */
function mountsNamed(id: string): string[] {
  const name = basename(id);
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((line) => line.includes(name) || line.includes(scratch.dir));
}

/** Bundle dirs for an id wherever joining it to the bundles dir would put them (an escaping id included). */
function bundlesNamed(id: string): string[] {
  const where = dirname(resolve(bundlesDir, id));
  const name = basename(id);
  return existsSync(where) && name !== '' ? readdirSync(where).filter((n) => n.startsWith(`${name}.`)) : [];
}

describe('Dobby specs over D-Bus', { concurrency: 3 }, () => {
  let bus: TestBus | undefined;
  let address = '';
  before(async () => {
    bus = await testBus();
    address = bus.address;
    await serve({ manager: real.manager, address });
  });
  after(async () => bus?.stop());

  test('StartFromSpec (ssah) runs the spec under its init as the mapped user and reports the exit status', async () => {
    const id = scratch.id('spec');
    const reply = await call(address, 'ctrl1', 'StartFromSpec', 'ssah', id, spec(['sh', '-c', 'exit 3']), '0');
    assert.match(reply, /^i [1-9]\d*$/);
    const exited = await real.next(id, 'exited');
    assert.ok(exited.type === 'exited' && exited.status === 768, JSON.stringify(exited));
    await real.next(id, 'deleted');
    assert.deepEqual(leftBundles(id), [], 'the generated bundle outlived its container');
  });

  test('StartFromSpec (ssahssas) and GetSpec: the spec comes back compact; the container sees its env and user', async () => {
    const id = scratch.id('spec');
    const text = spec(['sleep', '60'], { env: ['DOBBY_TEST_VAR=12345'] });
    const reply = await call(address, 'ctrl1', 'StartFromSpec', 'ssahssas', id, text, '0', '', '', '0');
    const cd = Number(/^i (\d+)$/.exec(reply)?.[1]);
    assert.ok(cd > 0, reply);
    assert.equal(await call(address, 'ctrl1', 'GetState', 'i', String(cd)), 'i 2');
    assert.equal(await call(address, 'debug1', 'GetSpec', 'i', String(cd)), `s ${JSON.stringify(JSON.stringify(JSON.parse(text)))}`);
    const pid = real.manager.get(cd)?.pid;
    assert.ok(typeof pid === 'number');
    assert.equal((await containerEnviron(pid)).get('DOBBY_TEST_VAR'), '12345');
    assert.match(readFileSync(`/proc/${pid}/status`, 'utf8'), /^Uid:\s+1000\s/m);
    const config = JSON.parse(await call(address, 'debug1', 'GetOCIConfig', 'i', String(cd)).then((r) => JSON.parse(r.slice(2)) as string)) as {
      process: { args: string[] };
    };
    assert.equal(config.process.args[0], '/usr/libexec/DobbyInit');
    assert.equal(await call(address, 'ctrl1', 'Stop', 'ib', String(cd), 'false'), 'b true');
    await real.next(id, 'deleted');
    assert.deepEqual(leftBundles(id), []);
  });

  test('the spec extensions reach the running container through dobbyd: limits, oom_score_adj, host namespaces', async () => {
    const id = scratch.id('ext');
    const text = spec(['sleep', '60'], {
      memLimit: 50331648,
      resources: { pidsLimit: 20, oomScoreAdj: 300, memoryReservation: 16777216, rlimits: { nofile: '256:512', core: 0 } },
      hostNamespaces: ['ipc'],
    });
    const reply = await call(address, 'ctrl1', 'StartFromSpec', 'ssah', id, text, '0');
    const cd = Number(/^i (\d+)$/.exec(reply)?.[1]);
    assert.ok(cd > 0, reply);
    try {
      const pid = real.manager.get(cd)?.pid;
      assert.ok(typeof pid === 'number');
      assert.equal(readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8').trim(), '300');
      assert.match(readFileSync(`/proc/${pid}/limits`, 'utf8'), /^Max open files\s+256\s+512\s/m);
      assert.match(readFileSync(`/proc/${pid}/limits`, 'utf8'), /^Max core file size\s+0\s+0\s/m);
      assert.equal(readlinkSync(`/proc/${pid}/ns/ipc`), readlinkSync(`/proc/self/ns/ipc`));
      for (const ns of ['pid', 'net', 'uts', 'user']) assert.notEqual(readlinkSync(`/proc/${pid}/ns/${ns}`), readlinkSync(`/proc/self/ns/${ns}`), ns);
      // The container's cgroups, found from the host through /proc/<pid>/cgroup (v1 controllers, or the v2 line).
      const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n').map((l) => l.split(':'));
      const dir = (controller: string) => {
        const v1 = lines.find(([, c]) => c!.split(',').includes(controller));
        return v1 !== undefined ? join(CGROUP_ROOT, controller, v1[2]!) : join(CGROUP_ROOT, lines.find(([h]) => h === '0')![2]!);
      };
      assert.equal(readFileSync(join(dir('pids'), 'pids.max'), 'utf8').trim(), '20');
      const memory = dir('memory');
      const limit = existsSync(join(memory, 'memory.limit_in_bytes')) ? 'memory.limit_in_bytes' : 'memory.max';
      const low = existsSync(join(memory, 'memory.soft_limit_in_bytes')) ? 'memory.soft_limit_in_bytes' : 'memory.low';
      assert.equal(readFileSync(join(memory, limit), 'utf8').trim(), '50331648');
      assert.equal(readFileSync(join(memory, low), 'utf8').trim(), '16777216');
    } finally {
      assert.equal(await call(address, 'ctrl1', 'Stop', 'ib', String(cd), 'true'), 'b true');
      await real.next(id, 'deleted');
    }
    assert.deepEqual(leftBundles(id), []);
    assert.deepEqual(cgroupsNamed(id), []);
  });

  // Neither the spec conversion nor the launch config may set a hostname there: crun refuses one without a UTS namespace.
  test('a spec in the host\'s UTS namespace starts and keeps the host\'s name', async () => {
    const id = scratch.id('uts');
    const reply = await call(address, 'ctrl1', 'StartFromSpec', 'ssah', id, spec(['sleep', '60'], { hostNamespaces: ['uts'] }), '0');
    const cd = Number(/^i (\d+)$/.exec(reply)?.[1]);
    assert.ok(cd > 0, reply);
    try {
      const pid = real.manager.get(cd)?.pid;
      assert.ok(typeof pid === 'number');
      assert.equal(readlinkSync(`/proc/${pid}/ns/uts`), readlinkSync('/proc/self/ns/uts'));
    } finally {
      await call(address, 'ctrl1', 'Stop', 'ib', String(cd), 'true');
      await real.next(id, 'deleted');
    }
  });

  test('CreateBundle writes a bundle without running it', async () => {
    const id = scratch.id('bundle');
    assert.equal(await call(address, 'debug1', 'CreateBundle', 'ss', id, spec(['true'])), 'b true');
    const made = leftBundles(id);
    assert.equal(made.length, 1);
    assert.ok(existsSync(join(bundlesDir, made[0] as string, 'config.json')));
    assert.ok(existsSync(join(bundlesDir, made[0] as string, 'rootfs', 'etc', 'passwd')));
    assert.equal(real.manager.findById(id), undefined);
  });

  test('bad specs are refused with -1 and leave no bundle, no cgroup and no mount', async () => {
    // First a good one, so the checks below are seen to find what a container leaves while it runs.
    const good = scratch.id('good');
    const reply = await call(address, 'ctrl1', 'StartFromSpec', 'ssah', good, spec(['sleep', '30']), '0');
    const cd = Number(/^i (\d+)$/.exec(reply)?.[1]);
    assert.ok(cd > 0, reply);
    await real.next(good, 'started');
    assert.equal(leftBundles(good).length, 1);
    assert.ok(cgroupsNamed(good).length > 0, 'a running container has cgroups named after it');
    assert.equal(await call(address, 'ctrl1', 'Stop', 'ib', String(cd), 'true'), 'b true');
    await real.next(good, 'deleted');
    assert.deepEqual(cgroupsNamed(good), [], 'the stopped container left a cgroup');
    assert.deepEqual(leftBundles(good), []);

    const printable = (n: number) => Array.from({ length: n }, (_, i) => String.fromCharCode(33 + ((i * 7919) % 90))).join('');
    const cases = [
      ['uid0', spec(['true'], { user: { uid: 0, gid: 0 } })],
      ['junk', 'this is not json'],
      // busctl takes the spec on its command line, where one argument is at most 128 KiB; 1 MiB is in test/spec.
      ['bigjunk', printable(100 * 1024)],
      ['missing', JSON.stringify({ version: '1.0', args: ['true'], user: { uid: 1000, gid: 1000 } })],
      ['types', spec(['true'], { memLimit: '40M', env: 'A=1' })],
      ['swap', spec(['true'], { swapLimit: 1 })],
      ['cap', spec(['true'], { capabilities: ['CAP_NOT_A_THING'] })],
      ['dotdot', spec(['true'], { mounts: [{ source: '/tmp', destination: '/a/../../etc', type: 'bind', options: ['bind'] }] })],
      ['rlimit', spec(['true'], { resources: { rlimits: { as: 1024, nofile: '10:1' } } })],
      ['quota', spec(['true'], { resources: { cpuQuota: 0, blkioWeight: 5 } })],
      ['hostpid', spec(['true'], { hostNamespaces: ['pid'] })],
      // A refusal only this host's facts decide (specToOci, after parsing): a device driver it lacks.
      ['nodriver', spec(['true'], { devices: [{ major: 'no-such-driver', minor: 0, access: 'r' }] })],
      ...(readHostFacts().capSysResource === false ? [['oomadj', spec(['true'], { resources: { oomScoreAdj: -500 } })]] : []),
    ];
    for (const [label, text] of cases) {
      const id = scratch.id(label);
      assert.equal(await call(address, 'ctrl1', 'StartFromSpec', 'ssah', id, text as string, '0'), 'i -1', label);
      assert.deepEqual(leftBundles(id), [], label);
      assert.equal(real.manager.findById(id), undefined);
      assert.deepEqual(cgroupsNamed(id), [], `${label}: a cgroup was left`);
      assert.deepEqual(mountsNamed(id), [], `${label}: a mount was left`);
    }
    // Accepted (with a warning) but failing in crun: the bind source does not exist on the host.
    const late = scratch.id('nosource');
    const lateSpec = spec(['true'], { mounts: [{ source: `/nonexistent-${late}`, destination: '/data', type: 'bind', options: ['bind'] }] });
    assert.equal(await call(address, 'ctrl1', 'StartFromSpec', 'ssah', late, lateSpec, '0'), 'i -1');
    assert.deepEqual(leftBundles(late), []);
    assert.deepEqual(cgroupsNamed(late), [], 'a start that failed in crun left a cgroup');
    assert.deepEqual(mountsNamed(late), []);
    assert.equal(real.manager.findById(late), undefined);
    // A valid spec with an invalid id: refused, and its bundle removed again.
    assert.equal(await call(address, 'ctrl1', 'StartFromSpec', 'ssah', '../escape', spec(['true']), '0'), 'i -1');
    for (const dir of [bundlesDir, join(bundlesDir, '..')]) {
      assert.deepEqual(existsSync(dir) ? readdirSync(dir).filter((n) => n.includes('escape')) : [], [], `left in ${dir}`);
    }
    // Ids that are path tricks: relative climbs and absolute paths, each with a unique last part to look for.
    for (const id of [`../${scratch.id('up')}`, `/${scratch.id('abs')}`, `/tmp/../${scratch.id('abs2')}`, `a/../../${scratch.id('deep')}`]) {
      assert.equal(await call(address, 'ctrl1', 'StartFromSpec', 'ssah', id, spec(['true']), '0'), 'i -1', id);
      assert.deepEqual(bundlesNamed(id), [], `${id}: a bundle was left`);
      assert.deepEqual(cgroupsNamed(id), [], `${id}: a cgroup was left`);
      assert.deepEqual(mountsNamed(id), [], `${id}: a mount was left`);
      assert.equal(real.manager.findById(id), undefined);
    }
  });
});
