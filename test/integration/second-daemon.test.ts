// A second dobbyd on the same state dir or the same bus name refuses to start with a clear message and disturbs
// nothing of the first; a lock left by a dead daemon (or naming a pid reused since) is taken over.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BusClient } from '../../src/api/cli/bus-client.ts';
import { makeBundle } from '../helpers/bundle.ts';
import { runDobbyd, startDobbyd, type DobbydProcess } from '../helpers/dobbyd-process.ts';
import { makeScratch } from '../helpers/scratch.ts';

const scratch = makeScratch();
const DEST = { destination: 'org.rdk.dobby', path: '/org/rdk/dobby' };

async function ctrl(address: string, member: string, signature = '', body: (string | number | boolean | never[])[] = []) {
  const client = await BusClient.connect(address);
  try {
    return await client.call({ ...DEST, interface: member === 'Ping' ? 'org.rdk.dobby.admin1' : 'org.rdk.dobby.ctrl1', member, signature, body });
  } finally {
    client.close();
  }
}

describe('a second dobbyd', () => {
  let first: DobbydProcess | undefined;
  let descriptor = 0;
  const stateDir = join(scratch.dir, 'first');
  after(async () => {
    await first?.stop();
  });
  before(async () => {
    first = await startDobbyd(stateDir);
    const id = scratch.id('keep');
    const bundle = await makeBundle(join(scratch.bundlesDir, id), { init: true, args: ['/bin/sleep', '1000'] });
    const reply = await ctrl(first.address, 'StartFromBundle', 'ssah', [id, bundle, []]);
    descriptor = Number(reply.body[0]);
    assert.ok(descriptor > 0, `the first daemon started a container (${descriptor})`);
  });

  /** The first daemon is untouched: alive, answering, its container running, its lock its own. */
  async function firstIsFine(): Promise<void> {
    assert.ok(first!.alive());
    assert.deepEqual((await ctrl(first!.address, 'Ping')).body, []);
    assert.deepEqual((await ctrl(first!.address, 'GetState', 'i', [descriptor])).body, [2]);
    assert.match(readFileSync(join(stateDir, 'dobbyd.pid'), 'utf8'), new RegExp(`^${first!.pid} \\d+\\n$`));
  }

  test('on the same state dir: exits 1 naming the other daemon, its pid and the dir', async () => {
    const r = await runDobbyd(['--private-bus', '--state-dir', stateDir, '--log-level', 'warn']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`another dobbyd \\(pid ${first!.pid}\\) already uses the state dir ${stateDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}; stop it first or pass a different --state-dir`));
    assert.doesNotMatch(r.stdout, /DBUS_ADDRESS=/);
    await firstIsFine();
  });

  test('on the same bus name (another state dir, the first one\'s bus): exits 1 saying the name is owned', async () => {
    const other = join(scratch.dir, 'second');
    const r = await runDobbyd(['--dbus-address', first!.address, '--state-dir', other, '--log-level', 'warn']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /org\.rdk\.dobby is already owned on unix:path=.*: is another dobbyd or DobbyDaemon running\?/);
    assert.equal(existsSync(join(other, 'dobbyd.pid')), false, 'the refused daemon released its own lock');
    await firstIsFine();
  });

  test('two started at once on one fresh state dir: exactly one serves', async () => {
    const dir = join(scratch.dir, 'race');
    const both = await Promise.allSettled([startDobbyd(dir), startDobbyd(dir)]);
    const served = both.filter((r): r is PromiseFulfilledResult<DobbydProcess> => r.status === 'fulfilled');
    try {
      assert.equal(served.length, 1, both.map((r) => (r.status === 'rejected' ? String(r.reason).slice(0, 300) : 'served')).join('\n'));
      const refused = both.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      assert.match(String(refused.reason), /another dobbyd \(pid \d+\) already uses the state dir/);
    } finally {
      for (const s of served) await s.value.stop();
    }
  });

  test('a lock left by a daemon that died, or naming a pid now used by another process, is taken over', async () => {
    for (const [label, content] of [
      ['dead pid', '4194303 12345\n'],
      ['pid reused by another process (pid 1, another start time)', '1 1\n'],
      ['empty (written by an older version that died mid-write)', ''],
    ] as const) {
      const dir = join(scratch.dir, `stale-${label.split(' ')[0]}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'dobbyd.pid'), content);
      const d = await startDobbyd(dir);
      try {
        assert.deepEqual((await ctrl(d.address, 'Ping')).body, [], label);
        assert.match(readFileSync(join(dir, 'dobbyd.pid'), 'utf8'), new RegExp(`^${d.pid} \\d+\\n$`), label);
      } finally {
        assert.equal(await d.stop(), 0);
      }
      assert.equal(existsSync(join(dir, 'dobbyd.pid')), false, `${label}: the lock is removed on a clean exit`);
    }
  });
});
