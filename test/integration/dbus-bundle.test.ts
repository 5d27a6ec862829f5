// StartFromBundle over D-Bus with real crun, conmon and a private bus: per-launch overrides through
// launch configs, Dobby bundles without DobbyInit on the host, bundle reuse, console sinks, and bad
// bundles refused with -1 and nothing left behind.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { filter, firstValueFrom, ReplaySubject, timeout } from 'rxjs';
import type { LifecycleEvent, LifecycleEventType } from '../../src/bus.ts';
import { consoleLogPath } from '../../src/actors/container-actors.ts';
import { CONTAINER_INIT, realCgroupProbe } from '../../src/daemon.ts';
import { DOBBY_INIT, PLACED_INIT_NAME } from '../../src/drivers/bundles/launch-config.ts';
import { LaunchConfigs } from '../../src/drivers/bundles/launch-configs.ts';
import { SpecBundles } from '../../src/drivers/bundles/spec-bundles.ts';
import { ConmonMonitor } from '../../src/drivers/monitor/conmon-monitor.ts';
import { readConsoleLog } from '../../src/drivers/monitor/console-log.ts';
import { ConsoleSinks } from '../../src/drivers/monitor/console-follower.ts';
import { FileContainerRecords } from '../../src/drivers/records/container-records.ts';
import { OciCliRuntime } from '../../src/drivers/runtime/oci-cli-runtime.ts';
import { silentLogger } from '../../src/log.ts';
import { createContainerManager } from '../../src/manager.ts';
import { PluginRegistry } from '../../src/plugins/registry.ts';
import { HookHint } from '../../src/plugins/types.ts';
import { makeBundle, writeConfig, type BundleOptions } from '../helpers/bundle.ts';
import { makeScratch } from '../helpers/scratch.ts';
import { warningLog } from '../helpers/warnings.ts';
import { call, serve, startWithFd, testBus, type TestBus } from '../api/harness.ts';
import { createLoggingPlugin } from '../../src/plugins/logging.ts';

const scratch = makeScratch();
const dirs = scratch.dirs('crun');
const daemonDir = join(scratch.dir, 'crun', 'daemon');
const configsDir = join(daemonDir, 'configs');
const recordsDir = join(daemonDir, 'containers');
const runtime = new OciCliRuntime({ binary: 'crun', root: dirs.runtimeRoot });
const monitor = new ConmonMonitor({ runtime, stateDir: dirs.stateDir });
/** The daemon's warnings, to see what it says it did instead. */
const { logger: warningLogger, warnings, warned } = warningLog();

// As on a host without DobbyInit: this machine has one, and tests must not touch the host.
const manager = createContainerManager({
  runtime,
  monitor,
  cgroups: realCgroupProbe,
  records: new FileContainerRecords(recordsDir),
  specBundles: new SpecBundles({ dir: join(scratch.dir, 'crun', 'spec-bundles'), initPath: CONTAINER_INIT }),
  launchConfigs: new LaunchConfigs({ dir: configsDir, containerInit: CONTAINER_INIT, hostDobbyInit: null }),
  stateDir: daemonDir,
  // The built-in logging plugin checks the data; the console sinks do its work.
  plugins: testPlugins(),
  stopGraceMs: 2_000,
  killWaitMs: 5_000,
  logger: warningLogger,
});
/** Host side of the additions plugin: a file whose fd it passes in, a dir it mounts. */
const pluginFile = join(scratch.dir, 'plugin-fd.txt');
const pluginDir = join(scratch.dir, 'plugin-dir');
const pluginFds = new Map<string, number>();

function testPlugins(): PluginRegistry {
  const registry = new PluginRegistry();
  registry.register(createLoggingPlugin());
  // Adds what Dobby's postConstruction hooks may add: env, an fd (after the caller's), a mount.
  registry.register({
    name: 'h2additions',
    hookHints: HookHint.PostConstructionSync | HookHint.PreDestructionSync,
    postConstruction: (ctx, state) => {
      const fd = openSync(pluginFile, 'r');
      pluginFds.set(ctx.id, fd);
      const inside = state.addFileDescriptor('h2additions', fd);
      state.addEnvironmentVariable(`PLUGIN_FD=${inside}`);
      state.addEnvironmentVariable('FROM_PLUGIN=yes');
      state.addMount({ destination: '/tmp/plugin', type: 'bind', source: pluginDir, options: ['bind', 'ro'] });
    },
    preDestruction: (ctx) => {
      const fd = pluginFds.get(ctx.id);
      if (fd !== undefined) closeSync(fd);
      pluginFds.delete(ctx.id);
    },
  }, 'dbus-bundle.test');
  return registry;
}

const events = new ReplaySubject<LifecycleEvent>();
const subscription = manager.events$.subscribe((e) => events.next(e));
after(async () => {
  await manager.shutdown({ force: true, timeoutMs: 20_000 });
  subscription.unsubscribe();
  manager.close();
  monitor.close();
});

const next = (id: string, type: LifecycleEventType, ms = 15_000): Promise<LifecycleEvent> =>
  firstValueFrom(events.pipe(filter((e) => e.id === id && e.type === type), timeout(ms)));

const SH = '/bin/sh';

async function bundle(id: string, options: BundleOptions, edit?: (config: Record<string, unknown>) => void): Promise<string> {
  const path = await makeBundle(join(scratch.bundlesDir, id), { init: true, ...options });
  if (edit !== undefined) await writeConfig(path, { init: true, ...options }, edit);
  return path;
}

const replyOf = (reply: string): number => Number(/^i (-?\d+)$/.exec(reply)?.[1]);

async function startBundle(address: string, signature: string, ...args: string[]): Promise<number> {
  return replyOf(await call(address, 'ctrl1', 'StartFromBundle', signature, ...args));
}

/** Runs a container to its end and returns what it printed (through the monitor's log). */
async function outputOf(id: string, cd: number): Promise<string> {
  assert.ok(cd > 0, `start of ${id} replied ${cd}`);
  await next(id, 'deleted');
  return readConsoleLog(consoleLogPath(daemonDir, id));
}

async function cgroupDirsNamed(id: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const path = join(dir, e.name);
      if (e.name === id) found.push(path);
      else if (depth > 0) await walk(path, depth - 1);
    }
  };
  await walk('/sys/fs/cgroup', 3);
  return found;
}

async function conmonsOf(id: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    const args = cmdline.split('\0');
    if (args[0]?.endsWith('conmon') && args.includes(id)) pids.push(Number(name));
  }
  return pids;
}

/** Nothing of a refused start: no launch config, no record, no runtime state, no cgroup, no mount, no conmon. */
async function assertNothingLeft(id: string): Promise<void> {
  assert.equal(manager.findById(id), undefined, 'no container');
  assert.deepEqual(existsSync(configsDir) ? readdirSync(configsDir).filter((n) => n.startsWith(id)) : [], [], 'no launch config');
  assert.deepEqual(existsSync(recordsDir) ? readdirSync(recordsDir).filter((n) => n.startsWith(id)) : [], [], 'no record');
  assert.equal(existsSync(join(dirs.runtimeRoot, id)), false, 'no runtime state');
  assert.deepEqual(await cgroupDirsNamed(id), [], 'no cgroup');
  assert.doesNotMatch(readFileSync('/proc/self/mountinfo', 'utf8'), new RegExp(id), 'no mount');
  assert.deepEqual(await conmonsOf(id), [], 'no conmon');
  for (const sub of ['exits', 'pids', 'persist']) {
    assert.deepEqual(readdirSync(join(dirs.stateDir, sub)).filter((n) => n.startsWith(id)), [], `monitor ${sub}/`);
  }
}

describe('StartFromBundle with real crun', { concurrency: 4 }, () => {
  let bus: TestBus | undefined;
  let address = '';
  before(async () => {
    bus = await testBus();
    address = bus.address;
    await serve({ manager, address });
  });
  after(async () => bus?.stop());

  test('ssah: the bundle runs as it is, with no launch config', async () => {
    const id = scratch.id('plain');
    const path = await bundle(id, { args: [SH, '-c', 'echo "plain $(hostname)"'] });
    const cd = await startBundle(address, 'ssah', id, path, '0');
    assert.ok(cd > 0);
    assert.equal(existsSync(join(configsDir, `${id}.json`)), false, 'nothing to override: no launch config');
    assert.equal(await outputOf(id, cd), 'plain dobby-test\n');
  });

  test('ssahssas: command and env reach the container (the command runs under an init)', async () => {
    const id = scratch.id('cmd');
    const path = await bundle(id, { args: [SH, '-c', 'echo original'] });
    const cd = await startBundle(address, 'ssahssas', id, path, '0', 'env', '', '2', 'DOBBY_A=one', 'DOBBY_B=two');
    const out = await outputOf(id, cd);
    assert.doesNotMatch(out, /original/);
    assert.match(out, /^DOBBY_A=one$/m);
    assert.match(out, /^DOBBY_B=two$/m);
    assert.match(out, /^PATH=/m, 'the config env is kept');
    assert.equal(existsSync(join(configsDir, `${id}.json`)), false, 'the launch config went with the container');
  });

  test('ssahssasuu: userId/groupId map the container user in a user namespace (seen inside)', async () => {
    const id = scratch.id('uid');
    const path = await bundle(id, { args: [SH, '-c', 'true'] });
    const cd = await startBundle(address, 'ssahssasuu', id, path, '0', 'sh -c id;cat${IFS}/proc/self/uid_map${IFS}/proc/self/gid_map', '', '0', '1234', '2345');
    const out = await outputOf(id, cd);
    assert.match(out, /uid=0 gid=0/);
    assert.match(out, /^\s*0\s+1234\s+1$/m);
    assert.match(out, /^\s*0\s+2345\s+1$/m);
  });

  test('ssahssasuu with ids 0: no mapping; a running container shows its env and host uid', async () => {
    const id = scratch.id('uid0');
    const path = await bundle(id, { args: ['/bin/sleep', '100'] });
    const cd = await startBundle(address, 'ssahssasuu', id, path, '0', '', '', '1', 'DOBBY_X=1', '0', '0');
    assert.ok(cd > 0);
    const pid = manager.get(cd)?.pid;
    assert.ok(typeof pid === 'number');
    assert.match(readFileSync(`/proc/${pid}/status`, 'utf8'), /^Uid:\s+0\s/m);
    assert.notDeepEqual(await cgroupDirsNamed(id), [], 'the cgroup check of the bad-input cases finds a live container');
    assert.equal((await conmonsOf(id)).length, 1, 'and so does the conmon check');
    const launch = JSON.parse(readFileSync(join(configsDir, `${id}.json`), 'utf8')) as { linux: Record<string, unknown> };
    assert.equal(launch.linux['uidMappings'], undefined);
    // GetOCIConfig shows the config the container runs with, not the bundle's.
    const shown = JSON.parse(JSON.parse((await call(address, 'debug1', 'GetOCIConfig', 'i', String(cd))).slice(2)) as string) as { process: { env: string[] } };
    assert.ok(shown.process.env.includes('DOBBY_X=1'), JSON.stringify(shown.process.env));
    assert.equal(await call(address, 'ctrl1', 'Stop', 'ib', String(cd), 'true'), 'b true');
    await next(id, 'deleted');
    assert.equal(existsSync(join(configsDir, `${id}.json`)), false);
  });

  test('westeros socket: bind-mounted at /tmp/westeros with WAYLAND_DISPLAY and XDG_RUNTIME_DIR', async () => {
    const id = scratch.id('wst');
    const socket = join(scratch.dir, `${id}.sock`);
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      const path = await bundle(id, { args: [SH, '-c', 'test -S /tmp/westeros && echo "socket $WAYLAND_DISPLAY $XDG_RUNTIME_DIR"'] });
      const cd = await startBundle(address, 'ssahssas', id, path, '0', '', socket, '0');
      assert.equal(await outputOf(id, cd), 'socket westeros /tmp\n');
      // A socket that is not there: refused before anything is made.
      const bad = scratch.id('wst');
      const badPath = await bundle(bad, { args: ['/bin/true'] });
      assert.equal(await startBundle(address, 'ssahssas', bad, badPath, '0', '', join(scratch.dir, 'none.sock'), '0'), -1);
      await assertNothingLeft(bad);
    } finally {
      server.close();
    }
  });

  test("a plugin's postConstruction additions reach the container: env, a mount, and an fd after the caller's", async () => {
    const id = scratch.id('plug');
    writeFileSync(pluginFile, 'from the plugin fd');
    mkdirSync(pluginDir, { recursive: true });
    writeFileSync(join(pluginDir, 'hello.txt'), 'from the plugin mount');
    const callerFile = join(scratch.dir, `${id}.caller.txt`);
    writeFileSync(callerFile, 'from the caller fd');
    const script = 'cat <&3; echo; eval "cat <&$PLUGIN_FD"; echo; cat /tmp/plugin/hello.txt; echo; echo "fd $PLUGIN_FD env $FROM_PLUGIN"';
    const path = await bundle(id, { args: [SH, '-c', script] }, (config) => {
      config['rdkPlugins'] = { h2additions: { required: true, data: {} } };
    });
    const cd = await startWithFd(address, id, path, callerFile);
    assert.equal(await outputOf(id, cd), 'from the caller fd\nfrom the plugin fd\nfrom the plugin mount\nfd 4 env yes\n');
    assert.equal(pluginFds.has(id), false, 'the plugin closed its fd');
  });

  test('a Dobby bundle mounting /usr/libexec/DobbyInit runs on a host without one; TERM ends it as signal 15', async () => {
    const id = scratch.id('dinit');
    const path = await bundle(id, { args: [DOBBY_INIT, '/bin/sleep', '100'], init: false }, (config) => {
      (config['mounts'] as unknown[]).push({ destination: DOBBY_INIT, type: 'bind', source: DOBBY_INIT, options: ['bind', 'ro', 'nosuid', 'nodev'] });
    });
    // The mount point, as bundles made for Dobby carry it.
    mkdirSync(join(path, 'rootfs', 'usr', 'libexec'), { recursive: true });
    writeFileSync(join(path, 'rootfs', DOBBY_INIT), '');
    const before = readFileSync(join(path, 'config.json'));
    const cd = await startBundle(address, 'ssah', id, path, '0');
    assert.ok(cd > 0);
    const launch = JSON.parse(readFileSync(join(configsDir, `${id}.json`), 'utf8')) as { mounts: { destination: string; source: string }[]; process: { args: string[] } };
    assert.equal(launch.mounts.find((m) => m.destination === DOBBY_INIT)?.source, CONTAINER_INIT);
    assert.equal(launch.process.args[0], DOBBY_INIT);
    assert.ok(warned(id, /this host has no \/usr\/libexec\/DobbyInit: the bundle's mount of it uses \/usr\/bin\/tini-static instead/));
    const pid = manager.get(cd)!.pid!;
    // `crun start` returns once it has let the container go; its init may still be crun's own process for a moment.
    const argv0 = () => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
    for (let i = 0; i < 100 && argv0() !== DOBBY_INIT; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(argv0(), DOBBY_INIT);
    assert.equal(await call(address, 'ctrl1', 'Stop', 'ib', String(cd), 'false'), 'b true');
    const exited = await next(id, 'exited');
    assert.ok(exited.type === 'exited' && exited.signal === 15, JSON.stringify(exited));
    await next(id, 'deleted');
    assert.deepEqual(readFileSync(join(path, 'config.json')), before);
    assert.equal(statSync(join(path, 'rootfs', DOBBY_INIT)).size, 0, 'the rootfs is not written to');
  });

  test('a Dobby bundle with no DobbyInit anywhere: the init goes into the /dev tmpfs, nothing is written into the rootfs', async () => {
    const id = scratch.id('dinit2');
    const path = await bundle(id, { args: [DOBBY_INIT, SH, '-c', 'echo "init is $(readlink /proc/1/exe), I am $$"'], init: false });
    const rootfsBefore = readdirSync(join(path, 'rootfs')).sort();
    const cd = await startBundle(address, 'ssah', id, path, '0');
    assert.equal(await outputOf(id, cd), `init is /dev/${PLACED_INIT_NAME}, I am 2\n`);
    assert.deepEqual(readdirSync(join(path, 'rootfs')).sort(), rootfsBefore);
  });

  test('the same bundle starts twice in a row and twice at once with different overrides; config.json stays byte-identical', async () => {
    const id = scratch.id('reuse');
    const path = await bundle(id, { args: [SH, '-c', 'echo "run $RUN"'] });
    const before = readFileSync(join(path, 'config.json'));
    const listing = readdirSync(path).sort();
    const first = scratch.id('reuse');
    assert.equal(await outputOf(first, await startBundle(address, 'ssahssas', first, path, '0', '', '', '1', 'RUN=1')), 'run 1\n');
    const second = scratch.id('reuse');
    assert.equal(await outputOf(second, await startBundle(address, 'ssahssas', second, path, '0', '', '', '1', 'RUN=2')), 'run 2\n');
    const [a, b] = [scratch.id('reuse'), scratch.id('reuse')];
    const both = await Promise.all([
      startBundle(address, 'ssahssas', a, path, '0', 'sleep 1', '', '1', 'RUN=a'),
      startBundle(address, 'ssahssas', b, path, '0', 'sleep 1', '', '1', 'RUN=b'),
    ]);
    assert.ok(both.every((cd) => cd > 0), `both concurrent starts ran: ${both.join(', ')}; warnings: ${JSON.stringify(warnings.filter((w) => w.containerId === a || w.containerId === b))}`);
    const launches = [a, b].map((x) => JSON.parse(readFileSync(join(configsDir, `${x}.json`), 'utf8')) as { process: { env: string[] } });
    assert.ok(launches[0]!.process.env.includes('RUN=a') && launches[1]!.process.env.includes('RUN=b'));
    await Promise.all([next(a, 'deleted'), next(b, 'deleted')]);
    assert.deepEqual(readFileSync(join(path, 'config.json')), before, 'config.json is byte-identical');
    assert.deepEqual(readdirSync(path).sort(), listing, 'nothing added to the bundle dir');
  });

  test('a Dobby bundle with rdkPlugins: hostname becomes the id; the file sink holds the raw text and stops at its limit', async () => {
    const id = scratch.id('rdk');
    const sink = join(scratch.dir, `${id}.console.log`);
    writeFileSync(sink, 'left from an earlier run, must be truncated\n');
    const script = 'hostname; i=0; while [ $i -lt 50 ]; do echo "line $i of the console"; i=$((i+1)); done; echo done >&2';
    const path = await bundle(id, { args: [SH, '-c', script] }, (config) => {
      config['ociVersion'] = '1.0.2-dobby';
      config['rdkPlugins'] = { logging: { required: false, dependsOn: [], data: { sink: 'file', fileOptions: { path: sink, limit: 200 } } } };
    });
    const cd = await startBundle(address, 'ssah', id, path, '0');
    const full = await outputOf(id, cd);
    assert.ok(full.startsWith(`${id}\nline 0 of the console\n`), full.slice(0, 80));
    const written = readFileSync(sink);
    assert.equal(written.length, 200, 'exactly the limit');
    assert.equal(written.toString(), full.slice(0, 200), 'the raw text, no timestamps');
  });

  test('the file sink without a limit keeps everything, stderr included', async () => {
    const id = scratch.id('rdk');
    const sink = join(scratch.dir, `${id}.console.log`);
    const path = await bundle(id, { args: [SH, '-c', 'echo out; echo err >&2'] }, (config) => {
      config['rdkPlugins'] = { logging: { data: { sink: 'file', fileOptions: { path: sink, limit: -1 } } } };
    });
    await outputOf(id, await startBundle(address, 'ssah', id, path, '0'));
    assert.equal(readFileSync(sink, 'utf8'), 'out\nerr\n');
  });

  test('the devnull sink keeps no file at all', async () => {
    const id = scratch.id('null');
    const path = await bundle(id, { args: [SH, '-c', 'echo nobody hears this'] }, (config) => {
      config['rdkPlugins'] = { logging: { required: true, data: { sink: 'devnull' } } };
    });
    const cd = await startBundle(address, 'ssah', id, path, '0');
    assert.ok(cd > 0);
    await next(id, 'deleted');
    assert.equal(existsSync(consoleLogPath(daemonDir, id)), false);
  });

  test('journald where the host has none: kept in the monitor log (not required), -1 when required', async () => {
    const id = scratch.id('jrnl');
    const path = await bundle(id, { args: [SH, '-c', 'echo to the journal'] }, (config) => {
      config['rdkPlugins'] = { logging: { required: false, data: { sink: 'journald' } } };
    });
    assert.equal(await outputOf(id, await startBundle(address, 'ssah', id, path, '0')), 'to the journal\n');
    if (!existsSync('/run/systemd/journal/socket')) {
      assert.ok(warned(id, /journald is not running on this host .*kept in .* instead/), JSON.stringify(warnings.filter((w) => w.containerId === id)));
    }
    const required = scratch.id('jrnl');
    const requiredPath = await bundle(required, { args: [SH, '-c', 'echo x'] }, (config) => {
      config['rdkPlugins'] = { logging: { required: true, data: { sink: 'journald' } } };
    });
    const journald = existsSync('/run/systemd/journal/socket');
    const cd = await startBundle(address, 'ssah', required, requiredPath, '0');
    if (journald) assert.ok(cd > 0);
    else {
      assert.equal(cd, -1);
      await assertNothingLeft(required);
    }
  });

  test("a spec's console {path, limit} goes to that file as raw text, capped", async () => {
    const id = scratch.id('spec');
    const sink = join(scratch.dir, `${id}.console.log`);
    const spec = JSON.stringify({
      version: '1.0', args: ['sh', '-c', 'echo "from the spec"; echo second line'], user: { uid: 1000, gid: 1000 }, memLimit: 41943040,
      console: { path: sink, limit: 20 },
    });
    const cd = replyOf(await call(address, 'ctrl1', 'StartFromSpec', 'ssah', id, spec, '0'));
    assert.ok(cd > 0);
    await next(id, 'deleted');
    assert.equal(readFileSync(sink, 'utf8'), 'from the spec\nsecond');
  });

  test('StartFromSpec (ssahssas): command and env go through the same launch config', async () => {
    const id = scratch.id('spec');
    const spec = JSON.stringify({ version: '1.0', args: ['sh', '-c', 'echo spec-args'], user: { uid: 1000, gid: 1000 }, memLimit: 41943040 });
    const cd = replyOf(await call(address, 'ctrl1', 'StartFromSpec', 'ssahssas', id, spec, '0', 'env', '', '1', 'SPEC_EXTRA=yes'));
    const out = await outputOf(id, cd);
    assert.doesNotMatch(out, /spec-args/);
    assert.match(out, /^SPEC_EXTRA=yes$/m);
  });

  describe('bad bundles: -1 and nothing left behind', () => {
    /** Each case: how to make the bad bundle, and what the error must say. */
    const cases: [string, (id: string) => Promise<string>, RegExp][] = [
      ['no config.json', async (id) => {
        const dir = join(scratch.bundlesDir, id);
        mkdirSync(join(dir, 'rootfs'), { recursive: true });
        return dir;
      }, /no config\.json file found in/],
      ['rootfs missing', async (id) => bundle(id, { args: ['/bin/true'] }, (c) => { c['root'] = { path: join(scratch.bundlesDir, id, 'no-rootfs') }; }),
        /the rootfs '.*no-rootfs' \(root\.path .*\) does not exist/],
      ['malformed JSON', async (id) => {
        const path = await bundle(id, { args: ['/bin/true'] });
        writeFileSync(join(path, 'config.json'), '{"ociVersion": "1.0.0", "process": ');
        return path;
      }, /config\.json is not valid JSON/],
      ['a JSON array', async (id) => {
        const path = await bundle(id, { args: ['/bin/true'] });
        writeFileSync(join(path, 'config.json'), '[]');
        return path;
      }, /must hold a JSON object/],
      ['relative path', async (id) => { await bundle(id, { args: ['/bin/true'] }); return `tmp/${id}`; }, /must be absolute/],
      ['.. tricks', async (id) => { const path = await bundle(id, { args: ['/bin/true'] }); return `${path}/rootfs/../../${id}`; }, /must not contain '\.' or '\.\.' components/],
      ['.. out of the tree', async () => '/tmp/../etc', /must not contain '\.' or '\.\.' components; give '\/etc'/],
      ['DobbyInit with nowhere to place it', async (id) => bundle(id, { args: [DOBBY_INIT, '/bin/true'], init: false }, (c) => {
        c['mounts'] = [{ destination: '/proc', type: 'proc', source: 'proc' }];
      }), /no tmpfs where dobbyd could place its init/],
      ['a bad logging plugin', async (id) => bundle(id, { args: ['/bin/true'] }, (c) => {
        c['rdkPlugins'] = { logging: { data: { sink: 'file', fileOptions: { path: 'relative.log' } } } };
      }), /rdkPlugins\.logging\.data\.fileOptions\.path must be an absolute host path/],
      ['a file sink in a missing directory', async (id) => bundle(id, { args: ['/bin/true'] }, (c) => {
        c['rdkPlugins'] = { logging: { data: { sink: 'file', fileOptions: { path: join(scratch.dir, 'no-such-dir', 'c.log') } } } };
      }), /console log file '.*no-such-dir\/c\.log' cannot be written: its directory does not exist/],
      ['a required journald sink on a host without journald', async (id) => bundle(id, { args: ['/bin/true'] }, (c) => {
        c['rdkPlugins'] = { logging: { required: true, data: { sink: 'journald' } } };
      }), existsSync('/run/systemd/journal/socket') ? /^$/ : /asks for the journald sink, but journald is not running on this host/],
      ['a runtime that refuses the config', async (id) => bundle(id, { args: ['/no/such/binary'], init: false }), /no\/such\/binary|No such file/],
    ];
    for (const [label, make, message] of cases) {
      test(label, async (t) => {
        if (message.source === '^$') return t.skip('this host runs journald');
        const id = scratch.id('bad');
        const path = await make(id);
        const cd = await startBundle(address, 'ssahssas', id, path, '0', '', '', '1', 'A=1');
        assert.equal(cd, -1, label);
        await sleep(50);
        await assertNothingLeft(id);
        // The same through the manager, to see the error the D-Bus reply cannot carry.
        await assert.rejects(manager.start({ id, bundle: path, env: ['A=1'] }), (err: Error) => {
          assert.match(err.message, message);
          return true;
        });
        await sleep(50);
        await assertNothingLeft(id);
      });
    }
  });
});

describe('console sinks across a daemon restart', () => {
  test('a daemon that comes back follows the file sink again; the sink ends as if it had never gone', async () => {
    const stateDir = join(scratch.dir, 'crun', 'daemon-restart');
    const make = () => {
      const m = new ConmonMonitor({ runtime, stateDir: dirs.stateDir });
      const sinks = new ConsoleSinks({ dir: join(stateDir, 'configs') });
      const mgr = createContainerManager({
        runtime, monitor: m, cgroups: realCgroupProbe, records: new FileContainerRecords(join(stateDir, 'containers')),
        launchConfigs: new LaunchConfigs({ dir: join(stateDir, 'configs'), hostDobbyInit: null }),
        consoleSinks: sinks, logger: silentLogger(), stateDir, stopGraceMs: 1_000, killWaitMs: 5_000,
      });
      return { manager: mgr, monitor: m, sinks };
    };
    const id = scratch.id('restart');
    const sink = join(scratch.dir, `${id}.console.log`);
    const path = await bundle(id, { args: [SH, '-c', 'i=0; while [ $i -lt 40 ]; do echo "tick $i"; i=$((i+1)); sleep 0.05; done; sleep 100'] }, (config) => {
      config['rdkPlugins'] = { logging: { data: { sink: 'file', fileOptions: { path: sink, limit: 4096 } } } };
    });
    const first = make();
    const descriptor = await first.manager.start({ id, bundle: path });
    for (let i = 0; i < 200 && !readFileSync(sink, 'utf8').includes('tick 3\n'); i++) await sleep(20);
    // The daemon goes away; the container and conmon stay.
    first.manager.close();
    first.monitor.close();
    await first.sinks.detachAll();
    const atRestart = readFileSync(sink, 'utf8');
    assert.doesNotMatch(atRestart, /tick 39/);
    await sleep(2_500);
    assert.equal(readFileSync(sink, 'utf8'), atRestart, 'nobody fed the sink while no daemon ran');
    const second = make();
    try {
      second.manager.adopt(id, descriptor);
      const expected = Array.from({ length: 40 }, (_, i) => `tick ${i}\n`).join('');
      for (let i = 0; i < 250 && readFileSync(sink, 'utf8') !== expected; i++) await sleep(20);
      assert.equal(readFileSync(sink, 'utf8'), expected);
      const gone = firstValueFrom(second.manager.events$.pipe(filter((e) => e.id === id && e.type === 'deleted'), timeout(15_000)));
      await second.manager.stop(descriptor, true);
      await gone;
      assert.deepEqual(readdirSync(join(stateDir, 'configs')).filter((n) => n.startsWith(id)), [], 'launch config and sink plan are gone');
    } finally {
      await second.manager.shutdown({ force: true, timeoutMs: 10_000 });
      second.manager.close();
      second.monitor.close();
    }
  });
});
