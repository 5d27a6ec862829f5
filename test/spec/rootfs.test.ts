// writeRootfs: builds the planned rootfs on disk, and refuses any path that would land outside it.

import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeRootfs } from '../../src/spec/index.ts';
import type { RootfsPlan } from '../../src/spec/index.ts';
import { DobbyError } from '../../src/errors.ts';
import { convert, corpusText } from './helpers.ts';

let scratch = '';
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'dobby-spec-rootfs-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function fresh(name: string): Promise<string> {
  const dir = join(scratch, name);
  await mkdir(dir);
  return dir;
}

/** Every entry under `dir`: its kind, mode, owner and, for a file, its contents. */
async function tree(dir: string, under = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(join(dir, under))).sort()) {
    const rel = under === '' ? name : `${under}/${name}`;
    const st = await lstat(join(dir, rel));
    out.push(`${rel} ${st.isDirectory() ? 'd' : 'f'} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}${st.isFile() ? ` ${await readFile(join(dir, rel), 'utf8')}` : ''}`);
    if (st.isDirectory()) out.push(...(await tree(dir, rel)));
  }
  return out;
}

describe('writeRootfs', () => {
  test('a fresh rootfs (made in one go, synchronously) is the same tree as one made beside existing files; it must not exist yet', async () => {
    for (const spec of ['etc.json', 'writable-rootfs.json', 'sleepy.json']) {
      const plan = convert(corpusText(spec)).rootfs;
      const slow = join(await fresh(`same-slow-${spec}`), 'rootfs');
      const quick = join(await fresh(`same-quick-${spec}`), 'rootfs');
      await writeRootfs(plan, slow);
      await writeRootfs(plan, quick, { fresh: true });
      assert.deepEqual(await tree(quick), await tree(slow), spec);
      await assert.rejects(writeRootfs(plan, quick, { fresh: true }), { code: 'EEXIST' });
    }
  });

  test('a writable rootfs belongs to the spec\'s user; a read-only one to root', { skip: process.getuid?.() !== 0 ? 'needs root to chown' : false }, async () => {
    const writable = convert(corpusText('writable-rootfs.json'));
    const rootfs = join(await fresh('writable'), 'rootfs');
    await writeRootfs(writable.rootfs, rootfs);
    for (const p of ['', 'home/private', 'etc', 'etc/passwd', 'proc']) {
      const st = await lstat(join(rootfs, p));
      assert.deepEqual([st.uid, st.gid], [1000, 1000], p === '' ? 'the rootfs itself' : p);
    }
    const readonly = join(await fresh('readonly'), 'rootfs');
    await writeRootfs(convert(corpusText('sleepy.json')).rootfs, readonly);
    for (const p of ['', 'home/private', 'etc/passwd']) assert.equal((await lstat(join(readonly, p))).uid, 0, p);
  });

  test('writes the etc corpus spec: directories, /etc files with contents, mount points', async () => {
    const c = convert(corpusText('etc.json'));
    const bundle = await fresh('etc');
    const rootfs = join(bundle, 'rootfs');
    await writeRootfs(c.rootfs, rootfs);
    for (const dir of ['proc', 'sys/fs/cgroup', 'home/private', 'etc/ssl/certs', 'usr', 'lib64']) {
      assert.ok((await stat(join(rootfs, dir))).isDirectory(), dir);
    }
    assert.equal(await readFile(join(rootfs, 'etc/passwd'), 'utf8'), 'root::0:0:root:/root:/bin/false\napp::30001:30000::/home/private:/bin/false\n');
    assert.equal(await readFile(join(rootfs, 'etc/ld.so.preload'), 'utf8'), '/usr/lib/libmemcr.so\n');
    assert.equal(await readFile(join(rootfs, 'etc/resolv.conf'), 'utf8'), '');
    assert.equal((await stat(join(rootfs, 'etc/hosts'))).mode & 0o777, 0o644);
  });

  test('file and directory mount points', async () => {
    const c = convert(corpusText('mounts.json'));
    const rootfs = join(await fresh('mounts'), 'rootfs');
    await writeRootfs(c.rootfs, rootfs);
    assert.ok((await stat(join(rootfs, 'etc/hostname'))).isFile());
    assert.ok((await stat(join(rootfs, 'data'))).isDirectory());
    assert.ok((await stat(join(rootfs, 'home/private/store'))).isDirectory());
    assert.deepEqual(await readdir(join(rootfs, 'usr')), [], 'nothing under the host /usr');
  });

  test('writing twice is fine (directories kept, files rewritten)', async () => {
    const c = convert(corpusText('sleepy.json'));
    const rootfs = join(await fresh('twice'), 'rootfs');
    await writeRootfs(c.rootfs, rootfs);
    await writeFile(join(rootfs, 'etc/passwd'), 'stale');
    await writeRootfs(c.rootfs, rootfs);
    assert.equal(await readFile(join(rootfs, 'etc/passwd'), 'utf8'), '');
  });

  const escapes: [string, RootfsPlan][] = [
    ['.. in a directory', { directories: ['../escape'], files: [] }],
    ['.. inside a path', { directories: ['etc/../../escape'], files: [] }],
    ['an absolute directory', { directories: ['/tmp/escape'], files: [] }],
    ['an absolute file', { directories: [], files: [{ path: '/etc/escape', contents: 'x', mode: 0o644 }] }],
    ['a file with ..', { directories: [], files: [{ path: '../escape', contents: 'x', mode: 0o644 }] }],
    ['an empty path', { directories: [''], files: [] }],
    ['a . component', { directories: ['./etc'], files: [] }],
    ['a NUL byte', { directories: ['etc\0x'], files: [] }],
  ];
  for (const [name, plan] of escapes) {
    test(`refuses ${name}, before writing anything`, async () => {
      const bundle = await fresh(`escape-${name.replace(/\W+/g, '-')}`);
      const rootfs = join(bundle, 'rootfs');
      await assert.rejects(writeRootfs({ directories: ['first', ...plan.directories], files: plan.files }, rootfs),
        (err: unknown) => err instanceof DobbyError && err.code === 'BUNDLE_INVALID' && /nothing may be written outside the rootfs/.test(err.message));
      assert.deepEqual(await readdir(bundle), [], 'no rootfs was created');
    });
  }

  test('refuses to write through a symlink in the rootfs', async () => {
    const bundle = await fresh('symlink');
    const outside = join(bundle, 'outside');
    const rootfs = join(bundle, 'rootfs');
    await mkdir(outside);
    await mkdir(rootfs);
    await symlink(outside, join(rootfs, 'etc'));
    await assert.rejects(writeRootfs({ directories: [], files: [{ path: 'etc/passwd', contents: 'x', mode: 0o644 }] }, rootfs),
      (err: unknown) => err instanceof DobbyError && /which is not a directory/.test(err.message));
    await symlink(join(outside, 'target'), join(rootfs, 'hosts'));
    await assert.rejects(writeRootfs({ directories: [], files: [{ path: 'hosts', contents: 'x', mode: 0o644 }] }, rootfs),
      (err: unknown) => err instanceof DobbyError && /is a symlink/.test(err.message));
    assert.deepEqual(await readdir(outside), []);
    assert.ok((await lstat(join(rootfs, 'hosts'))).isSymbolicLink());
  });
});
