// Dobby specs over D-Bus with the real manager and crun: StartFromSpec (both arities), GetSpec,
// CreateBundle, and bad specs refused with -1 and nothing left behind.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { realManager, specBundlesDir } from '../helpers/manager.ts';
import { makeScratch } from '../helpers/scratch.ts';
import { call, serve, testBus, type TestBus } from '../api/harness.ts';

const scratch = makeScratch();
const real = realManager(scratch, 'crun', { stopGraceMs: 2_000 });
const bundlesDir = specBundlesDir(scratch, 'crun');

function spec(args: string[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ version: '1.0', args, user: { uid: 1000, gid: 1000 }, memLimit: 41943040, ...extra });
}

const leftBundles = (id: string) => (existsSync(bundlesDir) ? readdirSync(bundlesDir).filter((n) => n.startsWith(`${id}.`)) : []);

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
    assert.match(readFileSync(`/proc/${pid}/environ`, 'utf8'), /DOBBY_TEST_VAR=12345/);
    assert.match(readFileSync(`/proc/${pid}/status`, 'utf8'), /^Uid:\s+1000\s/m);
    const config = JSON.parse(await call(address, 'debug1', 'GetOCIConfig', 'i', String(cd)).then((r) => JSON.parse(r.slice(2)) as string)) as {
      process: { args: string[] };
    };
    assert.equal(config.process.args[0], '/usr/libexec/DobbyInit');
    assert.equal(await call(address, 'ctrl1', 'Stop', 'ib', String(cd), 'false'), 'b true');
    await real.next(id, 'deleted');
    assert.deepEqual(leftBundles(id), []);
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

  test('bad specs are refused with -1 and leave no bundle', async () => {
    const cases = [
      ['uid0', spec(['true'], { user: { uid: 0, gid: 0 } })],
      ['junk', 'this is not json'],
      ['swap', spec(['true'], { swapLimit: 1 })],
      ['cap', spec(['true'], { capabilities: ['CAP_NOT_A_THING'] })],
      ['dotdot', spec(['true'], { mounts: [{ source: '/tmp', destination: '/a/../../etc', type: 'bind', options: ['bind'] }] })],
    ];
    for (const [label, text] of cases) {
      const id = scratch.id(label);
      assert.equal(await call(address, 'ctrl1', 'StartFromSpec', 'ssah', id, text as string, '0'), 'i -1', label);
      assert.deepEqual(leftBundles(id), [], label);
      assert.equal(real.manager.findById(id), undefined);
    }
    // A valid spec with an invalid id: refused, and its bundle removed again.
    assert.equal(await call(address, 'ctrl1', 'StartFromSpec', 'ssah', '../escape', spec(['true']), '0'), 'i -1');
    for (const dir of [bundlesDir, join(bundlesDir, '..')]) {
      assert.deepEqual(existsSync(dir) ? readdirSync(dir).filter((n) => n.includes('escape')) : [], [], `left in ${dir}`);
    }
  });
});
