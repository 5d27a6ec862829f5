// Converted configs really run under crun on this host (skipped unless root with crun and tini-static).
// needs: root crun

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { specText } from './helpers.ts';
import { crunScratch, crunSkip as skip, ran, type CrunScratch } from './crun-run.ts';

let scratch: CrunScratch | undefined;
before(async () => {
  if (skip === false) scratch = await crunScratch('spec-smoke');
});
after(async () => scratch?.close());

async function run(extra: Record<string, unknown>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return ran(await scratch!.run(specText(extra)));
}

describe('converted specs under crun', { skip }, () => {
  test('args, env, cwd and the user namespace', async () => {
    const r = await run({
      args: ['sh', '-c', 'echo "$FOO|$(pwd)|$(id -u):$(id -g)|$HOME|$(ulimit -n)"; cat /proc/self/uid_map'],
      env: ['FOO=bar baz'], cwd: '/home/private', user: { uid: 1000, gid: 1000 },
    });
    assert.equal(r.status, 0, r.stderr);
    const [line, map] = r.stdout.split('\n');
    assert.equal(line, 'bar baz|/home/private|0:0|/home/private|1024');
    assert.match(map!, /^\s*0\s+1000\s+1$/);
  });

  test('every listed capability, in every set', async () => {
    const r = await run({ args: ['grep', '^Cap', '/proc/self/status'], capabilities: ['CAP_NET_RAW', 'net_broadcast'] });
    assert.equal(r.status, 0, r.stderr);
    // AUDIT_WRITE (29), KILL (5), NET_BIND_SERVICE (10), NET_BROADCAST (11), NET_RAW (13)
    for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) assert.match(r.stdout, new RegExp(`${set}:\\s+0000000020002c20`));
  });

  test('no user namespace: the spec user', async () => {
    const r = await run({ args: ['id', '-u'], userNs: false, user: { uid: 1000, gid: 1001 } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), '1000');
  });

  test('the default seccomp profile refuses namespace games', async () => {
    const r = await run({ args: ['sh', '-c', 'unshare -U true 2>/dev/null; echo $?'] });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), '1');
  });

  test('exit codes pass through the init; a signal death is 128+N', async () => {
    assert.equal((await run({ args: ['sh', '-c', 'exit 7'] })).status, 7);
    assert.equal((await run({ args: ['sh', '-c', 'kill -TERM $$'] })).status, 128 + 15);
  });

  test('mounts, /etc files and host networking for "open"', async () => {
    const r = await run({
      args: ['sh', '-c', 'cat /etc/hosts /etc/hostname; ls /data >/dev/null && echo data-ok; test -e /sys/class && echo sys || echo nosys'],
      etc: { hosts: ['127.0.0.1 localhost'] }, network: 'open',
      mounts: [
        { source: '/etc/hostname', destination: '/etc/hostname', type: 'bind', options: ['bind', 'ro'] },
        { source: '/var/tmp', destination: '/data', type: 'bind', options: ['rbind', 'ro'] },
      ],
    });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0], '127.0.0.1 localhost');
    assert.deepEqual(lines.slice(2), ['data-ok', 'nosys']);
  });
});
