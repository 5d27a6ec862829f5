// The dgram-backed multicast socket driver, in a private network namespace: real datagrams through the fds.
// needs: root netns

import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DobbyError } from '../../src/errors.ts';
import { run } from '../../src/drivers/process.ts';
import { isNonBlocking } from '../../src/drivers/sockets/blocking-fd.ts';
import { NodeMulticastSockets } from '../../src/drivers/sockets/multicast-sockets.ts';
import type { OpenSocket } from '../../src/drivers/sockets/types.ts';
import { multicastNetnsHere, testInOwnNetns } from './multicast-netns.ts';

const PYTHON = '/usr/bin/python3';

function linkOf(fd: number): string | null {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
}

function openFdLinks(): string[] {
  return readdirSync('/proc/self/fd').map((n) => linkOf(Number(n))).filter((l): l is string => l !== null);
}

/** A plain dgram socket that sends datagrams (to any group, through the namespace's lo). */
async function sender(): Promise<{ send(text: string, ip: string, port: number): Promise<void>; close(): void }> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  s.setMulticastInterface('127.0.0.1');
  return {
    send: (text, ip, port) => new Promise((resolve, reject) => s.send(text, port, ip, (err) => (err ? reject(err) : resolve()))),
    close: () => s.close(),
  };
}

/** A host-side listener joined to a group: the first datagram it gets and who sent it. */
async function listener(ip: string, port: number): Promise<{ next: Promise<[string, dgram.RemoteInfo]>; close(): void }> {
  const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((resolve) => s.bind(port, ip, resolve));
  s.addMembership(ip);
  const next = new Promise<[string, dgram.RemoteInfo]>((resolve) => s.once('message', (m, r) => resolve([m.toString(), r])));
  return { next, close: () => s.close() };
}

/** Reads one datagram from `fd` in another process, the way a container would: busybox dd on stdin. */
async function readInChild(fd: number): Promise<string> {
  const r = await run('/usr/bin/busybox', ['dd', 'bs=2048', 'count=1'], { stdio: [fd, 'pipe', 'pipe'], timeoutMs: 5000 });
  assert.equal(r.code, 0, `dd: ${r.stderr}`);
  return r.stdout;
}

const cases: [string, () => Promise<void>][] = [];
const inner = (name: string, fn: () => Promise<void>): void => void cases.push([name, fn]);

inner('a server socket is an open, blocking, CLOEXEC socket bound to the group; datagrams wait in it for another process', async () => {
  const driver = new NodeMulticastSockets();
  const server = await driver.openServer({ ip: '239.10.0.1', port: 15000 });
  const tx = await sender();
  try {
    assert.equal(server.kind, 'server');
    assert.deepEqual(server.local, { address: '239.10.0.1', port: 15000 });
    assert.match(linkOf(server.fd) ?? '', /^socket:\[\d+\]$/);
    const flags = Number.parseInt(/^flags:\s+(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${server.fd}`, 'utf8'))?.[1] ?? '', 8);
    assert.ok((flags & 0o2000000) !== 0, `O_CLOEXEC in flags ${flags.toString(8)}`);
    assert.equal(flags & 0o4000, 0, `O_NONBLOCK in flags ${flags.toString(8)}`);
    // Bound to the group, not to any address: the same port on another group or on 127.0.0.1 is not its traffic.
    await tx.send('other group', '239.10.0.2', 15000);
    await tx.send('unicast', '127.0.0.1', 15000);
    await tx.send('for the group', '239.10.0.1', 15000);
    await sleep(100); // this process's event loop runs meanwhile: it must not read the datagram itself
    assert.equal(await readInChild(server.fd), 'for the group');
  } finally {
    tx.close();
    server.close();
  }
});

inner('a reader in another process blocks on a server socket until a datagram comes, as with Dobby\'s sockets', async () => {
  const driver = new NodeMulticastSockets();
  const server = await driver.openServer({ ip: '239.10.0.9', port: 15006 });
  const client = await driver.openClient();
  const tx = await sender();
  try {
    assert.equal(await isNonBlocking(client.fd), false);
    const read = readInChild(server.fd); // started before anything was sent: must wait, not fail with EAGAIN
    await sleep(300);
    await tx.send('late datagram', '239.10.0.9', 15006);
    assert.equal(await read, 'late datagram');
  } finally {
    tx.close();
    server.close();
    client.close();
  }
});

inner('two server sockets on one group and port (SO_REUSEADDR) each get every datagram', async () => {
  const driver = new NodeMulticastSockets();
  const a = await driver.openServer({ ip: '239.10.0.3', port: 15001 });
  const b = await driver.openServer({ ip: '239.10.0.3', port: 15001 });
  const tx = await sender();
  try {
    await tx.send('to both', '239.10.0.3', 15001);
    assert.deepEqual(await Promise.all([readInChild(a.fd), readInChild(b.fd)]), ['to both', 'to both']);
  } finally {
    tx.close();
    a.close();
    b.close();
  }
});

inner('a client socket sends to a group from another process; the listener sees its port', async () => {
  const driver = new NodeMulticastSockets();
  const client = await driver.openClient();
  const rx = await listener('239.10.0.4', 15002);
  try {
    assert.equal(client.kind, 'client');
    assert.ok(client.local.port > 0);
    const script = 'import socket,sys; s=socket.socket(fileno=3); s.sendto(sys.argv[1].encode(), ("239.10.0.4", 15002))';
    const r = await run(PYTHON, ['-c', script, 'from the client fd'], { stdio: ['ignore', 'pipe', 'pipe', client.fd], timeoutMs: 10_000 });
    assert.equal(r.code, 0, r.stderr);
    const [text, from] = await rx.next;
    assert.equal(text, 'from the client fd');
    assert.equal(from.port, client.local.port);
  } finally {
    rx.close();
    client.close();
  }
});

inner('close releases the kernel socket at once, and again is harmless', async () => {
  const driver = new NodeMulticastSockets();
  const sockets: OpenSocket[] = [await driver.openServer({ ip: '239.10.0.5', port: 15003 }), await driver.openClient()];
  for (const s of sockets) {
    const link = linkOf(s.fd);
    assert.ok(link !== null);
    s.close();
    assert.equal(s.closed, true);
    assert.ok(!openFdLinks().includes(link), `${link} still open after close`);
    s.close();
  }
});

inner('opening and closing many sockets leaves the descriptor table as it was', async () => {
  const driver = new NodeMulticastSockets();
  await sleep(50);
  const before = openFdLinks().length;
  for (let round = 0; round < 20; round++) {
    const open = await Promise.all([driver.openServer({ ip: '239.10.0.6', port: 15004 }), driver.openClient(), driver.openServer({ ip: '239.10.0.7', port: 15004 })]);
    for (const s of open) s.close();
  }
  await sleep(50);
  assert.equal(openFdLinks().length, before);
});

inner('without a route for the group, opening a server fails HOST_UNSUITABLE, naming the group, and leaks nothing', async () => {
  const driver = new NodeMulticastSockets();
  const del = await run('ip', ['route', 'del', '224.0.0.0/4', 'dev', 'lo']);
  assert.equal(del.code, 0, del.stderr);
  try {
    await sleep(20);
    const before = openFdLinks().length;
    await assert.rejects(driver.openServer({ ip: '239.10.0.8', port: 15005 }), (err: DobbyError) => {
      assert.ok(err instanceof DobbyError);
      assert.equal(err.code, 'HOST_UNSUITABLE');
      assert.equal(err.message, 'cannot join multicast group 239.10.0.8 for server socket 239.10.0.8:15005: ENODEV; the host needs a route for the group (a default route or one for 224.0.0.0/4)');
      return true;
    });
    await sleep(20);
    assert.equal(openFdLinks().length, before);
  } finally {
    const add = await run('ip', ['route', 'add', '224.0.0.0/4', 'dev', 'lo']);
    assert.equal(add.code, 0, add.stderr);
  }
});

if (multicastNetnsHere() === null) {
  testInOwnNetns('multicast socket driver, inside a private network namespace', fileURLToPath(import.meta.url), cases.length, 120_000, 100_000);
} else {
  describe('multicast socket driver (in its network namespace)', () => {
    for (const [name, fn] of cases) test(name, fn);
  });
}
