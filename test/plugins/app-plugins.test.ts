// The ipc, localtime and rtscheduling plugins' hooks without a container: what they add to the start
// state from real host files and sockets, and rtscheduling over a fake host (a capped limit, a
// cgroup without real-time budget, a refused SCHED_RR). The real effects are in test/integration.

import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DobbyError } from '../../src/errors.ts';
import type { RtBudget, RtScheduler } from '../../src/drivers/sched/rt-scheduler.ts';
import { silentLogger } from '../../src/log.ts';
import { createIpcPlugin, socketPathOf } from '../../src/plugins/ipc/plugin.ts';
import { createLocalTimePlugin } from '../../src/plugins/localtime/plugin.ts';
import { ensureMountPoint } from '../../src/plugins/mount-point.ts';
import { createRtSchedulingPlugin } from '../../src/plugins/rtscheduling/plugin.ts';
import { createStartState } from '../../src/plugins/start-state.ts';
import type { DobbyPlugin, HookContext } from '../../src/plugins/types.ts';

const dir = mkdtempSync(join(tmpdir(), 'dobby-app-plugins-'));
const servers: Server[] = [];
after(async () => {
  for (const s of servers) await new Promise((resolve) => s.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

async function listening(path: string): Promise<string> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return path;
}

function ctx(data: unknown, rootfs = join(dir, 'rootfs')): HookContext {
  mkdirSync(rootfs, { recursive: true });
  return { id: 'c1', rootfs, data, logger: silentLogger(), signal: new AbortController().signal };
}

async function construct(plugin: DobbyPlugin, context: HookContext) {
  const state = createStartState(0);
  const view = state.forHook(plugin.name);
  await plugin.postConstruction!(context, view);
  view.seal();
  return state.additions;
}

describe('ipc', () => {
  test('socketPathOf: the path of the first unix:path entry, unescaped; null for abstract and tcp addresses', () => {
    assert.equal(socketPathOf('unix:path=/run/dbus/system_bus_socket'), '/run/dbus/system_bus_socket');
    assert.equal(socketPathOf('unix:path=/tmp/a%20b,guid=0123'), '/tmp/a b');
    assert.equal(socketPathOf('tcp:host=x,port=1;unix:path=/s'), '/s');
    assert.equal(socketPathOf('unix:abstract=/tmp/dbus-x'), null);
    assert.equal(socketPathOf(undefined), null);
  });

  test('each bus: a bind mount of its host socket at /var/run/dbus/<bus>_bus_socket and its env var; the mount point is made', async () => {
    const system = await listening(join(dir, 'system.sock'));
    const session = await listening(join(dir, 'session.sock'));
    const plugin = createIpcPlugin({ systemBus: system });
    const context = ctx({ system: 'system', session });
    const added = await construct(plugin, context);
    assert.deepEqual(added.mounts, [
      { source: system, destination: '/var/run/dbus/system_bus_socket', type: 'bind', options: ['bind', 'nodev', 'nosuid', 'noexec'] },
      { source: session, destination: '/var/run/dbus/session_bus_socket', type: 'bind', options: ['bind', 'nodev', 'nosuid', 'noexec'] },
    ]);
    assert.deepEqual(added.env, [
      'SKY_DBUS_DISABLE_UID_IN_EXTERNAL_AUTH=1',
      'DBUS_SYSTEM_BUS_ADDRESS=unix:path=/var/run/dbus/system_bus_socket',
      'DBUS_SESSION_BUS_ADDRESS=unix:path=/var/run/dbus/session_bus_socket',
    ]);
    assert.ok(lstatSync(join(context.rootfs, 'var/run/dbus/session_bus_socket')).isFile());
  });

  test('an AI bus is used once set; a missing or non-socket host path fails before anything is added', async () => {
    const ai = await listening(join(dir, 'ai.sock'));
    const plugin = createIpcPlugin();
    assert.deepEqual((await construct(plugin, ctx({ debug: 'ai-private' }))).mounts, []);
    assert.equal(plugin.setAiBus('ai-private', 'unix:abstract=/x'), false);
    assert.equal(plugin.setAiBus('ai-private', `unix:path=${ai}`), true);
    assert.deepEqual((await construct(plugin, ctx({ debug: 'ai-private' }))).mounts.map((m) => m.source), [ai]);

    writeFileSync(join(dir, 'plain-file'), '');
    for (const [path, why] of [[join(dir, 'absent.sock'), /does not exist/], [join(dir, 'plain-file'), /is not a socket/]] as const) {
      const state = createStartState(0);
      await assert.rejects(async () => plugin.postConstruction!(ctx({ system: ai, session: path }), state.forHook('ipc')), (err: unknown) => {
        assert.ok(err instanceof DobbyError);
        assert.match(err.message, /ipc\.data\.session \(host socket\)/);
        assert.match(err.message, why);
        return true;
      });
      assert.deepEqual(state.additions.mounts, []);
      assert.deepEqual(state.additions.env, []);
    }
  });
});

describe('localtime', () => {
  test('the zone behind the link, read-only at the same path; TZ from the first line of setTZ', async () => {
    mkdirSync(join(dir, 'zoneinfo'), { recursive: true });
    writeFileSync(join(dir, 'zoneinfo', 'Zone'), 'TZif2 zone data');
    symlinkSync(join(dir, 'zoneinfo', 'Zone'), join(dir, 'localtime'));
    writeFileSync(join(dir, 'tz'), 'CET-1\r\nrest\n');
    const context = ctx({ path: join(dir, 'localtime'), setTZ: join(dir, 'tz') });
    const added = await construct(createLocalTimePlugin(), context);
    assert.deepEqual(added.mounts, [{ source: join(dir, 'zoneinfo', 'Zone'), destination: join(dir, 'localtime'), type: 'bind', options: ['bind', 'ro', 'nosuid', 'nodev', 'noexec'] }]);
    assert.deepEqual(added.env, ['TZ=CET-1']);
  });

  test('a broken link, a directory, a file that is no zone file fail naming localtime.data.path; a first line that is no TZ value, setTZ', async () => {
    symlinkSync(join(dir, 'nowhere'), join(dir, 'broken'));
    writeFileSync(join(dir, 'secret'), 'root:$y$j9T$hash:19000:0:99999:7:::\n');
    for (const [path, why] of [[join(dir, 'broken'), /does not exist/], [dir, /not a zone file/], [join(dir, 'secret'), /not a zone file \(TZif\)/]] as const) {
      await assert.rejects(async () => construct(createLocalTimePlugin(), ctx({ path })), (err: unknown) => {
        assert.ok(err instanceof DobbyError && /^container 'c1': localtime\.data\.path/.test(err.message), String(err));
        assert.match(err.message, why);
        return true;
      });
    }
    await assert.rejects(async () => construct(createLocalTimePlugin(), ctx({ path: join(dir, 'localtime'), setTZ: join(dir, 'secret') })),
      /localtime\.data\.setTZ is \S+secret, whose first line is not a TZ value/);
  });
});

describe('ensureMountPoint', () => {
  test('makes what is missing; never goes through a symlink (it may point out of the rootfs)', async () => {
    const rootfs = join(dir, 'mp-rootfs');
    const outside = join(dir, 'outside');
    mkdirSync(join(rootfs, 'etc'), { recursive: true });
    mkdirSync(outside);
    symlinkSync(outside, join(rootfs, 'var'));
    await ensureMountPoint(rootfs, '/var/run/dbus/system_bus_socket', 'file');
    assert.deepEqual(readdirSync(outside), [], 'something was made through the symlink');
    await ensureMountPoint(rootfs, '/etc/x/y', 'file');
    await ensureMountPoint(rootfs, '/etc/d', 'directory');
    assert.ok(lstatSync(join(rootfs, 'etc/x/y')).isFile());
    assert.ok(lstatSync(join(rootfs, 'etc/d')).isDirectory());
    await ensureMountPoint(rootfs, '/etc/x/y', 'file'); // already there: left as it is
  });
});

describe('rtscheduling over a fake host', () => {
  function fakeHost(ceiling: number | null, budget: RtBudget | null, refuse = false) {
    const calls: string[] = [];
    const scheduler: RtScheduler = {
      rtprioCeiling: async () => ceiling,
      rtBudget: async () => budget,
      setRtBudget: async (b, us) => void calls.push(`budget ${b.file} ${us}`),
      setRoundRobin: async (pid, prio) => {
        if (refuse) throw new DobbyError('HOST_UNSUITABLE', `could not put pid ${pid} under SCHED_RR priority ${prio}: Operation not permitted`);
        calls.push(`rr ${pid} ${prio}`);
      },
    };
    return { scheduler, calls };
  }

  test('the limit as asked where the host allows; capped at the host\'s where not; a zero budget gets 1000 us; init under SCHED_RR', async () => {
    const free = fakeHost(null, { file: '/cg/cpu.rt_runtime_us', runtimeUs: 0 });
    const plugin = createRtSchedulingPlugin({ scheduler: free.scheduler });
    assert.deepEqual((await construct(plugin, ctx({ rtlimit: 12, rtdefault: 9 }))).rlimits, [{ type: 'RLIMIT_RTPRIO', soft: 12, hard: 12 }]);
    await plugin.preStart!({ ...ctx({ rtlimit: 12, rtdefault: 9 }), pid: 42 });
    assert.deepEqual(free.calls, ['budget /cg/cpu.rt_runtime_us 1000', 'rr 42 9']);

    const capped = fakeHost(2, { file: '/cg/cpu.rt_runtime_us', runtimeUs: 5000 });
    const cappedPlugin = createRtSchedulingPlugin({ scheduler: capped.scheduler });
    assert.deepEqual((await construct(cappedPlugin, ctx({}))).rlimits, [{ type: 'RLIMIT_RTPRIO', soft: 2, hard: 2 }]);
    await cappedPlugin.preStart!({ ...ctx({}), pid: 7 });
    assert.deepEqual(capped.calls, ['rr 7 6'], 'a budget the container already has is kept');
  });

  test('a refused SCHED_RR fails preStart with the reason', async () => {
    const refusing = fakeHost(null, null, true);
    await assert.rejects(async () => createRtSchedulingPlugin({ scheduler: refusing.scheduler }).preStart!({ ...ctx({ rtdefault: 4 }), pid: 9 }),
      /SCHED_RR priority 4: Operation not permitted/);
  });
});
