// The storage plugin through a real dobbyd on a test bus, with real crun, loop devices, mke2fs and
// e2fsck: a Dobby-format bundle's loop-mounted image is made on first use, seen from inside the
// container, and keeps its data across container restarts, a daemon restart and a daemon killed
// while the container runs; StartFromSpec's loop mounts work; bad data, a failing required plugin
// and a failed start leave no loop device, mount or file behind. Images live in the scratch dir.

import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { run } from '../../src/drivers/process.ts';
import { OWNER_XATTR } from '../../src/drivers/storage/image-tools.ts';
import { makeBundle, writeConfig } from '../helpers/bundle.ts';
import { pluginDaemon, report } from '../helpers/plugin-daemon.ts';
import { makeScratch } from '../helpers/scratch.ts';

const scratch = makeScratch();
const images = join(scratch.dir, 'images');
mkdirSync(images, { recursive: true });
// Spec containers run as a mapped uid: their report dir must be theirs to write.
const out = mkdtempSync('/tmp/dobby-storage-');
chmodSync(out, 0o777);
after(() => rmSync(out, { recursive: true, force: true }));
const d = pluginDaemon(scratch);

async function loopsOf(image: string): Promise<string[]> {
  const r = await run('losetup', ['--associated', image, '--noheadings', '--output', 'NAME']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l.trim() !== '');
}

/** Host mounts of the image's loop devices or under the daemon's storage dir. */
function hostMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(join(d.stateDir, 'storage')) || l.includes(scratch.dir));
}

async function assertNothingLeft(image: string, id: string): Promise<void> {
  assert.deepEqual(await loopsOf(image), [], `a loop device of ${image} is still attached`);
  assert.deepEqual(hostMounts(), []);
  assert.ok(!existsSync(join(d.stateDir, 'storage', id)), 'the container\'s storage dir is left');
  assert.ok(!readdirSync('/sys/fs/cgroup').some((c) => existsSync(join('/sys/fs/cgroup', c, id))), 'a cgroup is left');
}

/** A busybox bundle that reports what it sees at /data into `<out>/<id>` and then runs `then`. */
async function storageBundle(id: string, storage: unknown, then = 'exec sleep 1000', required = true): Promise<string> {
  const script = [
    'grep " /data " /proc/mounts > /out/$HOSTNAME.mounts',
    'cat /data/log 2>/dev/null > /out/$HOSTNAME.before',
    'echo "run at $(cat /proc/uptime)" >> /data/log 2>/dev/null',
    'echo . >> /out/$HOSTNAME.mounts',
    then,
  ].join('\n');
  const options = { args: ['/bin/sh', '-c', script], init: true, hostname: id };
  const bundle = await makeBundle(join(scratch.bundlesDir, id), options);
  await writeConfig(bundle, options, (c) => {
    (c['mounts'] as unknown[]).push({ destination: '/out', type: 'bind', source: out, options: ['bind', 'rw'] });
    c['rdkPlugins'] = { storage: { required, dependsOn: [], data: storage } };
  });
  return bundle;
}

const seenMounts = async (id: string): Promise<string> => report(join(out, `${id}.mounts`));
const runsBefore = (id: string): number => readFileSync(join(out, `${id}.before`), 'utf8').split('\n').filter((l) => l.startsWith('run at')).length;

describe('the storage plugin through dobbyd', { concurrency: false }, () => {
  const image = join(images, 'app', 'data.img');
  const data = { loopback: [{ destination: '/data', flags: 14, fstype: 'ext4', source: image, imgsize: 8 * 1024 * 1024 }] };

  test('a Dobby-format bundle: the image is made, mounted at /data inside, and freed at the stop', async () => {
    const id = scratch.id('loop');
    const cd = await d.startBundle(id, await storageBundle(id, data));
    assert.ok(cd > 0);
    const mounts = await seenMounts(id);
    assert.match(mounts, /^\/dev\/loop\d+ \/data ext4 rw,nosuid,nodev,noexec/, mounts);
    assert.equal(runsBefore(id), 0);
    assert.equal((await run('getfattr', ['--only-values', '-n', OWNER_XATTR, image])).stdout, '0');
    assert.equal((await loopsOf(image)).length, 1, 'the container holds one loop device');
    assert.deepEqual(hostMounts(), [], 'the host-side mount is gone once the container holds the image');
    const info = await d.info(id);
    const storage = info.plugins.find((p) => p.name === 'storage');
    assert.deepEqual(storage?.hooks.map((h) => `${h.hook}:${h.ok}`), ['postConstruction:true', 'preStart:true', 'postStart:true']);
    await d.stop(cd, id);
    await assertNothingLeft(image, id);
  });

  test('the data survives a container restart, a crash, a daemon restart and a daemon killed under it', async () => {
    const id1 = scratch.id('again');
    const cd1 = await d.startBundle(id1, await storageBundle(id1, data, 'exit 3'));
    assert.ok(cd1 > 0);
    await seenMounts(id1);
    await d.stopped(id1);
    assert.equal(runsBefore(id1), 1, 'the first test\'s write is there');
    await assertNothingLeft(image, id1);

    await d.restart('SIGTERM');
    const id2 = scratch.id('after-restart');
    const cd2 = await d.startBundle(id2, await storageBundle(id2, data));
    await seenMounts(id2);
    assert.equal(runsBefore(id2), 2);

    await d.restart('SIGKILL');
    assert.equal((await loopsOf(image)).length, 1, 'the running container keeps its image while no daemon runs');
    await d.stop(cd2, id2);
    await assertNothingLeft(image, id2);

    const id3 = scratch.id('third');
    const cd3 = await d.startBundle(id3, await storageBundle(id3, data));
    await seenMounts(id3);
    assert.equal(runsBefore(id3), 3);
    await d.stop(cd3, id3);
    await assertNothingLeft(image, id3);
  });

  test('two containers on one image share one loop device and see each other\'s writes', async () => {
    const a = scratch.id('share-a');
    const b = scratch.id('share-b');
    const cdA = await d.startBundle(a, await storageBundle(a, data));
    await seenMounts(a);
    const cdB = await d.startBundle(b, await storageBundle(b, data));
    await seenMounts(b);
    assert.equal(runsBefore(b), runsBefore(a) + 1, 'b sees a\'s write');
    assert.equal((await loopsOf(image)).length, 1, 'one loop device for one image');
    await d.stop(cdA, a);
    assert.equal((await loopsOf(image)).length, 1, 'b still holds the image');
    await d.stop(cdB, b);
    await assertNothingLeft(image, b);
  });

  test('dynamic mounts appear where the host source exists; mountOwner gives host paths their owners', async () => {
    const shared = join(scratch.dir, 'shared');
    mkdirSync(join(shared, 'sub'), { recursive: true });
    writeFileSync(join(shared, 'sub', 'f'), 'from the host\n');
    const owned = join(scratch.dir, 'owned');
    mkdirSync(join(owned, 'deep'), { recursive: true });
    writeFileSync(join(owned, 'deep', 'g'), '');
    const single = join(scratch.dir, 'single');
    writeFileSync(single, '');
    const id = scratch.id('dyn');
    const storage = {
      dynamic: [
        { source: shared, destination: '/shared', flags: 1 | 4096 },
        { source: join(scratch.dir, 'absent'), destination: '/absent', flags: 0 },
      ],
      mountOwner: [
        { source: owned, user: 'daemon', group: 'daemon', recursive: true },
        { source: single, user: 'nobody', recursive: false },
      ],
    };
    const bundle = await storageBundle(id, storage, [
      'r=/out/$HOSTNAME.dyn',
      'cat /shared/sub/f > $r',
      'grep " /shared " /proc/mounts >> $r',
      'touch /shared/x 2>/dev/null || echo read-only >> $r',
      'test -e /absent && echo absent-exists >> $r',
      'echo . >> $r',
      'exec sleep 1000',
    ].join('\n'));
    const cd = await d.startBundle(id, bundle);
    assert.ok(cd > 0);
    const seen = await report(join(out, `${id}.dyn`));
    assert.match(seen, /^from the host$/m);
    assert.match(seen, /^\S+ \/shared \S+ ro[, ]/m, seen);
    assert.match(seen, /^read-only$/m);
    assert.doesNotMatch(seen, /absent-exists/);
    const ids = (path: string): string => { const st = statSync(path); return `${st.uid}:${st.gid}`; };
    assert.equal(ids(owned), '1:1');
    assert.equal(ids(join(owned, 'deep', 'g')), '1:1', 'recursive');
    assert.equal(ids(single), '65534:0', 'the group defaults to the container user\'s (root here)');
    await d.stop(cd, id);
    assert.deepEqual(hostMounts(), []);
  });

  test('StartFromSpec: a loop mount of the spec is the storage plugin\'s, owned by the container\'s user', async () => {
    const specImage = join(images, 'spec.img');
    assert.equal((await run('/sbin/mke2fs', ['-q', '-t', 'ext4', '-F', specImage, '4M'])).code, 0);
    const id = scratch.id('spec');
    const script = 'r=/out/$(hostname).mounts; grep " /data " /proc/mounts > $r; echo "uid $(id -u)" >> $r; ls -lnd /data >> $r; echo hi > /data/mine && cat /data/mine >> $r; echo . >> $r; exec sleep 1000';
    const cd = await d.startSpec(id, {
      version: '1.0', args: ['sh', '-c', script], user: { uid: 1000, gid: 1000 }, memLimit: 41943040,
      mounts: [
        { source: specImage, destination: '/data', type: 'loop', fstype: 'ext4', options: ['nosuid', 'nodev'] },
        { source: out, destination: '/out', type: 'bind', options: ['bind', 'rw'] },
      ],
    });
    assert.ok(cd > 0);
    const seen = await seenMounts(id);
    assert.match(seen, /^\/dev\/loop\d+ \/data ext4 rw,nosuid,nodev/, seen);
    const uid = /^uid (\d+)$/m.exec(seen)?.[1];
    assert.ok(uid !== undefined, seen);
    assert.match(seen, new RegExp(`^drwx.* ${uid} +${uid} .* /data$`, 'm'), 'the image root is the container user\'s');
    assert.match(seen, /^hi$/m, 'the container\'s user writes to its image');
    await d.stop(cd, id);
    await assertNothingLeft(specImage, id);
  });

  test('bad data fails the start with the field named, required or not, and leaves nothing', async () => {
    const badImage = join(images, 'bad', 'never.img');
    for (const [field, bad] of [
      ['storage.data.loopback[0].imgsize', { loopback: [{ source: badImage, destination: '/data', imgsize: 'big' }] }],
      ['storage.data.loopback[0].destination', { loopback: [{ source: badImage, destination: '/data/../etc' }] }],
      ['storage.data.dynamic[0].flags', { dynamic: [{ source: '/tmp', destination: '/t', flags: 1 << 30 }] }],
    ] as const) {
      const id = scratch.id('bad');
      assert.equal(await d.startBundle(id, await storageBundle(id, bad, 'exec sleep 1000', false)), -1);
      const failed = await d.event(id, 'start-failed');
      assert.match(String(failed.args[9]), new RegExp(field.replace(/[[\].]/g, '\\$&')), String(failed.args[9]));
      assert.ok(!existsSync(badImage), 'an image was made from bad data');
      assert.ok(!existsSync(join(out, `${id}.mounts`)));
      await assertNothingLeft(badImage, id);
    }
  });

  test('a required storage plugin that fails at postConstruction fails the start; an optional one logs and carries on', async () => {
    const missing = join(images, 'missing.img');
    const unmanaged = { loopback: [{ source: missing, destination: '/data', fstype: 'ext4', imgmanagement: false }] };
    const id = scratch.id('req');
    assert.equal(await d.startBundle(id, await storageBundle(id, unmanaged)), -1);
    assert.match(String((await d.event(id, 'start-failed')).args[9]), /postConstruction hook of plugin 'storage' failed: .*storage\.data\.loopback\[0\]\.source/);
    await assertNothingLeft(missing, id);

    const id2 = scratch.id('opt');
    const cd = await d.startBundle(id2, await storageBundle(id2, unmanaged, 'exec sleep 1000', false));
    assert.ok(cd > 0);
    assert.equal(await seenMounts(id2), '', 'no /data mount without the plugin');
    const storage = (await d.info(id2)).plugins.find((p) => p.name === 'storage');
    assert.deepEqual(storage?.hooks.map((h) => `${h.hook}:${h.ok}`), ['postConstruction:false', 'preStart:true', 'postStart:true']);
    await d.stop(cd, id2);
    await assertNothingLeft(missing, id2);
  });

  test('a start that fails after the image was mounted (crun create fails) leaves no loop device or mount', async () => {
    const id = scratch.id('nocreate');
    const bundle = await storageBundle(id, data);
    const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { process: { args: string[] } };
    config.process.args = ['/no/such/program'];
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(config));
    assert.equal(await d.startBundle(id, bundle), -1);
    const failed = String((await d.event(id, 'start-failed')).args[9]);
    assert.doesNotMatch(failed, /storage/, 'the plugin itself did its part');
    assert.match(failed, /no\/such\/program/);
    await assertNothingLeft(image, id);
  });
});
