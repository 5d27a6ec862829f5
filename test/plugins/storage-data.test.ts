// The storage plugin's data: Dobby's names, types and defaults; a bad field is an error naming it,
// an unknown one a warning.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DobbyError } from '../../src/errors.ts';
import { DEFAULT_IMAGE_SIZE, DEFAULT_XFS_IMAGE_SIZE, parseStorageData } from '../../src/plugins/storage/data.ts';

function refuses(data: unknown, pattern: RegExp): void {
  assert.throws(() => parseStorageData(data), (err: unknown) => {
    assert.ok(err instanceof DobbyError && err.code === 'INVALID_ARGUMENT', String(err));
    assert.match(err.message, pattern);
    return true;
  });
}

test('Dobby\'s README example: defaults for everything not given', () => {
  const { data, warnings } = parseStorageData({ loopback: [{ destination: '/home/private', flags: 14, fstype: 'ext4', source: '/tmp/data/data.img' }] });
  assert.deepEqual(warnings, []);
  assert.deepEqual(data.loopback[0], {
    source: '/tmp/data/data.img', destination: '/home/private', fstype: 'ext4', options: [], persistent: true,
    imgsize: DEFAULT_IMAGE_SIZE, imgmanagement: true,
    flags: { all: ['nosuid', 'nodev', 'noexec'], perMount: ['nosuid', 'nodev', 'noexec'], bind: false, recursive: false },
  });
  assert.deepEqual(data.dynamic, []);
  assert.deepEqual(data.mountOwner, []);
  assert.equal(parseStorageData({ loopback: [{ source: '/a.img', destination: '/a', fstype: 'XFS' }] }).data.loopback[0]!.imgsize, DEFAULT_XFS_IMAGE_SIZE);
});

test('dynamic mounts and mount owners with their defaults', () => {
  const { data } = parseStorageData({
    dynamic: [{ source: '/opt/x', destination: '/x', flags: 4096 | 16384 | 1, options: ['mode=755'] }],
    mountOwner: [{ source: '/opt/x' }, { source: '/opt/y', user: 'app', group: '1000', recursive: true }],
  });
  assert.deepEqual(data.dynamic[0]!.flags, { all: ['ro'], perMount: ['ro'], bind: true, recursive: true });
  assert.deepEqual(data.dynamic[0]!.options, ['mode=755']);
  assert.deepEqual(data.mountOwner, [
    { source: '/opt/x', user: null, group: null, recursive: false },
    { source: '/opt/y', user: 'app', group: '1000', recursive: true },
  ]);
});

test('unknown fields are warnings naming them', () => {
  const { warnings } = parseStorageData({ loopback: [{ source: '/a.img', destination: '/a', size: 3 }], tunnel: true });
  assert.equal(warnings.length, 2);
  assert.match(warnings[0]!, /^storage\.data\.tunnel is not an option/);
  assert.match(warnings[1]!, /^storage\.data\.loopback\[0\]\.size is not an option/);
});

test('bad data is an error naming the field', () => {
  refuses(null, /^storage\.data is missing/);
  refuses([], /^storage\.data is an array; it must be an object/);
  refuses({ loopback: {} }, /^storage\.data\.loopback is an object; it must be an array/);
  refuses({ loopback: [3] }, /^storage\.data\.loopback\[0\] is 3; it must be an object/);
  refuses({ loopback: [{ destination: '/a' }] }, /^storage\.data\.loopback\[0\]\.source is missing/);
  refuses({ loopback: [{ source: 'rel.img', destination: '/a' }] }, /loopback\[0\]\.source is "rel\.img"; it must be an absolute host path/);
  refuses({ loopback: [{ source: '/a.img', destination: '/x/../etc' }] }, /loopback\[0\]\.destination '\.\.' is not allowed/);
  refuses({ loopback: [{ source: '/a.img', destination: '/' }] }, /loopback\[0\]\.destination is \//);
  refuses({ loopback: [{ source: '/a.img', destination: '/a', imgsize: '12M' }] }, /loopback\[0\]\.imgsize is "12M"; it must be a whole number from 1 to 2147483647/);
  refuses({ loopback: [{ source: '/a.img', destination: '/a', imgsize: 2 ** 31 }] }, /loopback\[0\]\.imgsize/);
  refuses({ loopback: [{ source: '/a.img', destination: '/a', persistent: 'yes' }] }, /loopback\[0\]\.persistent is "yes"; it must be true or false/);
  refuses({ loopback: [{ source: '/a.img', destination: '/a', flags: 1.5 }] }, /loopback\[0\]\.flags is 1\.5/);
  refuses({ loopback: [{ source: '/a.img', destination: '/a', flags: 32 }] }, /loopback\[0\]\.flags is 32, with bits 0x20/);
  refuses({ loopback: [{ source: '/a.img', destination: '/a', fstype: 'vfat' }] }, /loopback\[0\]\.fstype is "vfat", which the image manager cannot make/);
  refuses({ loopback: [{ source: '/a.img', destination: '/a', options: ['a,b'] }] }, /loopback\[0\]\.options\[0\] is "a,b"/);
  refuses({ loopback: [{ source: '/a.img', destination: '/a' }], dynamic: [{ source: '/b', destination: '/a/' }] }, /dynamic\[0\]\.destination '\/a' is already the destination of loopback\[0\]/);
  refuses({ mountOwner: [{ source: '/b', user: 'x y' }] }, /mountOwner\[0\]\.user is "x y"/);
  refuses({ mountOwner: [{ source: '/b', recursive: 1 }] }, /mountOwner\[0\]\.recursive is 1/);
});

test('an image Dobby does not manage may be any filesystem', () => {
  const { data } = parseStorageData({ loopback: [{ source: '/a.img', destination: '/a', fstype: 'squashfs', imgmanagement: false }] });
  assert.equal(data.loopback[0]!.fstype, 'squashfs');
});
