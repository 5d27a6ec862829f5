// The storage driver on the host's real tools: images made with mke2fs and tagged with their
// owner, checked and repaired by e2fsck, refused when destroyed or someone else's; loop devices
// attached, mounted and detached by the kernel once their last mount goes (also when another mount
// namespace held the mount a moment longer). Files in a scratch dir.
// needs: root

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { run } from '../../src/drivers/process.ts';
import { ImageTools, OWNER_XATTR } from '../../src/drivers/storage/image-tools.ts';
import { hostStorage } from '../../src/drivers/storage/host-storage.ts';
import { makeScratch } from '../helpers/scratch.ts';

const scratch = makeScratch();
const driver = hostStorage();

async function sh(file: string, args: readonly string[]): Promise<string> {
  const r = await run(file, args);
  assert.equal(r.code, 0, `${file} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

describe('storage driver (real mke2fs, e2fsck, losetup, mount)', { concurrency: false }, () => {
  test('a made image carries its owner tag and passes the check', async () => {
    const image = join(scratch.dir, 'made.img');
    assert.deepEqual(await driver.createImage(image, 1234, 4 * 1024 * 1024, 'ext4'), []);
    assert.equal(await sh('getfattr', ['--only-values', '-n', OWNER_XATTR, image]), '1234');
    assert.match(await sh('/sbin/dumpe2fs', ['-h', image]), /Block count:\s+\d+/);
    assert.deepEqual(await driver.checkImage(image, 1234, 'ext4'), { ok: true, repaired: false, notes: [] });
  });

  test('the check refuses a missing image, another owner\'s, an untagged one and a destroyed one; e2fsck repairs what it can', async () => {
    const image = join(scratch.dir, 'check.img');
    const missing = await driver.checkImage(image, 0, 'ext4');
    assert.ok(!missing.ok && /does not exist/.test(missing.reason));
    await driver.createImage(image, 7, 4 * 1024 * 1024, 'ext3');
    const other = await driver.checkImage(image, 8, 'ext3');
    assert.ok(!other.ok && /belongs to uid "7", not 8/.test(other.reason), JSON.stringify(other));
    await sh('debugfs', ['-w', '-R', 'ssv free_blocks_count 3', image]);
    const repaired = await driver.checkImage(image, 7, 'ext3');
    assert.deepEqual(repaired, { ok: true, repaired: true, notes: [] });
    await sh('setfattr', ['-x', OWNER_XATTR, image]);
    const untagged = await driver.checkImage(image, 7, 'ext3');
    assert.ok(!untagged.ok && /no user\.storage\.plugin owner tag/.test(untagged.reason));
    const zeros = join(scratch.dir, 'zeros.img');
    writeFileSync(zeros, Buffer.alloc(1024 * 1024));
    await new ImageTools().writeOwnerTag(zeros, 0);
    const destroyed = await driver.checkImage(zeros, 0, 'ext4');
    assert.ok(!destroyed.ok && /the filesystem check of .* failed \(exit 8/.test(destroyed.reason), JSON.stringify(destroyed));
  });

  test('a mkfs failure leaves no file; a tool that is not there is named', async () => {
    const image = join(scratch.dir, 'tiny.img');
    await assert.rejects(driver.createImage(image, 0, 1024, 'ext4'), /mkfs of .*tiny\.img \(ext4, 1024 bytes\) failed/);
    const r = await run('ls', [scratch.dir]);
    assert.doesNotMatch(r.stdout, /tiny\.img/);
    const noTools = hostStorage({ imageTools: { mke2fs: join(scratch.dir, 'no-mke2fs') } });
    await assert.rejects(noTools.createImage(image, 0, 4 << 20, 'ext4'), /no-mke2fs cannot be run \(ENOENT\)/);
  });

  test('a mounted loop device detached by us stays until its mount goes, then nothing is attached', async () => {
    const image = join(scratch.dir, 'loop.img');
    await driver.createImage(image, 0, 4 * 1024 * 1024, 'ext4');
    const target = join(scratch.dir, 'mnt');
    mkdirSync(join(target, 'inner'), { recursive: true });
    const device = await driver.attach(image);
    try {
      assert.deepEqual(await driver.attachedTo(image), [device]);
      await driver.mount({ device, target, fstype: 'ext4', options: ['nosuid', 'nodev'] });
      await driver.detach(device);
      assert.deepEqual(await driver.attachedTo(image), [device], 'detached while mounted: autoclear');
      assert.deepEqual(await driver.mountsUnder(target), [target]);
      assert.deepEqual(await driver.mountsUnder(scratch.dir), [target]);
    } finally {
      await driver.unmount(target).catch(() => undefined);
      await driver.detach(device).catch(() => undefined);
    }
    assert.deepEqual(await driver.mountsUnder(target), []);
    assert.deepEqual(await driver.attachedTo(image), []);
  });

  test('a device another mount namespace still holds after our unmount is reported detached only once that namespace lets go', async () => {
    const image = join(scratch.dir, 'held.img');
    await driver.createImage(image, 0, 4 * 1024 * 1024, 'ext4');
    const target = join(scratch.dir, 'heldmnt');
    mkdirSync(target);
    const device = await driver.attach(image);
    await driver.mount({ device, target, fstype: 'ext4', options: [] });
    await driver.detach(device);
    // As a container starting meanwhile does: its new mount namespace has a copy of our mount until it lets go.
    const holder = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'echo held; read line'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const gone = once(holder, 'exit');
    try {
      await once(holder.stdout, 'data');
      await driver.unmount(target);
      assert.deepEqual(await driver.attachedTo(image), [device], 'the other namespace still holds the device');
      const detached = driver.detach(device);
      holder.stdin.end();
      await detached;
      assert.deepEqual(await driver.attachedTo(image), []);
    } finally {
      holder.kill('SIGKILL');
      await gone;
      await driver.unmount(target).catch(() => undefined);
      await driver.detach(device).catch(() => undefined);
    }
  });

  test('a bad mount option fails the mount naming the tool\'s complaint', async () => {
    const image = join(scratch.dir, 'opt.img');
    await driver.createImage(image, 0, 4 * 1024 * 1024, 'ext4');
    const target = join(scratch.dir, 'optmnt');
    mkdirSync(target);
    const device = await driver.attach(image);
    try {
      await assert.rejects(driver.mount({ device, target, fstype: 'ext4', options: ['no_such_option_x'] }), /mounting \/dev\/loop\d+ \(ext4\) at .* failed/);
    } finally {
      await driver.detach(device);
    }
    assert.deepEqual(await driver.attachedTo(image), []);
  });
});
