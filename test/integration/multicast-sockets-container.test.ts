// MulticastSockets around a real crun container under conmon, in a private network namespace:
// a datagram from the host reaches the container through its server fd, one from the container
// reaches a host listener through its client fd, and the daemon holds no socket after the stop.
// The hooks are called here the way the container machine calls them (postConstruction before
// create, postStop after the exit, preDestruction after a failed start).

import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdir, readdir, readlink, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { filter, firstValueFrom, timeout } from 'rxjs';
import { readConsoleLog } from '../../src/drivers/monitor/console-log.ts';
import { ConmonMonitor } from '../../src/drivers/monitor/conmon-monitor.ts';
import type { MonitorExit } from '../../src/drivers/monitor/types.ts';
import { OciCliRuntime } from '../../src/drivers/runtime/oci-cli-runtime.ts';
import { createMulticastSocketsPlugin } from '../../src/plugins/multicast-sockets.ts';
import type { HookContext, StartAdditions, StartState } from '../../src/plugins/types.ts';
import { makeBundle, writeConfig, type BundleOptions } from '../helpers/bundle.ts';
import { realMonitor } from '../helpers/manager.ts';
import { makeScratch } from '../helpers/scratch.ts';
import { multicastNetnsHere, testInOwnNetns } from '../drivers/multicast-netns.ts';

const EXIT_TIMEOUT_MS = 15_000;
const GROUP_IN = { ip: '239.20.0.1', port: 16001 };
const GROUP_OUT = { ip: '239.20.0.2', port: 16002 };

function collectingStartState(): StartState {
  const env: string[] = [];
  const fds: number[] = [];
  return {
    addEnvironmentVariable: (nameValue) => void (env.includes(nameValue) || env.push(nameValue)),
    addFileDescriptor: (_plugin, fd) => 3 + fds.push(fd) - 1,
    addMount: () => {
      throw new Error('not expected from MulticastSockets');
    },
    setRlimit: () => {
      throw new Error('not expected from MulticastSockets');
    },
    addNamespace: () => {
      throw new Error('not expected from MulticastSockets');
    },
    renumberDevice: () => {
      throw new Error('not expected from MulticastSockets');
    },
    addDeviceRule: () => {
      throw new Error('not expected from MulticastSockets');
    },
    addGroup: () => {
      throw new Error('not expected from MulticastSockets');
    },
    get additions(): StartAdditions {
      return { env, fds, mounts: [] };
    },
  };
}

/** The socket inodes (`socket:[n]`) this process has open. */
async function openSockets(): Promise<Set<string>> {
  const links = await Promise.all((await readdir('/proc/self/fd')).map((n) => readlink(`/proc/self/fd/${n}`).catch(() => '')));
  return new Set(links.filter((l) => l.startsWith('socket:')));
}

async function fdLink(fd: number): Promise<string> {
  return readlink(`/proc/self/fd/${fd}`);
}

const cases: [string, (env: Env) => Promise<void>][] = [];
const inner = (name: string, fn: (env: Env) => Promise<void>): void => void cases.push([name, fn]);

interface Env {
  readonly scratch: ReturnType<typeof makeScratch>;
  readonly runtime: OciCliRuntime;
  readonly monitor: ConmonMonitor;
}

function hookContext(id: string, rootfs: string, data: unknown): HookContext & { exit: null } {
  return { id, rootfs, data, logger: pino({ level: 'silent' }), signal: new AbortController().signal, exit: null };
}

/** Host /usr read-only inside, with the lib links Debian's merged /usr needs, so python3 runs in the container. */
async function withHostUsr(bundle: string): Promise<void> {
  const rootfs = join(bundle, 'rootfs');
  await mkdir(join(rootfs, 'usr'));
  await symlink('usr/lib', join(rootfs, 'lib'));
  await symlink('usr/lib64', join(rootfs, 'lib64'));
}

function usrMount(config: Record<string, unknown>): void {
  (config['mounts'] as unknown[]).push({ destination: '/usr', type: 'bind', source: '/usr', options: ['rbind', 'ro', 'nosuid', 'nodev'] });
}

inner('a container gets a host datagram through its server fd and sends one out through its client fd; stop closes both', async ({ scratch, runtime, monitor }) => {
  const plugin = createMulticastSocketsPlugin();
  const id = scratch.id('mcast');
  const data = { serverSockets: [{ name: 'GROUP', ...GROUP_IN }], clientSockets: [{ name: 'OUT' }] };
  // The container: name its fds, wait for one datagram on the server fd, send it back changed to
  // the other group through the client fd, then stay up until stopped.
  const script = [
    'echo "server=$MCAST_SERVER_SOCKET_GROUP_FD client=$MCAST_CLIENT_SOCKET_OUT_FD"',
    'eval "dd bs=2048 count=1 <&$MCAST_SERVER_SOCKET_GROUP_FD" > /tmp/got 2>/dev/null',
    'echo "got: $(cat /tmp/got)"',
    `python3 -c 'import os, socket; s = socket.socket(fileno=int(os.environ["MCAST_CLIENT_SOCKET_OUT_FD"])); s.sendto(b"reply to " + open("/tmp/got", "rb").read(), ("${GROUP_OUT.ip}", ${GROUP_OUT.port}))'`,
    'echo sent',
    'exec sleep 1000',
  ].join('\n');
  const options: BundleOptions = { args: ['/bin/sh', '-c', script], init: true };
  const bundle = await makeBundle(join(scratch.bundlesDir, id), options);
  await withHostUsr(bundle);
  const ctx = hookContext(id, join(bundle, 'rootfs'), data);

  const listener = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const tx = dgram.createSocket('udp4');
  try {
    await new Promise<void>((resolve) => listener.bind(GROUP_OUT.port, GROUP_OUT.ip, resolve));
    listener.addMembership(GROUP_OUT.ip);
    const reply = new Promise<[string, dgram.RemoteInfo]>((resolve) => listener.once('message', (m, r) => resolve([m.toString(), r])));

    const state = collectingStartState();
    await plugin.postConstruction!(ctx, state);
    const passed = plugin.passed(id);
    assert.deepEqual(state.additions.env, ['MCAST_SERVER_SOCKET_GROUP_FD=3', 'MCAST_CLIENT_SOCKET_OUT_FD=4']);
    const daemonSockets = await Promise.all(passed.map((p) => fdLink(p.socket.fd)));
    await writeConfig(bundle, { ...options, env: state.additions.env }, usrMount);

    const exit = firstValueFrom(monitor.exits$.pipe(filter((e: MonitorExit) => e.id === id), timeout(EXIT_TIMEOUT_MS)));
    exit.catch(() => undefined);
    await monitor.create({ id, bundle, logPath: join(scratch.logsDir, `${id}.log`), fds: state.additions.fds });
    await runtime.start(id);

    await new Promise<void>((resolve, reject) => tx.send('hello container', GROUP_IN.port, GROUP_IN.ip, (err) => (err ? reject(err) : resolve())));
    let timer: NodeJS.Timeout | undefined;
    const [text, from] = await Promise.race([
      reply,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('no datagram from the container within 10 s')), 10_000))),
    ]).finally(() => clearTimeout(timer));
    assert.equal(text, 'reply to hello container');
    assert.equal(from.port, passed[1]!.socket.local.port, 'sent through the client socket the plugin made');
    // The reply can overtake the container's last line on its way to the log.
    const logPath = join(scratch.logsDir, `${id}.log`);
    let log = '';
    for (let i = 0; i < 200 && !log.endsWith('sent\n'); i++) {
      log = await readConsoleLog(logPath);
      if (!log.endsWith('sent\n')) await sleep(25);
    }
    assert.equal(log, 'server=3 client=4\ngot: hello container\nsent\n');

    // The daemon still holds its copies while the container runs ...
    for (const link of daemonSockets) assert.ok((await openSockets()).has(link));
    await runtime.kill(id, 'SIGTERM');
    assert.equal((await exit).code, 143);
    // ... and none after postStop.
    await plugin.postStop!(ctx);
    const left = await openSockets();
    for (const link of daemonSockets) assert.ok(!left.has(link), `${link} still open in the daemon after postStop`);
    assert.deepEqual(plugin.passed(id), []);
    await runtime.delete(id);
    await monitor.release(id);
    await plugin.preDestruction!(ctx); // idempotent after postStop
  } finally {
    await plugin.preDestruction!(ctx);
    listener.close();
    tx.close();
  }
});

inner('a start that fails after postConstruction (create fails) has its sockets closed by preDestruction', async ({ scratch, monitor }) => {
  const plugin = createMulticastSocketsPlugin();
  const id = scratch.id('mcast-fail');
  const bundle = await makeBundle(join(scratch.bundlesDir, id), { args: ['/bin/not-there'] });
  const ctx = hookContext(id, join(bundle, 'rootfs'), { serverSockets: [{ name: 'G', ...GROUP_IN }], clientSockets: [{ name: 'C' }] });
  const before = await openSockets();
  const state = collectingStartState();
  await plugin.postConstruction!(ctx, state);
  assert.equal(plugin.passed(id).length, 2);
  await assert.rejects(monitor.create({ id, bundle, logPath: join(scratch.logsDir, `${id}.log`), fds: state.additions.fds }), { code: 'RUNTIME_FAILED' });
  await plugin.preDestruction!(ctx);
  assert.deepEqual([...(await openSockets())].filter((l) => !before.has(l)), []);
});

inner('invalid data fails postConstruction before any socket or container exists', async ({ scratch }) => {
  const plugin = createMulticastSocketsPlugin();
  const id = scratch.id('mcast-bad');
  const before = await openSockets();
  const state = collectingStartState();
  await assert.rejects(async () => plugin.postConstruction!(hookContext(id, '/nonexistent', { serverSockets: [{ name: 'G', ip: '239.20.0.1', port: 70000 }] }), state), {
    code: 'INVALID_ARGUMENT',
    message: `MulticastSockets plugin data for container '${id}': serverSockets[0].port 70000 is out of range; it must be from 1 to 65535`,
  });
  assert.deepEqual(state.additions.fds, []);
  assert.deepEqual(await openSockets(), before);
});

if (multicastNetnsHere() === null) {
  testInOwnNetns('MulticastSockets with real crun containers, inside a private network namespace', fileURLToPath(import.meta.url), cases.length, 180_000);
} else {
  describe('MulticastSockets with real crun containers (in its network namespace)', () => {
    const scratch = makeScratch();
    const { runtime, monitor } = realMonitor(scratch);
    after(() => monitor.close());
    for (const [name, fn] of cases) test(name, () => fn({ scratch, runtime, monitor }));
  });
}
