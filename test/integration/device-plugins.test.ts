// The device plugins (gpu, ionmemory) over real crun through the daemon's composition root, with
// Dobby's settings file. The host has no GPU, no ION and none of their vendor cgroup controllers, so
// they are simulated, said here: the settings' gpu.devNodes are character devices this test makes
// with mknod in its scratch dir (1:3 null and 1:5 zero, harmless), and the vendor v1 `gpu` and `ion`
// controllers are directories of the scratch dir named as `cgroup` mounts with the `gpu` / `ion`
// option in a mountinfo file the plugins are pointed at (they write cgroup.procs and the limits
// there as they would in the real hierarchy; the ION heap files a new cgroup would have are made by
// the test). gpu: the nodes with their major:minor and the settings' group inside a spec container,
// the limit and the pid on the host, the directory gone after a stop and after a crash; a host
// without the devices fails a required plugin's start and carries an optional one on. ionmemory:
// each heap's limit or the default. devicemapper: a config written with a node's old numbers (1:3)
// runs with the host node's (1:5, its zeros read inside), a simulated renumbered node of the scratch
// dir. gamepad: a simulated input dir (nodes 1:3 and 1:5 named event0/1, never opened as input) seen at
// /dev/input, the `input` group of a group file of the test's in the container's groups, Dobby's
// event device rules in the launch config. Bad data is refused by field.

import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { filter, firstValueFrom, ReplaySubject, timeout } from 'rxjs';
import type { LifecycleEvent } from '../../src/bus.ts';
import { parseDaemonArgs } from '../../src/daemon-options.ts';
import { startDaemon, type Daemon } from '../../src/daemon.ts';
import { run } from '../../src/drivers/process.ts';
import { DobbyError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { loadSettings } from '../../src/settings/load-settings.ts';
import { makeBundle, writeConfig } from '../helpers/bundle.ts';
import { makeScratch } from '../helpers/scratch.ts';

const scratch = makeScratch();
// Spec containers run as a mapped uid: what they see must be reachable by it.
const shared = mkdtempSync('/tmp/dobby-gpu-');
chmodSync(shared, 0o755);
const devDir = join(shared, 'dev');
const gpuCgroup = join(shared, 'gpu-cgroup');
const ionCgroup = join(shared, 'ion-cgroup');
const mountinfo = join(shared, 'mountinfo');
const out = join(shared, 'out');
const inputDir = join(shared, 'input');
const groupFile = join(shared, 'group');
const INPUT_GID = 991;
const GPU_GID = 44;

const GPU_MOUNT = `40 30 0:99 / ${gpuCgroup} rw,nosuid,nodev,noexec,relatime shared:20 - cgroup cgroup rw,gpu\n`;
const ION_MOUNT = `41 30 0:98 / ${ionCgroup} rw,nosuid,nodev,noexec,relatime shared:21 - cgroup cgroup rw,ion\n`;
const MOUNTINFO = GPU_MOUNT + ION_MOUNT;

let daemon: Daemon;
const events = new ReplaySubject<LifecycleEvent>();

async function mknod(path: string, major: number, minor: number): Promise<void> {
  const r = await run('mknod', ['-m', '0666', path, 'c', String(major), String(minor)]);
  assert.equal(r.code, 0, r.stderr);
}

function nextEvent(id: string, type: LifecycleEvent['type']): Promise<LifecycleEvent> {
  return firstValueFrom(events.pipe(filter((e) => e.id === id && e.type === type), timeout(30_000)));
}

async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 600 && !check(); i++) await sleep(50);
  assert.ok(check(), `not in time: ${what}`);
}

async function bundleWith(id: string, args: readonly string[], rdkPlugins: Record<string, unknown>, edit?: (c: Record<string, unknown>) => void): Promise<string> {
  const options = { args, init: true };
  const bundle = await makeBundle(join(scratch.bundlesDir, id), options);
  await writeConfig(bundle, options, (c) => {
    c['rdkPlugins'] = rdkPlugins;
    edit?.(c);
  });
  return bundle;
}

const limitFile = (id: string): string => join(gpuCgroup, id, 'gpu.limit_in_bytes');
type HookEvent = Extract<LifecycleEvent, { type: 'hook' }>;
const hookRun = (id: string, plugin: string, hook: string): Promise<HookEvent> =>
  firstValueFrom(events.pipe(filter((e): e is HookEvent => e.id === id && e.type === 'hook' && e.plugin === plugin && e.hook === hook), timeout(30_000)));

before(async () => {
  mkdirSync(devDir);
  mkdirSync(gpuCgroup);
  mkdirSync(ionCgroup);
  mkdirSync(out);
  chmodSync(out, 0o777);
  await mknod(join(devDir, 'gpu0'), 1, 3);
  await mknod(join(devDir, 'gpu1'), 1, 5);
  mkdirSync(inputDir);
  await mknod(join(inputDir, 'event0'), 1, 3);
  await mknod(join(inputDir, 'event1'), 1, 5);
  // `inputx` first: only the group named exactly `input` counts.
  writeFileSync(groupFile, `root:x:0:\ninputx:x:990:\ninput:x:${INPUT_GID}:\n`);
  writeFileSync(mountinfo, MOUNTINFO);
  const settingsFile = join(shared, 'dobby.json');
  writeFileSync(settingsFile, JSON.stringify({
    paths: { workspaceDir: join(shared, 'ws'), persistentDir: join(shared, 'persistent') },
    gpu: { devNodes: [`${devDir}/gpu*`], groupIds: [GPU_GID] },
  }));
  daemon = await openDaemon(settingsFile);
});

/** A daemon of this test's settings and simulated host; it adopts what an earlier one left. */
async function openDaemon(settingsFile: string): Promise<Daemon> {
  const { settings } = await loadSettings(settingsFile);
  const options = parseDaemonArgs(['--state-dir', join(scratch.dir, 'dobbyd'), '--stop-grace', '2', '--skip-host-check'], {}, 2);
  assert.ok(options !== 'help');
  const opened = await startDaemon(options, silentLogger(), {
    settings, builtinPlugins: { gpu: { devNodes: settings.gpu?.devNodes ?? [], mountinfo }, ionmemory: { mountinfo }, gamepad: { inputDir, groupFile } },
  });
  opened.manager.events$.subscribe((e) => events.next(e));
  await opened.adoptLeftovers();
  return opened;
}

after(async () => {
  await daemon?.close();
  rmSync(shared, { recursive: true, force: true });
});

describe('gpu plugin over real crun', { concurrency: 1 }, () => {
  test('Dobby bundle: the container joins <gpu mount>/<id> with its limit; the directory goes with the stop', async () => {
    const id = scratch.id('gpu');
    const d = await daemon.manager.start({ id, bundle: await bundleWith(id, ['/bin/sleep', '1000'], { gpu: { required: true, data: { memory: 33554432 } } }) });
    const pid = daemon.manager.findById(id)?.pid;
    assert.equal(readFileSync(limitFile(id), 'utf8'), '33554432');
    assert.equal(readFileSync(join(gpuCgroup, id, 'cgroup.procs'), 'utf8').trim(), String(pid));
    await daemon.manager.stop(d, false);
    await nextEvent(id, 'deleted');
    assert.ok(!existsSync(join(gpuCgroup, id)), 'the gpu cgroup dir is left');
  });

  test('a container that crashes: the directory goes too', async () => {
    const id = scratch.id('gpu-crash');
    await daemon.manager.start({ id, bundle: await bundleWith(id, ['/bin/sh', '-c', 'sleep 0.5; kill -SEGV $$'], { gpu: { required: true, data: { memory: 1048576 } } }) });
    assert.equal(readFileSync(limitFile(id), 'utf8'), '1048576');
    await nextEvent(id, 'deleted');
    assert.ok(!existsSync(join(gpuCgroup, id)), 'the gpu cgroup dir is left after a crash');
  });

  test('StartFromSpec gpu.enable: the settings\' nodes (1:3, 1:5) and group inside, usable; memLimit on the host', async () => {
    const id = scratch.id('gpu-spec');
    const script = [
      `stat -c '%n %t:%T' ${devDir}/gpu0 ${devDir}/gpu1 > /out/${id}`,
      `id -G | tr ' ' '\\n' | grep -x ${GPU_GID} >> /out/${id}`,
      `echo x > ${devDir}/gpu0 && echo wrote >> /out/${id}`,
      `echo . >> /out/${id}`,
      'exec sleep 1000',
    ].join('; ');
    const d = await daemon.manager.startFromSpec({
      id,
      spec: JSON.stringify({
        version: '1.0', args: ['/bin/sh', '-c', script], user: { uid: 1000, gid: 1000 }, memLimit: 41943040,
        gpu: { enable: true, memLimit: 2097152 },
        mounts: [{ source: out, destination: '/out', type: 'bind', options: ['bind', 'rw', 'nosuid', 'nodev'] }],
      }),
    });
    const report = join(out, id);
    await eventually(() => existsSync(report) && readFileSync(report, 'utf8').endsWith('.\n'), 'the container report');
    assert.equal(readFileSync(report, 'utf8'), `${devDir}/gpu0 1:3\n${devDir}/gpu1 1:5\n${GPU_GID}\nwrote\n.\n`);
    assert.equal(readFileSync(limitFile(id), 'utf8'), '2097152');
    await daemon.manager.stop(d, false);
    await nextEvent(id, 'deleted');
    assert.ok(!existsSync(join(gpuCgroup, id)));
  });

  test('a host without the settings\' GPU nodes: a required gpu fails the start, an optional one runs with the failure reported', async () => {
    const away = `${devDir}-away`;
    renameSync(devDir, away);
    try {
      const id = scratch.id('nogpu-req');
      await assert.rejects(
        daemon.manager.start({ id, bundle: await bundleWith(id, ['/bin/sleep', '1000'], { gpu: { required: true, data: { memory: 1048576 } } }) }),
        (err: unknown) => err instanceof Error && /no GPU on this host: the settings' gpu\.devNodes .* name no character device here/.test(err.message),
      );
      assert.equal(daemon.manager.findById(id), undefined);
      assert.ok(!existsSync(join(gpuCgroup, id)));

      const opt = scratch.id('nogpu-opt');
      const d = await daemon.manager.start({ id: opt, bundle: await bundleWith(opt, ['/bin/sleep', '1000'], { gpu: { required: false, data: { memory: 1048576 } } }) });
      const run = await hookRun(opt, 'gpu', 'postConstruction');
      assert.equal(run.ok, false);
      assert.match(String(run.error), /no GPU on this host/);
      await daemon.manager.stop(d, false);
      await nextEvent(opt, 'deleted');
      assert.ok(!existsSync(join(gpuCgroup, opt)));
    } finally {
      renameSync(away, devDir);
    }
  });

  test('bad data fails the start naming the field, even for an optional plugin; nothing is made', async () => {
    for (const [n, data, field] of [[1, { memory: 'lots' }, 'gpu.data.memory'], [2, {}, 'gpu.data.memory'], [3, { memory: 0 }, 'gpu.data.memory'], [4, null, 'gpu.data']] as const) {
      const id = scratch.id(`gpu-bad${n}`);
      await assert.rejects(
        daemon.manager.start({ id, bundle: await bundleWith(id, ['/bin/true'], { gpu: { required: false, data } }) }),
        (err: unknown) => err instanceof DobbyError && err.message.includes(field),
      );
      assert.equal(daemon.manager.findById(id), undefined);
      assert.ok(!existsSync(join(gpuCgroup, id)));
    }
  });
});

describe('ionmemory plugin over real crun', { concurrency: 1 }, () => {
  /** The files the kernel's ion controller gives a new cgroup (simulated: made before the start). */
  const heapFiles = (id: string): string => {
    const dir = join(ionCgroup, id);
    mkdirSync(dir);
    for (const heap of ['system', 'cma', 'secure']) writeFileSync(join(dir, `ion.${heap}.limit_in_bytes`), '0');
    writeFileSync(join(dir, 'ion.system.usage_in_bytes'), '0');
    return dir;
  };
  const read = (dir: string, name: string): string => readFileSync(join(dir, name), 'utf8');

  test('Dobby bundle: each heap gets its limit, the others defaultLimit; the directory goes with the stop', async () => {
    const id = scratch.id('ion');
    const dir = heapFiles(id);
    const data = { defaultLimit: 4194304, heaps: [{ name: 'system', limit: 8388608 }, { name: 'cma', limit: 18446744073709551615 }, { name: 'video', limit: 1 }] };
    const d = await daemon.manager.start({ id, bundle: await bundleWith(id, ['/bin/sleep', '1000'], { ionmemory: { required: true, data } }) });
    assert.equal(read(dir, 'cgroup.procs').trim(), String(daemon.manager.findById(id)?.pid));
    assert.deepEqual(['system', 'cma', 'secure'].map((h) => read(dir, `ion.${h}.limit_in_bytes`)), ['8388608', '18446744073709551615', '4194304']);
    assert.equal(read(dir, 'ion.system.usage_in_bytes'), '0');
    await daemon.manager.stop(d, false);
    await nextEvent(id, 'deleted');
    assert.ok(!existsSync(dir), 'the ion cgroup dir is left');
  });

  test('without defaultLimit the other heaps get no limit; a crash removes the directory', async () => {
    const id = scratch.id('ion-crash');
    const dir = heapFiles(id);
    await daemon.manager.start({ id, bundle: await bundleWith(id, ['/bin/sh', '-c', 'sleep 0.5; kill -SEGV $$'], { ionmemory: { data: { heaps: [{ name: 'secure', limit: 0 }] } } }) });
    assert.deepEqual(['system', 'cma', 'secure'].map((h) => read(dir, `ion.${h}.limit_in_bytes`)), ['18446744073709551615', '18446744073709551615', '0']);
    await nextEvent(id, 'deleted');
    assert.ok(!existsSync(dir), 'the ion cgroup dir is left after a crash');
  });

  test('a host without the ion controller: the container runs without limits, nothing is made', async () => {
    writeFileSync(mountinfo, GPU_MOUNT);
    try {
      const id = scratch.id('no-ion');
      const d = await daemon.manager.start({ id, bundle: await bundleWith(id, ['/bin/sleep', '1000'], { ionmemory: { required: true, data: { defaultLimit: 1 } } }) });
      assert.equal((await hookRun(id, 'ionmemory', 'preStart')).ok, true);
      assert.ok(!existsSync(join(ionCgroup, id)));
      await daemon.manager.stop(d, false);
      await nextEvent(id, 'deleted');
    } finally {
      writeFileSync(mountinfo, MOUNTINFO);
    }
  });

  test('bad data fails the start naming the field, even for an optional plugin; nothing is made', async () => {
    const cases = [
      [{ heaps: [{ limit: 1 }] }, 'ionmemory.data.heaps[0].name'],
      [{ heaps: [{ name: 'system', limit: 1 }, { name: 'cma', limit: '1M' }] }, 'ionmemory.data.heaps[1].limit'],
      [{ heaps: [{ name: 'system' }] }, 'ionmemory.data.heaps[0].limit'],
      [{ heaps: [{ name: '../x', limit: 1 }] }, 'ionmemory.data.heaps[0].name'],
      [{ defaultLimit: -1 }, 'ionmemory.data.defaultLimit'],
      [{ heaps: { system: 1 } }, 'ionmemory.data.heaps'],
      [null, 'ionmemory.data'],
    ] as const;
    for (const [n, [data, field]] of cases.entries()) {
      const id = scratch.id(`ion-bad${n}`);
      await assert.rejects(
        daemon.manager.start({ id, bundle: await bundleWith(id, ['/bin/true'], { ionmemory: { required: false, data } }) }),
        (err: unknown) => err instanceof DobbyError && err.message.includes(field),
      );
      assert.equal(daemon.manager.findById(id), undefined);
      assert.ok(!existsSync(join(ionCgroup, id)));
    }
  });
});

test('a daemon gone while gpu and ionmemory containers run: the next one adopts them and their stop removes the cgroup dirs', async () => {
  const id = scratch.id('adopt');
  mkdirSync(join(ionCgroup, id));
  writeFileSync(join(ionCgroup, id, 'ion.system.limit_in_bytes'), '0');
  const plugins = { gpu: { required: true, data: { memory: 4096 } }, ionmemory: { required: true, data: { defaultLimit: 8192 } } };
  await daemon.manager.start({ id, bundle: await bundleWith(id, ['/bin/sleep', '1000'], plugins) });
  assert.equal(readFileSync(limitFile(id), 'utf8'), '4096');
  assert.equal(readFileSync(join(ionCgroup, id, 'ion.system.limit_in_bytes'), 'utf8'), '8192');
  // As a crash would: the containers keep running, nothing is torn down.
  await daemon.close({ keepContainers: true });
  daemon = await openDaemon(join(shared, 'dobby.json'));
  const adopted = daemon.manager.findById(id);
  assert.ok(adopted !== undefined, 'not adopted');
  assert.ok(existsSync(join(gpuCgroup, id)));
  await daemon.manager.stop(adopted.descriptor, false);
  await nextEvent(id, 'deleted');
  assert.ok(!existsSync(join(gpuCgroup, id)), 'the gpu cgroup dir is left');
  assert.ok(!existsSync(join(ionCgroup, id)), 'the ion cgroup dir is left');
});

describe('devicemapper plugin over real crun', { concurrency: 1 }, () => {
  /** The config was written when the node was 1:3 (null); on this (simulated) host it is 1:5 (zero). */
  const staleDevice = (path: string) => (c: Record<string, unknown>): void => {
    const linux = c['linux'] as Record<string, unknown>;
    linux['devices'] = [{ path, type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 }];
    ((linux['resources'] as Record<string, unknown>)['devices'] as unknown[]).push({ allow: true, type: 'c', major: 1, minor: 3, access: 'rw' });
  };

  test('Dobby bundle: the node and its cgroup rule take the host\'s numbers; an unlisted node is not added', async () => {
    const id = scratch.id('devmap');
    const node = join(devDir, 'gpu1');
    const script = `stat -c '%t:%T' ${node} > /out/${id}; head -c 3 ${node} | tr '\\0' z >> /out/${id}; echo >> /out/${id}; ls ${devDir}/gpu0 >> /out/${id} 2>&1; echo . >> /out/${id}`;
    const edit = (c: Record<string, unknown>): void => {
      staleDevice(node)(c);
      // The node's path is under /tmp (never the host's /dev): /tmp stays the rootfs's, not a nodev tmpfs.
      c['mounts'] = (c['mounts'] as { destination: string }[]).filter((m) => m.destination !== '/tmp');
      (c['mounts'] as unknown[]).push({ destination: '/out', type: 'bind', source: out, options: ['bind', 'rw'] });
    };
    const d = await daemon.manager.start({ id, bundle: await bundleWith(id, ['/bin/sh', '-c', `${script}; exec sleep 1000`], { devicemapper: { required: true, data: { devices: [node, join(devDir, 'gpu0')] } } }, edit) });
    const report = join(out, id);
    await eventually(() => existsSync(report) && readFileSync(report, 'utf8').endsWith('.\n'), 'the container report');
    const [numbers, bytes, listing] = readFileSync(report, 'utf8').split('\n');
    assert.equal(numbers, '1:5');
    assert.equal(bytes, 'zzz', 'not the zeros of 1:5');
    assert.match(listing ?? '', /No such file or directory/);
    const launch = JSON.parse(readFileSync(join(scratch.dir, 'dobbyd', 'configs', `${id}.json`), 'utf8')) as { linux: { resources: { devices: unknown[] } } };
    assert.deepEqual(launch.linux.resources.devices.at(-1), { allow: true, type: 'c', major: 1, minor: 5, access: 'rw' });
    assert.ok(!readFileSync(join(scratch.bundlesDir, id, 'config.json'), 'utf8').includes('"minor":5'), 'the bundle was rewritten');
    await daemon.manager.stop(d, false);
    await nextEvent(id, 'deleted');
  });

  test('none of the nodes on this host: a required devicemapper fails the start; bad data is refused by field', async () => {
    const id = scratch.id('devmap-none');
    const gone = join(devDir, 'not-there');
    await assert.rejects(
      daemon.manager.start({ id, bundle: await bundleWith(id, ['/bin/true'], { devicemapper: { required: true, data: { devices: [gone] } } }, staleDevice(gone)) }),
      (err: unknown) => err instanceof Error && /devicemapper\.data\.devices .* names no device node on this host/.test(err.message),
    );
    assert.equal(daemon.manager.findById(id), undefined);
    for (const [n, data, field] of [[1, { devices: 'x' }, 'devicemapper.data.devices'], [2, { devices: ['dev/x'] }, 'devicemapper.data.devices[0]'], [3, { devices: [1] }, 'devicemapper.data.devices[0]'], [4, null, 'devicemapper.data']] as const) {
      const bad = scratch.id(`devmap-bad${n}`);
      await assert.rejects(
        daemon.manager.start({ id: bad, bundle: await bundleWith(bad, ['/bin/true'], { devicemapper: { required: false, data } }) }),
        (err: unknown) => err instanceof DobbyError && err.message.includes(field),
      );
      assert.equal(daemon.manager.findById(bad), undefined);
    }
  });
});

describe('gamepad plugin over real crun', { concurrency: 1 }, () => {
  const script = (id: string): string =>
    `ls -l /dev/input | grep event | while read -r mode links u g maj min rest; do echo "$maj$min $rest" | sed 's/ .* / /'; done > /out/${id}; ` +
    `id -G | tr ' ' '\\n' | grep -x ${INPUT_GID} >> /out/${id}; echo . >> /out/${id}`;
  const report = async (id: string): Promise<string> => {
    const file = join(out, id);
    await eventually(() => existsSync(file) && readFileSync(file, 'utf8').endsWith('.\n'), 'the container report');
    return readFileSync(file, 'utf8');
  };
  const seenInside = `1,3 event0\n1,5 event1\n${INPUT_GID}\n.\n`;

  test('Dobby bundle: the input devices at /dev/input, the input group, the event device rules', async () => {
    const id = scratch.id('pad');
    const withOut = (c: Record<string, unknown>): void => void (c['mounts'] as unknown[]).push({ destination: '/out', type: 'bind', source: out, options: ['bind', 'rw'] });
    const d = await daemon.manager.start({ id, bundle: await bundleWith(id, ['/bin/sh', '-c', `${script(id)}; exec sleep 1000`], { gamepad: { required: true } }, withOut) });
    assert.equal(await report(id), seenInside);
    const launch = JSON.parse(readFileSync(join(scratch.dir, 'dobbyd', 'configs', `${id}.json`), 'utf8')) as { linux: { resources: { devices: unknown[] } } };
    assert.deepEqual(launch.linux.resources.devices.slice(-10), [64, 65, 66, 67, 68, 69, 70, 71, 72, 73].map((minor) => ({ allow: true, type: 'c', major: 13, minor, access: 'rw' })));
    await daemon.manager.stop(d, false);
    await nextEvent(id, 'deleted');
  });

  test('StartFromSpec rdkPlugins.gamepad in a user namespace: the input group is mapped to itself', async () => {
    const id = scratch.id('pad-spec');
    const d = await daemon.manager.startFromSpec({
      id,
      spec: JSON.stringify({
        version: '1.0', args: ['/bin/sh', '-c', `${script(id)}; exec sleep 1000`], user: { uid: 1000, gid: 1000 }, memLimit: 41943040,
        mounts: [{ source: out, destination: '/out', type: 'bind', options: ['bind', 'rw', 'nosuid', 'nodev'] }],
        rdkPlugins: { gamepad: { required: true, data: {} } },
      }),
    });
    assert.equal(await report(id), seenInside);
    await daemon.manager.stop(d, false);
    await nextEvent(id, 'deleted');
  });

  test('a host without input devices: a required gamepad fails the start, an optional one runs; bad data is refused', async () => {
    const away = `${inputDir}-away`;
    renameSync(inputDir, away);
    try {
      const id = scratch.id('nopad-req');
      await assert.rejects(
        daemon.manager.start({ id, bundle: await bundleWith(id, ['/bin/sleep', '1000'], { gamepad: { required: true } }) }),
        (err: unknown) => err instanceof Error && /gamepad: this host has no input devices/.test(err.message),
      );
      assert.equal(daemon.manager.findById(id), undefined);
      const opt = scratch.id('nopad-opt');
      const d = await daemon.manager.start({ id: opt, bundle: await bundleWith(opt, ['/bin/sleep', '1000'], { gamepad: { required: false } }) });
      assert.equal((await hookRun(opt, 'gamepad', 'postConstruction')).ok, false);
      await daemon.manager.stop(d, false);
      await nextEvent(opt, 'deleted');
    } finally {
      renameSync(away, inputDir);
    }
    for (const [n, data] of [[1, []], [2, 'x']] as const) {
      const bad = scratch.id(`pad-bad${n}`);
      await assert.rejects(
        daemon.manager.start({ id: bad, bundle: await bundleWith(bad, ['/bin/true'], { gamepad: { required: false, data } }) }),
        (err: unknown) => err instanceof DobbyError && err.message.includes('gamepad.data must be an object'),
      );
    }
  });
});
