// Test network namespaces for the port drivers: a "host", a "container" behind a veth, and an outside client.
//
//   client ns (X) ── veth ── host ns (H) ── veth ── container ns (C)
//   10.213.2.2/24          10.213.2.1 | 10.213.1.1        10.213.1.2/24
//   fd00:d0b:2::2/64       fd00:d0b:2::1 | fd00:d0b:1::1  fd00:d0b:1::2/64
//
// The addresses exist only inside these namespaces; nothing is sent anywhere else.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { run } from '../../../src/drivers/process.ts';
import { PortError } from '../../../src/ports/port-errors.ts';

export const ADDR = {
  host4: '10.213.1.1', ctr4: '10.213.1.2', host6: 'fd00:d0b:1::1', ctr6: 'fd00:d0b:1::2',
  hostX4: '10.213.2.1', client4: '10.213.2.2', hostX6: 'fd00:d0b:2::1', client6: 'fd00:d0b:2::2',
} as const;

const NODE = process.execPath;

export interface Topology {
  readonly tag: string;
  readonly host: string;
  readonly ctr: string;
  readonly client: string;
  destroy(): Promise<void>;
}

async function sh(args: readonly string[]): Promise<string> {
  const r = await run(args[0]!, args.slice(1), { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

export async function makeTopology(): Promise<Topology> {
  const tag = randomBytes(3).toString('hex');
  const host = `dp-${tag}-h`;
  const ctr = `dp-${tag}-c`;
  const client = `dp-${tag}-x`;
  const made: string[] = [];
  const destroy = async (): Promise<void> => {
    for (const ns of made.splice(0)) await run('ip', ['netns', 'del', ns], { timeoutMs: 20_000 });
  };
  try {
    for (const ns of [host, ctr, client]) {
      await sh(['ip', 'netns', 'add', ns]);
      made.push(ns);
      await sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    }
    const pair = async (a: string, b: string, ifA: string, ifB: string, addrA: [string, string], addrB: [string, string]): Promise<void> => {
      await sh(['ip', 'link', 'add', ifA, 'netns', a, 'type', 'veth', 'peer', 'name', ifB, 'netns', b]);
      await sh(['ip', '-n', a, 'addr', 'add', `${addrA[0]}/24`, 'dev', ifA]);
      await sh(['ip', '-n', a, 'addr', 'add', `${addrA[1]}/64`, 'dev', ifA, 'nodad']);
      await sh(['ip', '-n', b, 'addr', 'add', `${addrB[0]}/24`, 'dev', ifB]);
      await sh(['ip', '-n', b, 'addr', 'add', `${addrB[1]}/64`, 'dev', ifB, 'nodad']);
      await sh(['ip', '-n', a, 'link', 'set', ifA, 'up']);
      await sh(['ip', '-n', b, 'link', 'set', ifB, 'up']);
    };
    await pair(host, ctr, `dph${tag}`, 'eth0', [ADDR.host4, ADDR.host6], [ADDR.ctr4, ADDR.ctr6]);
    await pair(host, client, `dpx${tag}`, 'eth0', [ADDR.hostX4, ADDR.hostX6], [ADDR.client4, ADDR.client6]);
    await sh(['ip', '-n', ctr, 'route', 'add', 'default', 'via', ADDR.host4]);
    await sh(['ip', '-n', ctr, '-6', 'route', 'add', 'default', 'via', ADDR.host6]);
    await sh(['ip', '-n', client, 'route', 'add', 'default', 'via', ADDR.hostX4]);
    await sh(['ip', '-n', client, '-6', 'route', 'add', 'default', 'via', ADDR.hostX6]);
    await sh(['ip', 'netns', 'exec', host, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
  } catch (err) {
    await destroy();
    throw err;
  }
  return { tag, host, ctr, client, destroy };
}

const ECHO = `
import net from 'node:net';
import dgram from 'node:dgram';
const [proto, host, port] = process.argv.slice(1);
if (proto === 'tcp') {
  const s = net.createServer({ allowHalfOpen: true }, (c) => {
    const chunks = [];
    c.on('data', (d) => chunks.push(d));
    c.on('end', () => c.end(c.remoteAddress + '|' + Buffer.concat(chunks).toString()));
    c.on('error', () => {});
  });
  s.listen({ host, port: Number(port), ipv6Only: host.includes(':') }, () => console.log('ready'));
} else {
  const s = dgram.createSocket(host.includes(':') ? { type: 'udp6', ipv6Only: true } : 'udp4');
  s.on('message', (m, r) => s.send(r.address + '|' + m.toString(), r.port, r.address));
  s.bind(Number(port), host, () => console.log('ready'));
}
`;

const CLIENT = `
import net from 'node:net';
import dgram from 'node:dgram';
const [proto, host, port, payload] = process.argv.slice(1);
const timer = setTimeout(() => { console.error('timeout'); process.exit(3); }, 8000);
if (proto === 'tcp') {
  const c = net.connect({ host, port: Number(port), allowHalfOpen: true });
  const chunks = [];
  c.on('connect', () => c.end(payload));
  c.on('data', (d) => chunks.push(d));
  c.on('end', () => { clearTimeout(timer); process.stdout.write(Buffer.concat(chunks).toString()); });
  c.on('error', (e) => { console.error(e.code ?? e.message); process.exit(2); });
} else {
  const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const send = () => s.send(payload, Number(port), host);
  s.on('message', (m) => { clearTimeout(timer); process.stdout.write(m.toString()); s.close(); clearInterval(retry); });
  // UDP has no handshake: resend until the first answer (the proxy may still be setting up).
  const retry = setInterval(send, 300);
  send();
}
`;

export interface EchoServer {
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

/** A TCP or UDP echo server in `ns` that answers `<peer address>|<what it got>` (TCP: after the client half-closes). */
export async function echoServer(ns: string, proto: 'tcp' | 'udp', host: string, port: number): Promise<EchoServer> {
  const child = spawn('ip', ['netns', 'exec', ns, NODE, '--input-type=module', '-e', ECHO, proto, host, String(port)], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] ?? '' } });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`echo server in ${ns} exited ${code}: ${err}`)));
  });
  return {
    process: child,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await once(child, 'exit');
    },
  };
}

/** One request from a client in `ns`; resolves with the reply text or rejects with what went wrong. */
export async function ask(ns: string, proto: 'tcp' | 'udp', host: string, port: number, payload: string): Promise<string> {
  const r = await run('ip', ['netns', 'exec', ns, NODE, '--input-type=module', '-e', CLIENT, proto, host, String(port), payload], { timeoutMs: 15_000 });
  if (r.code !== 0) throw new Error(`client in ${ns} → ${proto} ${host}:${port} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** Everything that could leak: both families' rule sets and the listening sockets of a namespace. */
export async function snapshot(ns: string): Promise<string> {
  // With the nft backend the first iptables call creates the table and its base chains for good; an
  // empty table (base chains with policy ACCEPT, no rules) is what no table means, so both read alike.
  const strip = (s: string): string => {
    const lines = s.split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/ \[\d+:\d+\]/, ''));
    const out: string[] = [];
    let block: string[] = [];
    for (const line of lines) {
      if (line.startsWith('*')) block = [line];
      else if (block.length > 0) {
        block.push(line);
        if (line === 'COMMIT') {
          const empty = block.slice(1, -1).every((l) => /^:[A-Z]+ ACCEPT$/.test(l));
          if (!empty) out.push(...block);
          block = [];
        }
      } else if (line !== '') out.push(line);
    }
    return out.join('\n');
  };
  const v4 = await sh(['ip', 'netns', 'exec', ns, 'iptables-save']);
  const v6 = await sh(['ip', 'netns', 'exec', ns, 'ip6tables-save']);
  const ss = await sh(['ip', 'netns', 'exec', ns, 'ss', '-Hlntu']);
  const localnet = await sh(['ip', 'netns', 'exec', ns, 'sysctl', '-a', '--pattern', 'route_localnet']);
  return `${strip(v4)}\n${strip(v6)}\n${ss}\n${localnet}`;
}

export async function iptablesSave(ns: string): Promise<string> {
  return (await sh(['ip', 'netns', 'exec', ns, 'iptables-save'])) + (await sh(['ip', 'netns', 'exec', ns, 'ip6tables-save']));
}

/** Expects a PortError with this reason and a message matching `pattern`. */
export async function refused(promise: Promise<unknown>, reason: string, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof PortError, `expected a PortError, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    assert.match(err.message, pattern);
    return true;
  });
}
