// Ids, bundle paths and Mount/Unmount paths at a real dobbyd: nothing a caller passes escapes the state dir or
// reaches host paths it should not, every refusal is Dobby's failure value, and a refused call leaves nothing behind.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BusClient, type Reply } from '../../src/api/cli/bus-client.ts';
import type { WireValue } from '../../src/api/dbus/wire.ts';
import { run } from '../../src/drivers/process.ts';
import { makeBundle } from '../helpers/bundle.ts';
import { startDobbyd, type DobbydProcess } from '../helpers/dobbyd-process.ts';
import { RawBus } from '../helpers/raw-dbus.ts';
import { makeScratch } from '../helpers/scratch.ts';

const scratch = makeScratch();
const SPEC = JSON.stringify({ version: '1.0', args: ['sleep', '60'], user: { uid: 1000, gid: 1000 }, memLimit: 41943040 });

/** Every path under `dir` (the bus's socket dir left out: it changes by itself). */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      out.push(relative(dir, p));
      if (e.isDirectory() && !e.isSymbolicLink()) walk(p);
    }
  };
  walk(dir);
  return out.filter((p) => !p.startsWith('state/dbus')).sort();
}

describe('ids, bundle paths and mount paths at a real dobbyd', () => {
  let daemon: DobbydProcess | undefined;
  let client: BusClient | undefined;
  let bundle = '';
  const call = (iface: string, member: string, signature: string, body: readonly WireValue[]): Promise<Reply> =>
    client!.call({ destination: 'org.rdk.dobby', path: '/org/rdk/dobby', interface: `org.rdk.dobby.${iface}`, member, signature, body, timeoutMs: 30_000 });
  const list = async (): Promise<string[]> => (await call('ctrl1', 'List', '', [])).body[1] as string[];

  after(async () => {
    client?.close();
    await daemon?.stop();
  });
  before(async () => {
    daemon = await startDobbyd(join(scratch.dir, 'state'));
    client = await BusClient.connect(daemon.address);
    bundle = await makeBundle(join(scratch.bundlesDir, 'good'), { init: true, args: ['/bin/sleep', '1000'] });
  });

  const BAD_IDS = ['../x', '..', '.', 'a/b', '/abs', '/tmp/x', '', 'x'.repeat(129), 'y'.repeat(4096), 'a b', 'a\nb', 'a..b', '123', '-', 'é', 'a\u202eb', '$(id)'];

  test('bad ids: StartFromBundle, StartFromSpec and CreateBundle refuse them and nothing appears anywhere', async () => {
    const before = tree(scratch.dir);
    for (const id of BAD_IDS) {
      assert.deepEqual((await call('ctrl1', 'StartFromBundle', 'ssah', [id, bundle, []])).body, [-1], `StartFromBundle '${id}'`);
      assert.deepEqual((await call('ctrl1', 'StartFromSpec', 'ssah', [id, SPEC, []])).body, [-1], `StartFromSpec '${id}'`);
      assert.deepEqual((await call('ctrl1', 'Start', 'ssahssas', [id, SPEC, [], '', '', []])).body, [-1], `Start '${id}'`);
      assert.deepEqual((await call('debug1', 'CreateBundle', 'ss', [id, SPEC])).body, [false], `CreateBundle '${id}'`);
    }
    assert.deepEqual(await list(), []);
    assert.deepEqual(tree(scratch.dir), before, 'no file or directory was made for a refused id');
    assert.equal(existsSync('/abs'), false);
    assert.equal(existsSync(join(scratch.dir, 'x')), false);
  });

  test('an id NUL cannot even reach the daemon: the bus drops the sender, dobbyd is unaffected', async () => {
    const raw = await RawBus.connect(daemon!.address);
    const outcome = await raw.call({
      destination: 'org.rdk.dobby', path: '/org/rdk/dobby', interface: 'org.rdk.dobby.ctrl1', member: 'StartFromBundle', signature: 'ssah',
      body: ['nulQid', bundle, []], patches: [{ marker: 'nulQid', bytes: Buffer.from('nul\0id') }],
    }, 5_000);
    raw.close();
    assert.equal(outcome.kind, 'disconnected');
    assert.deepEqual((await call('admin1', 'Ping', '', [])).body, []);
    assert.deepEqual(await list(), []);
  });

  test('ids that look like options start a real container under exactly that id, or are refused cleanly', async () => {
    for (const id of ['-rf', '--help', '.hidden', '_x', 'a-', 'A.b_c-9']) {
      const before = tree(join(scratch.dir, 'state'));
      const cd = Number((await call('ctrl1', 'StartFromBundle', 'ssah', [id, bundle, []])).body[0]);
      if (cd > 0) {
        assert.deepEqual(await list(), [id], `${id} is listed under its own id`);
        assert.deepEqual((await call('ctrl1', 'GetState', 'i', [cd])).body, [2]);
        const stopped = new Promise<void>((resolve) => {
          const off = client!.onSignal((m) => {
            if (m.member === 'Stopped' && m.body[1] === id) {
              off();
              resolve();
            }
          });
        });
        await client!.addMatch("type='signal',interface='org.rdk.dobby.ctrl1',member='Stopped'");
        assert.deepEqual((await call('ctrl1', 'Stop', 'ib', [cd, true])).body, [true]);
        await stopped;
      }
      assert.deepEqual(await list(), [], `${id}: nothing listed after`);
      // The daemon's records and the runtime's dirs for the id are gone again (log files may stay; the
      // records dir itself is made by the first start).
      const left = (): string[] => tree(join(scratch.dir, 'state')).filter((p) => !before.includes(p) && !p.startsWith('logs') && p !== 'containers');
      for (let i = 0; i < 50 && left().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(left(), [], `${id}: nothing left in the state dir (started: ${cd > 0})`);
    }
  });

  test('bundle paths: relative, missing config.json, config.json a FIFO, a device, a directory or a symlink to a host file: -1, no hang', async () => {
    const dir = join(scratch.dir, 'odd');
    const make = (name: string, config: (path: string) => void): string => {
      const b = join(dir, name);
      mkdirSync(join(b, 'rootfs'), { recursive: true });
      config(join(b, 'config.json'));
      return b;
    };
    const cases: [string, string][] = [
      ['relative', relative(process.cwd(), bundle)],
      ['dot-relative', `./${relative(process.cwd(), bundle)}`],
      ['no config.json', make('empty', () => {})],
      ['config.json is a FIFO', make('fifo', (p) => void run('mkfifo', [p]))],
      ['config.json is /dev/zero', make('zero', (p) => symlinkSync('/dev/zero', p))],
      ['config.json is a directory', make('dir', (p) => mkdirSync(p))],
      ['config.json -> /etc/passwd', make('passwd', (p) => symlinkSync('/etc/passwd', p))],
      ['config.json is not JSON', make('garbage', (p) => writeFileSync(p, '{"ociVersion": '))],
      ['the state dir itself', join(scratch.dir, 'state')],
      ['/', '/'],
    ];
    await new Promise((r) => setTimeout(r, 200)); // mkfifo runs in the background
    for (const [label, path] of cases) {
      const id = scratch.id('path');
      const started = Date.now();
      assert.deepEqual((await call('ctrl1', 'StartFromBundle', 'ssah', [id, path, []])).body, [-1], label);
      assert.ok(Date.now() - started < 10_000, `${label}: answered without hanging`);
    }
    assert.deepEqual(await list(), []);
    assert.ok(statSync(join(dir, 'fifo', 'config.json')).isFIFO(), 'the FIFO was never opened for writing (nothing replaced it)');
  });

  describe('Mount and Unmount on a running container', () => {
    let cd = 0;
    let pid = 0;
    const host = join(scratch.dir, 'host-src');
    before(async () => {
      mkdirSync(host, { recursive: true });
      writeFileSync(join(host, 'f'), 'host file');
      const id = scratch.id('mnt');
      cd = Number((await call('ctrl1', 'StartFromBundle', 'ssah', [id, bundle.replace('/good', '/good'), []])).body[0]);
      assert.ok(cd > 0);
      const info = JSON.parse(String((await call('ctrl1', 'GetInfo', 'i', [cd])).body[0])) as { pids: number[] };
      pid = Math.min(...info.pids);
    });

    const mount = async (source: string, destination: string, flags: string[] = ['bind']): Promise<unknown> =>
      (await call('ctrl1', 'Mount', 'issass', [cd, source, destination, flags, ''])).body[0];
    const unmount = async (destination: string): Promise<unknown> => (await call('ctrl1', 'Unmount', 'is', [cd, destination])).body[0];
    const stillWhole = async (): Promise<void> => {
      assert.deepEqual((await call('ctrl1', 'GetState', 'i', [cd])).body, [2]);
      assert.ok(existsSync(`/proc/${pid}/root/bin/busybox`), "the container's root filesystem is still mounted");
    };

    test('sources and destinations that are not absolute, are / (however spelt) or do not exist are refused', async () => {
      const escaped = join(scratch.dir, 'escaped');
      for (const [source, destination] of [
        ['host-src', '/tmp/a'], ['', '/tmp/a'], [join(scratch.dir, 'no-such'), '/tmp/a'], ['/', '/tmp/a'], ['//', '/tmp/a'], ['/tmp/..', '/tmp/a'],
        [host, 'tmp/a'], [host, ''], [host, '/'], [host, '//'], [host, '/tmp/..'], [host, '/tmp/../..'], [host, '/.'],
        // `..` past the container's root stays inside it: this parent does not exist in the container, so no mount.
        [host, `/tmp/../../../..${escaped}/x`],
      ] as const) {
        assert.equal(await mount(source, destination), false, `Mount '${source}' -> '${destination}'`);
      }
      assert.equal(existsSync(escaped), false, 'nothing was created on the host');
      await stillWhole();
    });

    test("Unmount of / however spelt is refused: the container's root stays mounted", async () => {
      for (const destination of ['/', '//', '/.', '/tmp/..', '/tmp/../..', '/proc/../']) {
        assert.equal(await unmount(destination), false, `Unmount '${destination}'`);
        await stillWhole();
      }
    });

    test("a destination through the container's own /proc/1/root stays in the container", async () => {
      assert.equal(await mount(host, '/proc/1/root/tmp/via-proc'), true);
      assert.equal((await run('cat', [`/proc/${pid}/root/tmp/via-proc/f`])).stdout, 'host file');
      assert.equal(existsSync('/tmp/via-proc'), false, "not on the host's /tmp");
      assert.equal(await unmount('/tmp/via-proc'), true);
      await stillWhole();
    });
  });
});
