// DobbyDaemon, the installed name (a link to bin/dobbyd), as Dobby's unit starts it (--nofork --noconsole
// --journald) with Dobby's DEV_VM settings file, on real crun and a private bus. The daemon runs in a network
// namespace of the test's own (nsenter --net: the host's routes and firewall are never touched), which has one
// of the file's external interfaces (enp0s3): its nat follows the file. Journald is a datagram socket the test
// binds (this host runs none), given with --journald-socket.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startPrivateBus, type PrivateBus } from '../../src/drivers/dbus/bus-address.ts';
import { run } from '../../src/drivers/process.ts';
import { call } from '../api/harness.ts';
import { containerEnviron } from '../helpers/container-environ.ts';
import { runDobbyd } from '../helpers/dobbyd-process.ts';
import { makeScratch } from '../helpers/scratch.ts';

const ROOT = join(import.meta.dirname, '..', '..');
/** Dobby's daemon/process/settings/dobby.dev_vm.json, as Dobby ships it. */
const DEV_VM_SETTINGS = join(ROOT, 'test', 'settings', 'fixtures', 'dobby.dev_vm.json');
const scratch = makeScratch();
const link = join(scratch.dir, 'sbin', 'DobbyDaemon');
const stateDir = join(scratch.dir, 'state');
const journalSocket = join(scratch.dir, 'journal.sock');
const netns = `dt-i13-${scratch.id().split('-')[1]}`;

/** Binds a datagram socket and prints each datagram it gets as one JSON string line. */
const RECEIVER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print('ready', flush=True)
while True:
    print(json.dumps(s.recv(65536).decode('utf-8', 'replace')), flush=True)
`;

/**
 * SetLogMethod(uh) 2 with the write end of a pipe, read until the daemon's answer to it is there, then
 * SetLogMethod 0 and read on to the end of the pipe (the daemon has closed its copy); prints what came as JSON.
 */
const PY_ETHANLOG = `
import json, os, sys, dbus
obj = dbus.bus.BusConnection(sys.argv[1]).get_object('org.rdk.dobby', '/org/rdk/dobby', introspect=False)
def method(m, fd):
    unix = dbus.types.UnixFd(fd)
    ok = obj.SetLogMethod(dbus.UInt32(m), unix, dbus_interface='org.rdk.dobby.admin1', signature='uh')
    os.close(unix.take())
    return bool(ok)
r, w = os.pipe()
ok2 = method(2, w)
os.close(w)
data = b''
while b'log method set over D-Bus' not in data:
    chunk = os.read(r, 65536)
    if not chunk: break
    data += chunk
ok0 = method(0, os.open('/dev/null', os.O_WRONLY))
while True:
    chunk = os.read(r, 65536)
    if not chunk: break
    data += chunk
print(json.dumps({'ok2': ok2, 'ok0': ok0, 'records': data.decode()}))
`;

function startReceiver(path: string): Promise<{ child: ChildProcess; datagrams: () => string[] }> {
  const child = spawn('python3', ['-c', RECEIVER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const datagrams = (): string[] => out.split('\n').slice(1).filter((l) => l !== '').map((l) => JSON.parse(l) as string);
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the journald stand-in exited (${code})`)));
    const poll = (): void => void (out.startsWith('ready\n') ? resolve({ child, datagrams }) : setTimeout(poll, 20));
    poll();
  });
}

async function must(file: string, args: readonly string[]) {
  const r = await run(file, args);
  assert.equal(r.code, 0, `${file} ${args.join(' ')}: ${r.stderr}`);
  return r;
}

const inNetns = (args: readonly string[]) => must('ip', ['netns', 'exec', netns, ...args]);

/** The pids limit the kernel enforces on a process: its pids cgroup's pids.max (v1 or v2). */
function pidsMax(pid: number): string {
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
    const [, controllers, path] = line.split(':');
    const dir = controllers === 'pids' || controllers?.split(',').includes('pids') ? `/sys/fs/cgroup/pids${path}` : controllers === '' ? `/sys/fs/cgroup${path}` : null;
    if (dir !== null && existsSync(join(dir, 'pids.max'))) return readFileSync(join(dir, 'pids.max'), 'utf8').trim();
  }
  throw new Error(`no pids cgroup for ${pid}`);
}

describe('DobbyDaemon with DEV_VM settings', { concurrency: false }, () => {
  let bus: PrivateBus | undefined;
  let journal: { child: ChildProcess; datagrams: () => string[] } | undefined;
  let daemon: ChildProcess | undefined;
  let stderr = '';
  let exited: Promise<number | null> = Promise.resolve(null);

  before(async () => {
    mkdirSync(join(scratch.dir, 'sbin'));
    symlinkSync(join(ROOT, 'bin', 'dobbyd'), link);
    await must('ip', ['netns', 'add', netns]);
    await inNetns(['ip', 'link', 'add', 'enp0s3', 'type', 'veth', 'peer', 'name', 'dtpeer0']);
    for (const l of ['lo', 'enp0s3', 'dtpeer0']) await inNetns(['ip', 'link', 'set', l, 'up']);
    bus = await startPrivateBus(join(scratch.dir, 'bus'));
    journal = await startReceiver(journalSocket);
    daemon = spawn('nsenter', [
      `--net=/run/netns/${netns}`, link, '--nofork', '--journald', '--noconsole', '--journald-socket', journalSocket,
      '--settings-file', DEV_VM_SETTINGS, '--dbus-address', bus.address, '--state-dir', stateDir, '--stop-grace', '2',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    daemon.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    exited = new Promise((resolve) => daemon!.once('exit', (code) => resolve(code)));
    while (!journal.datagrams().some((d) => d.includes('started Dobby daemon'))) {
      if (daemon.exitCode !== null) throw new Error(`DobbyDaemon exited (${daemon.exitCode}): ${stderr}`);
      await sleep(50);
    }
  });

  after(async () => {
    if (daemon !== undefined && daemon.exitCode === null && daemon.signalCode === null) {
      daemon.kill('SIGKILL');
      await exited;
    }
    journal?.child.kill('SIGTERM');
    await bus?.stop();
    await run('ip', ['netns', 'delete', netns]).catch(() => undefined);
  });

  test('the process is DobbyDaemon (comm, pgrep -x, pidof); it logs to journald as DobbyDaemon and nothing to the console', async () => {
    const pid = daemon!.pid!;
    assert.equal(readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), 'DobbyDaemon');
    assert.ok((await must('pgrep', ['-x', 'DobbyDaemon'])).stdout.split('\n').includes(String(pid)));
    assert.ok((await must('pidof', ['DobbyDaemon'])).stdout.trim().split(' ').includes(String(pid)));
    const started = journal!.datagrams().find((d) => d.includes('started Dobby daemon'))!;
    assert.match(started, /^MESSAGE=MIL: started Dobby daemon/m);
    assert.match(started, /^PRIORITY=5$/m);
    assert.match(started, /^SYSLOG_IDENTIFIER=DobbyDaemon$/m);
    // The file's extraMounts is not a key Dobby reads: said, not refused.
    assert.ok(journal!.datagrams().some((d) => /^MESSAGE=WRN: .*'extraMounts' is not a key Dobby reads/m.test(d)));
    assert.equal(stderr, '');
  });

  test("a spec container gets the file's env, Dobby's pids limit and a nat network out of the file's interfaces, IPv4 only", async () => {
    const id = scratch.id('devvm');
    const spec = JSON.stringify({ version: '1.0', args: ['sleep', '60'], user: { uid: 1000, gid: 1000 }, memLimit: 41943040, network: 'nat' });
    const reply = await call(bus!.address, 'ctrl1', 'StartFromSpec', 'ssah', id, spec, '0');
    const cd = Number(/^i (\d+)$/.exec(reply)?.[1]);
    assert.ok(cd > 0, `${reply} ${journal!.datagrams().slice(-5).join('')}`);
    const info = JSON.parse(JSON.parse((await call(bus!.address, 'ctrl1', 'GetInfo', 'i', String(cd))).slice(2)) as string) as {
      pids: number[]; processes: { cmdline: string }[];
    };
    const pid = info.pids[0]!;
    // Dobby's process line: its init and the command, no init options.
    assert.equal(info.processes[0]?.cmdline, '/usr/libexec/DobbyInit sleep 60 ');
    const env = [...(await containerEnviron(pid))].map(([k, v]) => `${k}=${v}`);
    assert.ok(env.includes('ETHAN_STB_TYPE=IP') && env.includes('ETHAN_STB_MODEL=VM'), env.join(' '));
    const config = JSON.parse(JSON.parse((await call(bus!.address, 'debug1', 'GetOCIConfig', 'i', String(cd))).slice(2)) as string) as {
      linux: { resources: { pids?: { limit: number } } };
    };
    assert.equal(config.linux.resources.pids?.limit, 256);
    assert.equal(pidsMax(pid), '256');
    // Masquerading only out of enp0s3: of the file's enp0s8, enp0s3, docker0 and eth0, the one this namespace has.
    const postrouting = (await inNetns(['iptables', '-t', 'nat', '-S'])).stdout;
    assert.match(postrouting, /-o enp0s3 .*MASQUERADE/);
    assert.doesNotMatch(postrouting, /-o (eth0|docker0|enp0s8|wlan0) /);
    // The file does not ask for IPv6 (network.ipv6): the bridge and the container have none, though the namespace does.
    assert.equal((await inNetns(['sysctl', '-n', 'net.ipv6.conf.all.disable_ipv6'])).stdout.trim(), '0');
    assert.match((await inNetns(['ip', '-4', 'addr', 'show', 'dev', 'dobby0'])).stdout, /inet 100\.64\.11\.1\/24/);
    assert.doesNotMatch((await inNetns(['ip', '-6', 'addr', 'show', 'dev', 'dobby0'])).stdout, /2080:d0bb:1e/);
    assert.doesNotMatch((await must('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', '-6', 'addr'])).stdout, /2080:d0bb:1e/);
  });

  test('admin1 SetLogMethod (uh) 2 sends the log lines to the given pipe as ethanlog records; 0 stops that', async () => {
    // python3-dbus: busctl and dbus-send cannot send unix fds.
    const r = await run('/usr/bin/python3', ['-c', PY_ETHANLOG, bus!.address], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    const { ok2, ok0, records } = JSON.parse(r.stdout) as { ok2: boolean; ok0: boolean; records: string };
    assert.deepEqual([ok2, ok0], [true, true]);
    const pid = daemon!.pid!.toString(16);
    assert.match(records, new RegExp(`^\\x1e\\x1fL4\\x1fT[0-9a-f]{8}\\.[0-9a-f]{8}\\x1fSdaemon\\x1fP${pid}\\x1fMlog method set over D-Bus \\(method=2 fd=\\d+ ok=true targets=\\["journald","ethanlog"\\]\\)\\x1e`));
    // The pipe reached its end: the daemon closed its copy once method 0 took the pipe's place.
    assert.ok(journal!.datagrams().some((d) => d.includes('targets=["journald"]')), 'journald stays');
  });

  test('SIGTERM to that pid (what pkill DobbyDaemon sends) stops the containers and exits 0', async () => {
    const running = (await must('crun', ['--root', join(stateDir, 'runtime'), 'list', '-q'])).stdout.trim();
    assert.notEqual(running, '', 'a container is running before the signal');
    daemon!.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    assert.equal((await must('crun', ['--root', join(stateDir, 'runtime'), 'list', '-q'])).stdout.trim(), '', 'no container outlives the daemon');
    assert.ok(journal!.datagrams().some((d) => /^MESSAGE=MIL: stopped Dobby daemon$/m.test(d)));
    // Its bridge went with its last container.
    assert.doesNotMatch((await inNetns(['ip', '-o', 'link'])).stdout, /dobby0/);
  });
});

test('a bad settings file is refused at start-up, naming the key; so is a missing --settings-file', async () => {
  const bad = join(scratch.dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ extraEnvVariables: ['ETHAN_STB_TYPE=IP'], pids: { enable: true, limit: 'lots' } }));
  const refused = await runDobbyd(['--dobby-compat', '--nofork', '--settings-file', bad, '--private-bus', '--state-dir', join(scratch.dir, 'bad-state')]);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /^DobbyDaemon: settings file '.*bad\.json': 'pids\.limit' must be a whole number of processes from 1 to 4194304, not a string$/m);
  const missing = await runDobbyd(['--settings-file', join(scratch.dir, 'none.json'), '--private-bus', '--state-dir', join(scratch.dir, 'bad-state')]);
  assert.equal(missing.code, 1, missing.stderr);
  assert.match(missing.stderr, /^dobbyd: cannot access settings file @ '.*none\.json' \(ENOENT\)/m);
  // A broken JSON file is refused the same way, with where it breaks.
  const broken = join(scratch.dir, 'broken.json');
  copyFileSync(DEV_VM_SETTINGS, broken);
  writeFileSync(broken, readFileSync(broken, 'utf8').replace('"eth0" ]', '"eth0" '));
  const syntax = await runDobbyd(['--settings-file', broken, '--private-bus', '--state-dir', join(scratch.dir, 'bad-state')]);
  assert.equal(syntax.code, 1, syntax.stderr);
  assert.match(syntax.stderr, /settings file '.*broken\.json' is not valid JSON: Expected ',' or ']' after array element at line 18/);
});

test('without --nofork DobbyDaemon goes into the background: the command returns 0 and the daemon serves, named DobbyDaemon', async (t) => {
  const bus = await startPrivateBus(join(scratch.dir, 'bus-fork'));
  t.after(() => bus.stop());
  const state = join(scratch.dir, 'state-fork');
  const started = await run(link, ['--dbus-address', bus.address, '--state-dir', state, '--settings-file', DEV_VM_SETTINGS, '--stop-grace', '1'], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' }, timeoutMs: 30_000, waitFor: 'exit',
  });
  assert.equal(started.code, 0, started.stderr);
  // Its one line on the console before it left: Dobby's first milestone.
  assert.match(started.stderr, /MIL: < M:daemon > starting Dobby daemon/);
  // The daemon in the background: the pid its state dir's lock names (the daemon's own file), signalled by that pid.
  let pid = 0;
  for (let i = 0; i < 300 && pid === 0; i++) {
    pid = Number(/^(\d+)/.exec(existsSync(join(state, 'dobbyd.pid')) ? readFileSync(join(state, 'dobbyd.pid'), 'utf8') : '')?.[1] ?? 0);
    if (pid === 0) await sleep(50);
  }
  assert.ok(pid > 0, 'the daemon took no lock on its state dir');
  t.after(() => void (runs(pid) && process.kill(pid, 'SIGKILL')));
  assert.equal(readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), 'DobbyDaemon');
  assert.ok((await must('pgrep', ['-x', 'DobbyDaemon'])).stdout.split('\n').includes(String(pid)));
  let serving = false;
  for (let i = 0; i < 200 && !serving; i++) {
    serving = await call(bus.address, 'admin1', 'Ping').then(() => true, () => false);
    if (!serving) await sleep(100);
  }
  assert.ok(serving, 'the daemon in the background does not answer Ping');
  process.kill(pid, 'SIGTERM');
  while (runs(pid)) await sleep(50);
});

function runs(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
