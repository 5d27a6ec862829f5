// Network namespaces a test makes itself: a "host" (where the bridge goes) and an "external" host
// joined to it by a veth pair, TEST-NET addresses only, plus TCP probes run in any namespace.
// Everything is removed at the end (node:test `after`), also when a test fails.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { after } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { run } from '../../src/drivers/process.ts';

/**
 * Starts `argv` (a test's helper script), keeping the child in `children` for the clean-up, and
 * resolves once it prints 'listening', with its stdout so far as it grows; rejects, with its
 * stderr, when it exits first.
 */
export async function startListening(
  argv: readonly string[], env: NodeJS.ProcessEnv, what: string, children: ChildProcess[],
): Promise<{ out: () => string; child: ChildProcess }> {
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env });
  children.push(child);
  let out = '';
  await new Promise<void>((resolve, reject) => {
    let err = '';
    child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
    child.stdout?.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('listening')) resolve(); });
    child.once('exit', (code) => reject(new Error(`${what} exited ${code}: ${err}`)));
  });
  return { out: () => out, child };
}

export const HOST_EXT_IFACE = 'ext0';
export const HOST_ADDR4 = '192.0.2.1';
export const EXT_ADDR4 = '192.0.2.2';
export const HOST_ADDR6 = '2001:db8:6::1';
export const EXT_ADDR6 = '2001:db8:6::2';

/** Prints the peer's address to each client, then closes: the external side's view of the source. */
const PEER_SERVER = `
const net = require('node:net');
const [host, port] = process.argv.slice(2);
const server = net.createServer((s) => { s.end(s.remoteAddress.replace(/^::ffff:/, '') + '\\n'); });
server.listen(Number(port), host, () => process.stdout.write('listening\\n'));
`;

/** Connects, prints what the server said or ERR <code> (ETIMEDOUT after the timeout, default 5 s). */
const CLIENT = `
const net = require('node:net');
const [host, port, localAddress, timeout] = process.argv.slice(2);
const s = net.connect({ host, port: Number(port), timeout: Number(timeout || 5000), ...(localAddress ? { localAddress } : {}) });
let got = '';
s.on('data', (d) => { got += d; });
s.on('end', () => { process.stdout.write('OK ' + got.trim() + '\\n'); });
s.on('timeout', () => { process.stdout.write('ERR ETIMEDOUT\\n'); s.destroy(); });
s.on('error', (e) => { process.stdout.write('ERR ' + (e.code || e.message) + '\\n'); });
`;

/** Prints `FROM <source> <port> <text>` for every datagram to any of its ports, after a 'listening' line. */
const UDP_SINK = `
const dgram = require('node:dgram');
const [host, ports] = process.argv.slice(2);
let ready = 0;
for (const port of ports.split(',')) {
  const s = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4' });
  s.on('message', (m, r) => { process.stdout.write('FROM ' + r.address + ' ' + port + ' ' + m.toString() + '\\n'); });
  s.bind(Number(port), host, () => { if (++ready === ports.split(',').length) process.stdout.write('listening\\n'); });
}
`;

/** Sends a JSON list of {host, port, from?, text, count?} datagrams, then prints SENT; ERR <code> when one failed. */
const UDP_SEND = `
const dgram = require('node:dgram');
const sends = JSON.parse(process.argv[2]);
const one = (d) => new Promise((resolve, reject) => {
  const s = dgram.createSocket({ type: d.host.includes(':') ? 'udp6' : 'udp4' });
  s.on('error', reject);
  const go = async () => {
    for (let i = 0; i < (d.count ?? 1); i++) {
      await new Promise((ok, ko) => s.send(d.text + ' ' + i, d.port, d.host, (e) => (e ? ko(e) : ok())));
    }
    s.close();
    resolve();
  };
  if (d.from) s.bind({ address: d.from, port: 0 }, () => go().catch(reject)); else go().catch(reject);
});
(async () => { for (const d of sends) await one(d); process.stdout.write('SENT\\n'); })()
  .catch((e) => { process.stdout.write('ERR ' + (e.code || e.message) + '\\n'); });
`;

/** One datagram (or `count` of them) for udpSend; `from` binds the sending socket to that address. */
export interface Datagram {
  readonly host: string;
  readonly port: number;
  readonly from?: string;
  readonly text: string;
  readonly count?: number;
}

/** What a UDP sink got so far: the source address, the port it came to and the text of each datagram. */
export interface UdpSink {
  received(): readonly { readonly from: string; readonly port: number; readonly text: string }[];
  /** Stops the sink (its ports are free again once this resolves). */
  stop(): Promise<void>;
}

export interface TestNetwork {
  readonly tag: string;
  readonly hostNs: string;
  readonly extNs: string;
  /** Runs a command in the host namespace and returns stdout (throws on failure). */
  inHost(argv: readonly string[]): Promise<string>;
  /** Starts a peer-printing TCP server in a namespace (netns name or pid); stopped at cleanup. */
  serve(where: string | number, host: string, port: number): Promise<void>;
  /** Connects from a namespace (netns name or pid): `OK <address the server saw>` or `ERR <code>`. */
  connect(where: string | number, host: string, port: number, localAddress?: string, timeoutMs?: number): Promise<string>;
  /** Starts a UDP sink in a namespace (netns name or pid); stopped at cleanup. */
  udpSink(where: string | number, host: string, ports: readonly number[]): Promise<UdpSink>;
  /** Sends datagrams from a namespace, one after another: `SENT` or `ERR <code>`. */
  udpSend(where: string | number, datagrams: readonly Datagram[]): Promise<string>;
  /** A sleeping process in a network namespace of its own (a container's, without crun); killed at cleanup. */
  namespaceProcess(): Promise<{ readonly pid: number; kill(): Promise<void> }>;
  /** iptables-save (v4 and v6) and ebtables-save of the host ns, links, routes: for before/after comparison. */
  snapshot(): Promise<string>;
  cleanup(): Promise<void>;
}

async function must(argv: readonly string[]): Promise<string> {
  const [file, ...args] = argv as [string, ...string[]];
  const r = await run(file, args);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

function enter(where: string | number): string[] {
  return typeof where === 'number' ? ['nsenter', `--net=/proc/${where}/ns/net`, '--'] : ['ip', 'netns', 'exec', where];
}

/** Strips what changes on its own (dates, counters) from iptables-save output. */
function normaliseSave(text: string): string {
  return text.split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/, '')).join('\n');
}

export async function makeTestNetwork(options: { register?: boolean } = {}): Promise<TestNetwork> {
  const tag = randomBytes(3).toString('hex');
  const hostNs = `dt-h6h-${tag}`;
  const extNs = `dt-h6e-${tag}`;
  const scripts = mkdtempSync('/tmp/dobby-h6-net-');
  writeFileSync(join(scripts, 'server.cjs'), PEER_SERVER);
  writeFileSync(join(scripts, 'client.cjs'), CLIENT);
  writeFileSync(join(scripts, 'udp-sink.cjs'), UDP_SINK);
  writeFileSync(join(scripts, 'udp-send.cjs'), UDP_SEND);
  const servers: ChildProcess[] = [];
  let cleaned: Promise<void> | null = null;
  const cleanup = (): Promise<void> => (cleaned ??= (async () => {
    for (const s of servers) if (s.exitCode === null && s.pid !== undefined) s.kill('SIGKILL');
    await run('ip', ['netns', 'del', extNs]);
    await run('ip', ['netns', 'del', hostNs]);
    rmSync(scripts, { recursive: true, force: true });
  })());
  if (options.register !== false) after(() => cleanup());

  try {
    await setUp();
  } catch (err) {
    // A failing set-up at a file's top level never reaches node:test's after hooks: clean up here.
    await cleanup();
    throw err;
  }

  async function setUp(): Promise<void> {
    await must(['ip', 'netns', 'add', hostNs]);
    await must(['ip', 'netns', 'add', extNs]);
    const batch = [
      `link set lo up`,
      `link add ${HOST_EXT_IFACE} type veth peer name up0 netns ${extNs}`,
      `addr add ${HOST_ADDR4}/24 dev ${HOST_EXT_IFACE}`,
      `addr add ${HOST_ADDR6}/64 dev ${HOST_EXT_IFACE} nodad`,
      `link set ${HOST_EXT_IFACE} up`,
    ].join('\n');
    const r = await run('sh', ['-c', `printf '%s\\n' "$1" | ip -n ${hostNs} -batch -`, 'sh', batch]);
    if (r.code !== 0) throw new Error(`setting up ${hostNs}: ${r.stderr}`);
    for (const cmd of [
      ['link', 'set', 'lo', 'up'], ['addr', 'add', `${EXT_ADDR4}/24`, 'dev', 'up0'], ['-6', 'addr', 'add', `${EXT_ADDR6}/64`, 'dev', 'up0', 'nodad'], ['link', 'set', 'up0', 'up'],
    ]) await must(['ip', '-n', extNs, ...cmd]);

    // A host has its tables, and rules of others that ours must leave where they are.
    for (const tool of ['iptables', 'ip6tables']) {
      const other = tool === 'iptables' ? '198.51.100.7' : '2001:db8:99::7';
      await must(['ip', 'netns', 'exec', hostNs, tool, '-t', 'filter', '-A', 'FORWARD', '-s', other, '-m', 'comment', '--comment', 'someone else', '-j', 'DROP']);
      await must(['ip', 'netns', 'exec', hostNs, tool, '-t', 'nat', '-A', 'POSTROUTING', '-d', other, '-m', 'comment', '--comment', 'someone else', '-j', 'RETURN']);
    }
    await must(['ip', 'netns', 'exec', hostNs, 'ebtables', '-A', 'FORWARD', '-s', '02:00:5e:00:53:07', '-j', 'DROP']);
    await must(['ip', 'netns', 'exec', hostNs, 'ebtables', '-t', 'nat', '-A', 'PREROUTING', '-s', '02:00:5e:00:53:08', '-j', 'DROP']);
  }

  const node = process.execPath;
  /** Starts a script that prints 'listening' once ready; resolves with its stdout so far, as it grows. */
  const listen = async (where: string | number, script: string, args: readonly string[]): Promise<{ out: () => string; child: ChildProcess }> => {
    const argv = [...enter(where), node, join(scripts, script), ...args];
    return startListening(argv, { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' }, `${script} in ${where}`, servers);
  };
  return {
    tag, hostNs, extNs,
    inHost: (argv) => must(['ip', 'netns', 'exec', hostNs, ...argv]),
    async serve(where, host, port) {
      await listen(where, 'server.cjs', [host, String(port)]);
    },
    async namespaceProcess() {
      const child = spawn('unshare', ['--net', 'sleep', '100000'], { stdio: 'ignore' });
      servers.push(child);
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const pid = child.pid;
      if (pid === undefined) throw new Error('unshare did not start');
      const own = statSync('/proc/self/ns/net').ino;
      // unshare execs sleep in the same process once the namespace is there.
      while (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'sleep' || statSync(`/proc/${pid}/ns/net`).ino === own) {
        if (child.exitCode !== null) throw new Error(`unshare --net exited ${child.exitCode}`);
        await sleep(5);
      }
      return {
        pid,
        kill: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          await exited;
        },
      };
    },
    async udpSink(where, host, ports) {
      const { out, child } = await listen(where, 'udp-sink.cjs', [host, ports.join(',')]);
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      return {
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          await exited;
        },
        received: () => out().split('\n').filter((l) => l.startsWith('FROM ')).map((l) => {
          const [, from = '', port = '', ...text] = l.split(' ');
          return { from, port: Number(port), text: text.join(' ') };
        }),
      };
    },
    async udpSend(where, datagrams) {
      return (await must([...enter(where), node, join(scripts, 'udp-send.cjs'), JSON.stringify(datagrams)])).trim();
    },
    async connect(where, host, port, localAddress, timeoutMs) {
      return (await must([...enter(where), node, join(scripts, 'client.cjs'), host, String(port), localAddress ?? '', String(timeoutMs ?? 5000)])).trim();
    },
    async snapshot() {
      const parts = await Promise.all([
        must(['ip', 'netns', 'exec', hostNs, 'iptables-save']).then(normaliseSave),
        must(['ip', 'netns', 'exec', hostNs, 'ip6tables-save']).then(normaliseSave),
        must(['ip', 'netns', 'exec', hostNs, 'ebtables-save']).then(normaliseSave),
        must(['ip', '-n', hostNs, '-o', 'link', 'show']).then((t) => t.split('\n').map((l) => l.replace(/^\d+: /, '').replace(/link\/ether \S+/, '').split(' ')[0]).sort().join('\n')),
        // Link-local addresses come and go with the kernel's own timing; they are not ours to leak.
        must(['ip', '-n', hostNs, '-o', 'addr', 'show']).then((t) => t.split('\n').map((l) => l.split(/\s+/).slice(1, 4).join(' ')).filter((l) => !/ inet6 fe80:/.test(l)).sort().join('\n')),
        must(['ip', 'netns', 'exec', hostNs, 'sysctl', '-n', 'net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding']),
      ]);
      return parts.join('\n----\n');
    },
    cleanup,
  };
}
