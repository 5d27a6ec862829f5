// Real crun and runc under conmon: create, start, exits, signals, pause, exec, fds, OOM and failed creates.
// needs: root crun conmon

import assert from 'node:assert/strict';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { filter, firstValueFrom, timeout } from 'rxjs';
import { DobbyError } from '../../src/errors.ts';
import { exitStatusFromCode } from '../../src/exit-status.ts';
import { readConsoleLog } from '../../src/drivers/monitor/console-log.ts';
import { ConmonMonitor } from '../../src/drivers/monitor/conmon-monitor.ts';
import type { CreatedContainer, MonitorExit } from '../../src/drivers/monitor/types.ts';
import { readInitSignalState, takesSignal } from '../../src/drivers/runtime/init-signal.ts';
import { OciCliRuntime } from '../../src/drivers/runtime/oci-cli-runtime.ts';
import { run } from '../../src/drivers/process.ts';
import { makeBundle, writeConfig, type BundleOptions } from '../helpers/bundle.ts';
import { realMonitor } from '../helpers/manager.ts';
import { makeScratch, type Flavour } from '../helpers/scratch.ts';

const scratch = makeScratch();

/** Exits can take ~2 s here when a detached exec was left behind (see the exec test). */
const EXIT_TIMEOUT_MS = 10_000;

async function mustRun(file: string, args: readonly string[]): Promise<void> {
  const r = await run(file, args);
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
}

/** Names, kinds, sizes and mtimes of everything under dir: any write into it changes this. */
async function snapshotDir(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return Promise.all(entries.map(async (e) => {
    const path = join(e.parentPath, e.name);
    const st = await stat(path).catch(() => null);
    return `${path} ${e.isFIFO() ? 'fifo' : e.isSocket() ? 'socket' : e.isDirectory() ? 'dir' : 'file'} ${st?.size ?? '-'} ${st?.mtimeMs ?? '-'}`;
  })).then((lines) => lines.sort());
}

async function untilTakes(pid: number, signo: number): Promise<void> {
  for (let i = 0; i < 1_000; i++) {
    const state = readInitSignalState(pid);
    if (state === null || takesSignal(state, signo)) return;
    await sleep(10);
  }
  throw new Error(`pid ${pid} never took signal ${signo}`);
}

async function isConmonRunning(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat.startsWith(`${pid} (conmon)`) && !/\) Z /.test(stat);
}

for (const flavour of ['crun', 'runc'] as const satisfies readonly Flavour[]) {
  describe(`conmon + ${flavour}`, { concurrency: 4 }, () => {
    const { dirs, runtime, monitor } = realMonitor(scratch, flavour);
    after(() => monitor.close());

    const exitOf = (id: string): Promise<MonitorExit> =>
      firstValueFrom(monitor.exits$.pipe(filter((e) => e.id === id), timeout(EXIT_TIMEOUT_MS)));

    /** Creates (not starts) a container from a fresh bundle; the exit promise is subscribed first. */
    const create = async (options: BundleOptions, fds?: number[]) => {
      const id = scratch.id(flavour);
      const bundle = await makeBundle(join(scratch.bundlesDir, id), options);
      const logPath = join(scratch.logsDir, `${id}.log`);
      const exit = exitOf(id);
      exit.catch(() => undefined); // a test that fails early must not leave an unhandled rejection
      const created = await monitor.create({ id, bundle, logPath, ...(fds === undefined ? {} : { fds }) });
      return { id, bundle, logPath, exit, created };
    };

    const ownBundleOf = (id: string): string => join(dirs.stateDir, 'persist', id, 'bundle');

    const finish = async (id: string): Promise<void> => {
      await runtime.delete(id, { force: true });
      await monitor.release(id);
    };

    /** Nothing of the container is left: runtime state, monitor files; the caller's bundle holds only what it held. */
    const assertGone = async (id: string, bundle: string): Promise<void> => {
      assert.equal(await runtime.state(id), null);
      for (const sub of ['exits', 'pids', 'sockets', 'persist']) {
        const left = (await readdir(join(dirs.stateDir, sub))).filter((n) => n.startsWith(id));
        assert.deepEqual(left, [], `${sub}/ still holds ${left.join(', ')}`);
      }
      assert.deepEqual((await readdir(bundle)).sort(), ['config.json', 'rootfs']);
    };

    test('exit codes 0 and 7 are recorded, observed and readable; console output is kept', async () => {
      const zero = await create({ args: ['/bin/true'] });
      const seven = await create({ args: ['/bin/sh', '-c', 'echo hello; echo oops >&2; exit 7'] });
      assert.equal((await runtime.state(seven.id))?.status, 'created');
      assert.equal((await runtime.state(seven.id))?.pid, seven.created.pid);
      assert.ok(await isConmonRunning(seven.created.monitorPid));
      assert.equal(await monitor.readExit(seven.id), null);
      await Promise.all([runtime.start(zero.id), runtime.start(seven.id)]);
      assert.deepEqual(await zero.exit, { id: zero.id, code: 0, oomKilled: false });
      assert.deepEqual(await seven.exit, { id: seven.id, code: 7, oomKilled: false });
      assert.deepEqual(await monitor.readExit(seven.id), { id: seven.id, code: 7, oomKilled: false });
      assert.equal(await readConsoleLog(seven.logPath), 'hello\noops\n');
      assert.equal(await readConsoleLog(seven.logPath, { stream: 'stdout' }), 'hello\n');
      // The runtime works in the monitor's bundle dir of its own, never in the caller's.
      assert.deepEqual(await runtime.state(seven.id), { id: seven.id, status: 'stopped', pid: 0, bundle: ownBundleOf(seven.id) });
      for (const c of [zero, seven]) {
        await runtime.delete(c.id);
        await monitor.release(c.id);
        assert.equal(await monitor.monitorPid(c.id), null);
        await assertGone(c.id, c.bundle);
      }
    });

    test('started as it is created (run --detach through the monitor): it runs with no runtime start, its output and exit are kept', async () => {
      const id = scratch.id(flavour);
      const bundle = await makeBundle(join(scratch.bundlesDir, id), { args: ['/bin/sh', '-c', 'echo started; exec /bin/sleep 1000'] });
      const logPath = join(scratch.logsDir, `${id}.log`);
      const exit = exitOf(id);
      exit.catch(() => undefined);
      const created = await monitor.create({ id, bundle, logPath, start: true });
      assert.equal(created.started, true);
      // Running already: a runtime start now is refused as for any running container.
      assert.deepEqual(await runtime.state(id), { id, status: 'running', pid: created.pid, bundle: ownBundleOf(id) });
      await assert.rejects(runtime.start(id));
      await runtime.kill(id, 'SIGKILL');
      assert.deepEqual(await exit, { id, code: 137, oomKilled: false });
      assert.equal(await readConsoleLog(logPath), 'started\n');
      await finish(id);
      await assertGone(id, bundle);
    });

    test('kill TERM ends the container with 143, read back as signal 15', async () => {
      const c = await create({ args: ['/bin/sleep', '1000'], init: true });
      await runtime.start(c.id);
      assert.deepEqual(await runtime.state(c.id), { id: c.id, status: 'running', pid: c.created.pid, bundle: ownBundleOf(c.id) });
      assert.equal(await monitor.monitorPid(c.id), c.created.monitorPid);
      const listed = await runtime.list();
      assert.ok(listed.some((s) => s.id === c.id && s.status === 'running'), JSON.stringify(listed));
      // Right after the start tini may not wait for signals yet, and an init drops what it does not take:
      // the daemon's graceful stop sends it again once tini does (resendWithinMs).
      await runtime.kill(c.id, 'SIGTERM', { resendWithinMs: EXIT_TIMEOUT_MS });
      const exit = await c.exit;
      assert.equal(exit.code, 143);
      assert.equal(exitStatusFromCode(exit.code, exit.oomKilled).signal, 15);
      await finish(c.id);
      await assertGone(c.id, c.bundle);
    });

    test('pause and resume; a signal sent while paused lands on resume', async () => {
      const c = await create({ args: ['/bin/sleep', '1000'], init: true });
      await runtime.start(c.id);
      // A signal to a frozen init is kept only if the init takes it: tini must be waiting for signals first.
      await untilTakes(c.created.pid, 15);
      await runtime.pause(c.id);
      assert.equal((await runtime.state(c.id))?.status, 'paused');
      await runtime.pause(c.id); // already paused: success on both runtimes
      await runtime.kill(c.id, 'TERM');
      assert.equal((await runtime.state(c.id))?.status, 'paused');
      await runtime.resume(c.id);
      assert.equal((await c.exit).code, 143);
      await finish(c.id);
    });

    test('resume makes it run again; delete --force of a paused container records 137', async () => {
      const c = await create({ args: ['/bin/sleep', '1000'], init: true });
      await runtime.start(c.id);
      await runtime.pause(c.id);
      await runtime.resume(c.id);
      assert.equal((await runtime.state(c.id))?.status, 'running');
      await runtime.resume(c.id); // already running: success on both runtimes
      await runtime.pause(c.id);
      await runtime.delete(c.id, { force: true });
      assert.equal((await c.exit).code, 137);
      await monitor.release(c.id);
      await assertGone(c.id, c.bundle);
    });

    test('exec: detached runs inside, foreground returns output and code, failures are typed', async () => {
      const c = await create({ args: ['/bin/sleep', '1000'], init: true });
      await runtime.start(c.id);
      const execLog = join(scratch.logsDir, `${c.id}.exec.log`);
      const detached = await runtime.exec(c.id, {
        args: ['/bin/sh', '-c', 'echo "$GREETING" > /tmp/marker; echo to-log; sleep 1000'],
        env: ['GREETING=hi-from-exec'], detach: true, logPath: execLog,
      });
      assert.ok(detached.pid !== null && detached.pid > 0, `pid ${detached.pid}`);
      let marker = '';
      for (let i = 0; i < 100 && marker === ''; i++) {
        marker = (await runtime.exec(c.id, { args: ['/bin/cat', '/tmp/marker'] })).stdout;
        if (marker === '') await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(marker, 'hi-from-exec\n');
      const fg = await runtime.exec(c.id, { args: ['/bin/sh', '-c', 'pwd; id -u; echo err >&2; exit 3'], cwd: '/tmp', user: { uid: 1000, gid: 1000 } });
      assert.deepEqual(fg, { pid: null, exitCode: 3, stdout: '/tmp\n1000\n', stderr: 'err\n' });
      await assert.rejects(runtime.exec(c.id, { args: ['/bin/no-such-tool'] }), (err: DobbyError) => {
        assert.equal(err.code, 'RUNTIME_FAILED');
        assert.equal(err.verb, 'exec');
        assert.match(err.message, new RegExp(`^${flavour} exec ${c.id} failed \\(exit \\d+\\): .*no-such-tool`));
        return true;
      });
      await assert.rejects(runtime.exec(c.id, { args: ['/bin/no-such-tool'], detach: true }), { code: 'RUNTIME_FAILED' });
      await runtime.delete(c.id, { force: true });
      assert.equal((await c.exit).code, 137);
      await monitor.release(c.id);
      assert.equal(await readFile(execLog, 'utf8'), 'to-log\n');
    });

    test('the console log is capped at logSizeMax', async () => {
      const id = scratch.id(flavour);
      const bundle = await makeBundle(join(scratch.bundlesDir, id), { args: ['/bin/sh', '-c', 'i=0; while [ $i -lt 200 ]; do echo "line $i"; i=$((i+1)); done'] });
      const logPath = join(scratch.logsDir, `${id}.log`);
      const exit = exitOf(id);
      await monitor.create({ id, bundle, logPath, logSizeMax: 1000 });
      await runtime.start(id);
      assert.equal((await exit).code, 0);
      const { size } = await stat(logPath);
      assert.ok(size <= 1000, `log is ${size} bytes`);
      assert.match(await readConsoleLog(logPath), /line 199\n$/);
      await finish(id);
    });

    test('a launch config outside the bundle is what runs; a relative root.path still resolves against the bundle', async () => {
      const id = scratch.id(flavour);
      const bundle = await makeBundle(join(scratch.bundlesDir, id), { args: ['/bin/sh', '-c', 'echo from-the-bundle'] });
      await writeConfig(bundle, { args: ['/bin/sh', '-c', 'echo from-the-bundle'] }, (config) => {
        config['root'] = { path: 'rootfs', readonly: false };
      });
      const original = await readFile(join(bundle, 'config.json'));
      const launch = JSON.parse(original.toString()) as { process: { args: string[] } };
      launch.process.args = ['/bin/sh', '-c', 'echo "from-the-launch-config in $(pwd)"'];
      const configPath = join(scratch.dir, `${id}.launch.json`);
      writeFileSync(configPath, JSON.stringify(launch));
      const logPath = join(scratch.logsDir, `${id}.log`);
      const exit = exitOf(id);
      await monitor.create({ id, bundle, logPath, configPath });
      await runtime.start(id);
      assert.equal((await exit).code, 0);
      assert.equal(await readConsoleLog(logPath), 'from-the-launch-config in /\n');
      await finish(id);
      assert.deepEqual(await readFile(join(bundle, 'config.json')), original);
      await assertGone(id, bundle);
    });

    test("the 'none' log driver keeps nothing; logTotalMax keeps the start of the output and stops", async () => {
      const quiet = scratch.id(flavour);
      const quietBundle = await makeBundle(join(scratch.bundlesDir, quiet), { args: ['/bin/sh', '-c', 'echo nobody hears this'] });
      const quietLog = join(scratch.logsDir, `${quiet}.log`);
      const quietExit = exitOf(quiet);
      await monitor.create({ id: quiet, bundle: quietBundle, logPath: quietLog, logDriver: 'none' });
      await runtime.start(quiet);
      assert.equal((await quietExit).code, 0);
      await assert.rejects(stat(quietLog), { code: 'ENOENT' });
      await finish(quiet);

      const id = scratch.id(flavour);
      const bundle = await makeBundle(join(scratch.bundlesDir, id), { args: ['/bin/sh', '-c', 'i=0; while [ $i -lt 200 ]; do echo "line $i"; i=$((i+1)); done'] });
      const logPath = join(scratch.logsDir, `${id}.log`);
      const exit = exitOf(id);
      await monitor.create({ id, bundle, logPath, logTotalMax: 1000 });
      await runtime.start(id);
      assert.equal((await exit).code, 0);
      // conmon checks the cap before each line, so the last one may cross it.
      assert.ok((await stat(logPath)).size <= 1000 + 64, `log is ${(await stat(logPath)).size} bytes`);
      const kept = await readConsoleLog(logPath);
      assert.match(kept, /^line 0\nline 1\n/);
      assert.doesNotMatch(kept, /line 199/);
      await finish(id);
    });

    for (const start of [false, true]) {
      const how = start ? ', started as it is created' : '';
      /** The runtime's start, unless the monitor started it already. */
      const started = async (id: string, created: CreatedContainer): Promise<void> => {
        assert.equal(created.started === true, start);
        if (!start) await runtime.start(id);
      };

      test(`a config asking for a terminal: the monitor holds the pty and logs what the container prints on it${how}`, async () => {
        const id = scratch.id(flavour);
        const bundle = await makeBundle(join(scratch.bundlesDir, id), { args: ['/bin/sh', '-c', 'test -t 1 && echo on-a-tty'], tty: true });
        const logPath = join(scratch.logsDir, `${id}.log`);
        const exit = exitOf(id);
        await started(id, await monitor.create({ id, bundle, logPath, terminal: true, start }));
        assert.equal((await exit).code, 0);
        assert.equal(await readConsoleLog(logPath), 'on-a-tty\r\n');
        await finish(id);
      });

      test(`passed fds arrive in the container as 3, 4, …${how}`, async () => {
        const a = join(scratch.dir, `${flavour}-fd-a${start ? '-run' : ''}.txt`);
        const b = join(scratch.dir, `${flavour}-fd-b${start ? '-run' : ''}.txt`);
        writeFileSync(a, 'first file\n');
        writeFileSync(b, 'second file\n');
        const fds = [openSync(a, 'r'), openSync(b, 'r')];
        const id = scratch.id(flavour);
        const bundle = await makeBundle(join(scratch.bundlesDir, id), { args: ['/bin/sh', '-c', 'cat <&3; cat <&4; readlink /proc/self/fd/3; test -e /proc/self/fd/5 || echo no-fd-5'] });
        const logPath = join(scratch.logsDir, `${id}.log`);
        const exit = exitOf(id);
        let created: CreatedContainer;
        try {
          created = await monitor.create({ id, bundle, logPath, fds, start });
        } finally {
          for (const fd of fds) closeSync(fd); // the container holds its own copies
        }
        await started(id, created);
        assert.equal((await exit).code, 0);
        assert.equal(await readConsoleLog(logPath), `first file\nsecond file\n${a}\nno-fd-5\n`);
        await finish(id);
      });
    }

    test('an OOM kill under a 16 MiB limit is reported through the cgroup counter', async () => {
      const c = await create({ args: ['/bin/busybox', 'dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1'], memoryLimit: 16 * 1024 * 1024 });
      assert.equal(await monitor.oomKillCount(c.id), 0);
      await runtime.start(c.id);
      const exit = await c.exit;
      assert.equal(exit.code, 137);
      assert.equal(exit.oomKilled, true);
      assert.ok(((await monitor.oomKillCount(c.id)) ?? 0) >= 1);
      // Without conmon's own oom file (it misses OOM on some hybrid hosts) the counter still tells.
      await rm(join(dirs.stateDir, 'persist', c.id, 'oom'), { force: true });
      assert.equal((await monitor.readExit(c.id))?.oomKilled, true);
      await finish(c.id);
      assert.equal(await monitor.oomKillCount(c.id), null);
    });

    test('a config the runtime rejects gives a typed error and leaves nothing behind', async () => {
      const id = scratch.id(`${flavour}-bad`);
      const bundle = await makeBundle(join(scratch.bundlesDir, id), { args: ['/bin/true'] });
      await writeConfig(bundle, { args: ['/bin/true'] }, (config) => {
        (config['linux'] as { namespaces: unknown[] }).namespaces.push({ type: 'bogus' });
      });
      await assert.rejects(monitor.create({ id, bundle, logPath: join(scratch.logsDir, `${id}.log`) }), (err: DobbyError) => {
        assert.ok(err instanceof DobbyError);
        assert.equal(err.code, 'RUNTIME_FAILED');
        assert.equal(err.containerId, id);
        assert.equal(err.verb, 'create');
        assert.match(err.message, new RegExp(`^${flavour} create ${id} failed: .*bogus`));
        return true;
      });
      assert.deepEqual(await readdir(dirs.runtimeRoot).then((n) => n.filter((x) => x === id)), []);
      await assertGone(id, bundle);
    });

    test('a missing executable fails the create, naming it', async () => {
      const id = scratch.id(`${flavour}-noexe`);
      const bundle = await makeBundle(join(scratch.bundlesDir, id), { args: ['/bin/not-there'] });
      await assert.rejects(monitor.create({ id, bundle, logPath: join(scratch.logsDir, `${id}.log`) }), (err: DobbyError) => {
        assert.equal(err.code, 'RUNTIME_FAILED');
        assert.match(err.message, /not-there/);
        assert.doesNotMatch(err.message, /level=error/);
        return true;
      });
      await assertGone(id, bundle);
    });

    test('an exit recorded while no monitor object watched is read back by a new one', async () => {
      const c = await create({ args: ['/bin/sh', '-c', 'exit 5'] });
      const other = new ConmonMonitor({ runtime, stateDir: dirs.stateDir });
      try {
        await runtime.start(c.id);
        await c.exit;
        assert.deepEqual(await other.readExit(c.id), { id: c.id, code: 5, oomKilled: false });
        const cgroup = await other.cgroupPaths(c.id);
        assert.ok(cgroup !== null && (cgroup.v2 ?? cgroup.v1['memory'] ?? '').endsWith(`/${c.id}`), JSON.stringify(cgroup));
      } finally {
        other.close();
      }
      await finish(c.id);
    });

    test('ten containers created at once from one bundle dir all run; the bundle is never written', async () => {
      const bundle = await makeBundle(join(scratch.bundlesDir, scratch.id(`${flavour}-shared`)), { args: ['/bin/sleep', '1000'], init: true });
      const before = await snapshotDir(bundle);
      const ids = Array.from({ length: 10 }, () => scratch.id(flavour));
      try {
        await Promise.all(ids.map((id) => monitor.create({ id, bundle, logPath: join(scratch.logsDir, `${id}.log`) })));
        assert.deepEqual(await snapshotDir(bundle), before);
        await Promise.all(ids.map((id) => runtime.start(id)));
        for (const id of ids) assert.equal((await runtime.state(id))?.status, 'running', id);
      } finally {
        await Promise.all(ids.map((id) => finish(id)));
      }
      for (const id of ids) await assertGone(id, bundle);
      assert.deepEqual(await snapshotDir(bundle), before);
    });

    test('a bundle on a read-only file system (a read-only bind mount) starts, with a relative root.path', async () => {
      const source = await makeBundle(join(scratch.bundlesDir, scratch.id(`${flavour}-src`)), { args: ['/bin/sh', '-c', 'echo from-a-read-only-bundle'] });
      await writeConfig(source, { args: ['/bin/sh', '-c', 'echo from-a-read-only-bundle'] }, (config) => {
        config['root'] = { path: 'rootfs', readonly: true };
      });
      const bundle = join(scratch.bundlesDir, scratch.id(`${flavour}-ro`));
      await mkdir(bundle);
      await mustRun('mount', ['--bind', source, bundle]);
      try {
        await mustRun('mount', ['-o', 'remount,bind,ro', bundle]);
        await assert.rejects(writeFile(join(bundle, 'probe'), 'x'), { code: 'EROFS' });
        const id = scratch.id(flavour);
        const logPath = join(scratch.logsDir, `${id}.log`);
        const exit = exitOf(id);
        await monitor.create({ id, bundle, logPath });
        await runtime.start(id);
        assert.equal((await exit).code, 0);
        assert.equal(await readConsoleLog(logPath), 'from-a-read-only-bundle\n');
        await finish(id);
        await assertGone(id, bundle);
      } finally {
        await mustRun('umount', [bundle]);
      }
    });

    test('create refuses an id the runtime already has, without harming it', async () => {
      const c = await create({ args: ['/bin/sleep', '1000'], init: true });
      await assert.rejects(monitor.create({ id: c.id, bundle: c.bundle, logPath: c.logPath }), { code: 'MONITOR_FAILED' });
      assert.equal((await runtime.state(c.id))?.status, 'created');
      await finish(c.id);
    });
  });
}

describe('missing tools', () => {
  test('a missing conmon gives MONITOR_MISSING with the fix', async () => {
    const dirs = scratch.dirs('crun');
    const runtime = new OciCliRuntime({ binary: 'crun', root: dirs.runtimeRoot });
    const monitor = new ConmonMonitor({ runtime, stateDir: join(scratch.dir, 'no-conmon'), conmonPath: '/nonexistent/conmon' });
    try {
      await assert.rejects(monitor.create({ id: scratch.id(), bundle: scratch.bundlesDir, logPath: '/dev/null' }), (err: DobbyError) => {
        assert.equal(err.code, 'MONITOR_MISSING');
        assert.match(err.message, /apt-get install conmon/);
        return true;
      });
    } finally {
      monitor.close();
    }
  });

  test('a descriptor that is not open is INVALID_ARGUMENT, and nothing is left', async () => {
    const dirs = scratch.dirs('crun');
    const runtime = new OciCliRuntime({ binary: 'crun', root: dirs.runtimeRoot });
    const stateDir = join(scratch.dir, 'bad-fd-state');
    const monitor = new ConmonMonitor({ runtime, stateDir });
    try {
      const id = scratch.id('badfd');
      await assert.rejects(monitor.create({ id, bundle: scratch.bundlesDir, logPath: '/dev/null', fds: [987] }), { code: 'INVALID_ARGUMENT' });
      assert.deepEqual(await readdir(join(stateDir, 'persist')), []);
    } finally {
      monitor.close();
    }
  });

  test('conmon failing on its own (log dir missing) is MONITOR_FAILED with its message, and nothing is left', async () => {
    const dirs = scratch.dirs('crun');
    const runtime = new OciCliRuntime({ binary: 'crun', root: dirs.runtimeRoot });
    const monitor = new ConmonMonitor({ runtime, stateDir: dirs.stateDir });
    const id = scratch.id('nolog');
    const bundle = await makeBundle(join(scratch.bundlesDir, id), { args: ['/bin/true'] });
    try {
      await assert.rejects(monitor.create({ id, bundle, logPath: join(scratch.dir, 'no-such-dir', 'x.log') }), (err: DobbyError) => {
        assert.equal(err.code, 'MONITOR_FAILED');
        assert.match(err.message, new RegExp(`conmon for container '${id}' exited .*log file`));
        return true;
      });
      assert.equal(await runtime.state(id), null);
      assert.deepEqual((await readdir(bundle)).sort(), ['config.json', 'rootfs']);
      assert.deepEqual((await readdir(join(dirs.stateDir, 'persist'))).filter((n) => n === id), []);
    } finally {
      monitor.close();
    }
  });

  test('a missing runtime gives RUNTIME_MISSING from the monitor too', async () => {
    const runtime = new OciCliRuntime({ binary: 'crun-not-installed', root: join(scratch.dir, 'no-runtime') });
    const monitor = new ConmonMonitor({ runtime, stateDir: join(scratch.dir, 'no-runtime-state') });
    try {
      await assert.rejects(monitor.create({ id: scratch.id(), bundle: scratch.bundlesDir, logPath: '/dev/null' }), { code: 'RUNTIME_MISSING' });
    } finally {
      monitor.close();
    }
  });
});
