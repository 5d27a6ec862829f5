// The oomcrash and minidump plugins through a real dobbyd on a test bus, with real crun and
// cgroups: an OOM-killed container leaves oom_crashed_<id>.txt in the marker directory (which it
// sees read-only) and its exit is reported as an OOM kill, a clean exit leaves none; a container
// writing a minidump to $BREAKPAD_FD and crashing leaves <id><#=#><time>.dmp in the dump directory.
// Both from Dobby-format bundles and from StartFromSpec's rdkPlugins; bad data fails the start.

import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { makeBundle, writeConfig } from '../helpers/bundle.ts';
import { pluginDaemon, report } from '../helpers/plugin-daemon.ts';
import { makeScratch } from '../helpers/scratch.ts';

const scratch = makeScratch();
// Spec containers run as a mapped uid: the dirs they see must be reachable by it.
const shared = mkdtempSync('/tmp/dobby-oom-dump-');
chmodSync(shared, 0o777);
after(() => rmSync(shared, { recursive: true, force: true }));
const oomDir = join(shared, 'oom');
const dumps = join(shared, 'dumps');
const out = join(shared, 'out');
mkdirSync(dumps);
mkdirSync(out);
chmodSync(out, 0o777);
const d = pluginDaemon(scratch);

const EATER = ['/bin/dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1'];

async function bundleWith(id: string, args: readonly string[], rdkPlugins: Record<string, unknown>, memoryLimit?: number): Promise<string> {
  const options = { args, init: true, hostname: id, ...(memoryLimit === undefined ? {} : { memoryLimit }) };
  const bundle = await makeBundle(join(scratch.bundlesDir, id), options);
  await writeConfig(bundle, options, (c) => {
    (c['mounts'] as unknown[]).push({ destination: '/out', type: 'bind', source: out, options: ['bind', 'rw'] });
    c['rdkPlugins'] = rdkPlugins;
  });
  return bundle;
}

const exitedEvent = async (id: string): Promise<{ signal: number; oomKilled: boolean }> => {
  const e = await d.event(id, 'exited');
  return { signal: Number(e.args[5]), oomKilled: e.args[7] === true };
};

describe('oomcrash through dobbyd', { concurrency: false }, () => {
  const plugin = { oomcrash: { required: true, dependsOn: [], data: { path: oomDir } } };

  test('an OOM kill leaves the marker and is reported as one; the directory is read-only inside', async () => {
    const id = scratch.id('oom');
    assert.ok(await d.startBundle(id, await bundleWith(id, EATER, plugin, 16 * 1024 * 1024)) > 0);
    await d.stopped(id);
    assert.deepEqual(await exitedEvent(id), { signal: 9, oomKilled: true });
    assert.ok(existsSync(join(oomDir, `oom_crashed_${id}.txt`)), 'no OOM marker');
    assert.equal(readFileSync(join(oomDir, `oom_crashed_${id}.txt`), 'utf8'), '');
  });

  test('a clean exit leaves no marker and removes a stale one; the container sees the directory read-only', async () => {
    const id = scratch.id('clean');
    writeFileSync(join(oomDir, `oom_crashed_${id}.txt`), '');
    const script = `grep " ${oomDir} " /proc/mounts > /out/${id}; touch ${oomDir}/x 2>/dev/null || echo read-only >> /out/${id}; echo . >> /out/${id}`;
    assert.ok(await d.startBundle(id, await bundleWith(id, ['/bin/sh', '-c', script], plugin)) > 0);
    const seen = await report(join(out, id));
    assert.match(seen, new RegExp(`^\\S+ ${oomDir} \\S+ ro,nosuid,nodev,noexec`, 'm'), seen);
    assert.match(seen, /^read-only$/m);
    await d.stopped(id);
    assert.deepEqual(await exitedEvent(id), { signal: 0, oomKilled: false });
    assert.ok(!existsSync(join(oomDir, `oom_crashed_${id}.txt`)), 'a marker after a clean exit');
  });

  test('StartFromSpec: rdkPlugins.oomcrash with memLimit; the OOM kill leaves the marker', async () => {
    const id = scratch.id('spec-oom');
    const cd = await d.startSpec(id, {
      version: '1.0', args: EATER, user: { uid: 1000, gid: 1000 }, memLimit: 16 * 1024 * 1024,
      rdkPlugins: { oomcrash: { required: true, data: { path: oomDir } } },
    });
    assert.ok(cd > 0);
    await d.stopped(id);
    assert.equal((await exitedEvent(id)).oomKilled, true);
    assert.ok(existsSync(join(oomDir, `oom_crashed_${id}.txt`)));
  });

  test('bad data fails the start naming the field, even for an optional plugin; no directory is made', async () => {
    const id = scratch.id('oom-bad');
    const never = join(shared, 'never');
    for (const [data, field] of [[{ path: 5 }, 'oomcrash.data.path'], [{ path: never, extra: 1 }, null], [{}, 'oomcrash.data.path']] as const) {
      const cid = `${id}-${field === null ? 'warn' : String(Object.keys(data).length)}`;
      const cd = await d.startBundle(cid, await bundleWith(cid, ['/bin/true'], { oomcrash: { required: false, data } }));
      if (field === null) {
        // An unknown field is only a warning: the container runs.
        assert.ok(cd > 0);
        await d.stopped(cid);
        assert.match(d.daemon().stderr() + d.daemon().stdout(), /oomcrash\.data\.extra is not an option of this plugin/);
        rmSync(never, { recursive: true, force: true });
        continue;
      }
      assert.equal(cd, -1);
      assert.match(String((await d.event(cid, 'start-failed')).args[9]), new RegExp(field.replace(/\./g, '\\.')));
    }
    assert.ok(!existsSync(never));
  });
});

describe('minidump through dobbyd', { concurrency: false }, () => {
  const plugin = { minidump: { required: true, dependsOn: [], data: { destinationPath: dumps } } };
  const crasher = (id: string) => ['/bin/sh', '-c', `echo "fd=$BREAKPAD_FD" > /out/${id}; echo . >> /out/${id}; eval "printf 'MDMP-a-minidump' >&$BREAKPAD_FD"; kill -SEGV $$`];
  const dumpsOf = (id: string): string[] => readdirSync(dumps).filter((n) => n.startsWith(`${id.slice(0, 20)}<#=#>`));

  test('a crash after writing to $BREAKPAD_FD leaves <id><#=#><time>.dmp with what was written', async () => {
    const id = scratch.id('dump');
    assert.ok(await d.startBundle(id, await bundleWith(id, crasher(id), plugin)) > 0);
    assert.equal(await report(join(out, id)), 'fd=3');
    await d.stopped(id);
    assert.equal((await exitedEvent(id)).signal, 11);
    const files = dumpsOf(id);
    assert.equal(files.length, 1, readdirSync(dumps).join(', '));
    assert.match(files[0]!, /^.{1,20}<#=#>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.dmp$/);
    assert.equal(readFileSync(join(dumps, files[0]!), 'utf8'), 'MDMP-a-minidump');
    assert.deepEqual(readdirSync(join(d.stateDir, 'minidump')), [], 'the buffer is removed');
  });

  test('a container that writes nothing leaves no dump; nor does one that writes no minidump', async () => {
    const id = scratch.id('nodump');
    assert.ok(await d.startBundle(id, await bundleWith(id, ['/bin/sh', '-c', 'exit 0'], plugin)) > 0);
    await d.stopped(id);
    const id2 = scratch.id('junk');
    assert.ok(await d.startBundle(id2, await bundleWith(id2, ['/bin/sh', '-c', 'eval "echo junk >&$BREAKPAD_FD"; exit 1'], plugin)) > 0);
    await d.stopped(id2);
    assert.deepEqual([...dumpsOf(id), ...dumpsOf(id2)], []);
    assert.match(d.daemon().stderr() + d.daemon().stdout(), /not a minidump \(no MDMP header\); not copied/);
  });

  test('StartFromSpec: rdkPlugins.minidump; the dump of a crash is collected', async () => {
    const id = scratch.id('spec-dump');
    const cd = await d.startSpec(id, {
      version: '1.0', args: crasher(id), user: { uid: 1000, gid: 1000 }, memLimit: 41943040,
      mounts: [{ source: out, destination: '/out', type: 'bind', options: ['bind', 'rw'] }],
      rdkPlugins: { minidump: { required: true, data: { destinationPath: dumps } } },
    });
    assert.ok(cd > 0);
    await d.stopped(id);
    const files = dumpsOf(id);
    assert.equal(files.length, 1);
    assert.equal(readFileSync(join(dumps, files[0]!), 'utf8'), 'MDMP-a-minidump');
  });

  test('a daemon killed while the container runs: the next one collects the dump', async () => {
    const id = scratch.id('dump-adopt');
    const go = join(out, `go-${id}`);
    const script = `while [ ! -e /out/go-${id} ]; do sleep 0.1; done; eval "printf 'MDMP-after-restart' >&$BREAKPAD_FD"; kill -SEGV $$`;
    assert.ok(await d.startBundle(id, await bundleWith(id, ['/bin/sh', '-c', script], plugin)) > 0);
    await d.restart('SIGKILL');
    writeFileSync(go, '');
    await d.stopped(id);
    const files = dumpsOf(id);
    assert.equal(files.length, 1, readdirSync(dumps).join(', '));
    assert.equal(readFileSync(join(dumps, files[0]!), 'utf8'), 'MDMP-after-restart');
    assert.ok(!existsSync(join(d.stateDir, 'minidump', `${id}.buffer`)));
  });

  test('bad data fails the start naming the field; no buffer is left', async () => {
    const id = scratch.id('dump-bad');
    assert.equal(await d.startBundle(id, await bundleWith(id, ['/bin/true'], { minidump: { data: { destinationPath: 'relative/dir' } } })), -1);
    assert.match(String((await d.event(id, 'start-failed')).args[9]), /minidump\.data\.destinationPath/);
    assert.ok(!existsSync(join(d.stateDir, 'minidump', `${id}.buffer`)));
  });
});
