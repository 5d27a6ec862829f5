// For multicastForwarding tests: a private smcrouted in the test's stand-in host namespace (its own
// identity and config file, started and stopped by pid), and a multicast receiver and sender run in
// any network namespace.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../../src/drivers/process.ts';
import { startListening } from './netns.ts';

/** Joins each group on the interface with `address`, on each port; prints `GOT <port> <text>` per datagram after 'listening'. */
const RECEIVER = `
const dgram = require('node:dgram');
const [address, groups, ports] = process.argv.slice(2);
let ready = 0;
const all = ports.split(',');
for (const port of all) {
  const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  s.on('message', (m) => { process.stdout.write('GOT ' + port + ' ' + m.toString() + '\\n'); });
  s.bind(Number(port), '0.0.0.0', () => {
    for (const g of groups.split(',')) s.addMembership(g, address);
    if (++ready === all.length) process.stdout.write('listening\\n');
  });
}
`;

/** Sends a JSON list of {group, port, text} out of the interface with address argv[2], TTL 1 (what senders mostly use); prints SENT. */
const SENDER = `
const dgram = require('node:dgram');
const [address, list] = process.argv.slice(2);
const s = dgram.createSocket('udp4');
s.bind({ address, port: 0 }, async () => {
  s.setMulticastInterface(address);
  s.setMulticastTTL(1);
  for (const d of JSON.parse(list)) await new Promise((ok, ko) => s.send(d.text, d.port, d.group, (e) => (e ? ko(e) : ok())));
  s.close();
  process.stdout.write('SENT\\n');
});
`;

export interface Receiver {
  /** The texts that arrived on a port. */
  got(port: number): string[];
  stop(): Promise<void>;
}

export interface Smcrouted {
  readonly identity: string;
  readonly configFile: string;
  readonly pid: number;
  /** What it logged so far. */
  log(): string;
  /** Waits until its log (after `from` characters) has a line containing `text`; false after 10 s. */
  logged(text: string, from?: number): Promise<boolean>;
  stop(): Promise<void>;
}

export interface MulticastKit {
  /** Starts smcrouted in `hostNs` with a config file holding `initial`. */
  smcrouted(hostNs: string, identity: string, initial: string): Promise<Smcrouted>;
  /** A receiver in the netns of `pid` joined to the groups on the interface with `address`. */
  receive(pid: number, address: string, groups: readonly string[], ports: readonly number[]): Promise<Receiver>;
  /** Sends from a named netns out of the interface with `address`. */
  send(netns: string, address: string, datagrams: readonly { readonly group: string; readonly port: number; readonly text: string }[]): Promise<void>;
  /** Stops everything started; removes the files. Idempotent. */
  cleanup(): Promise<void>;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const killed = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
  if (!killed) {
    child.kill('SIGKILL');
    await exited;
  }
}

export function multicastKit(): MulticastKit {
  const dir = mkdtempSync('/tmp/dobby-mcast-');
  writeFileSync(join(dir, 'receiver.cjs'), RECEIVER);
  writeFileSync(join(dir, 'sender.cjs'), SENDER);
  const children: ChildProcess[] = [];
  const identities: string[] = [];
  const node = process.execPath;
  const env = { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
  let cleaned: Promise<void> | null = null;

  return {
    async smcrouted(hostNs, identity, initial) {
      const configFile = join(dir, `${identity}.conf`);
      writeFileSync(configFile, initial);
      const socket = `/run/${identity}.sock`;
      if (existsSync(socket)) throw new Error(`${socket} exists already: another smcrouted has identity ${identity}`);
      identities.push(identity);
      // nsenter execs smcrouted in place, so the child's pid is the daemon's.
      const child = spawn('nsenter', [`--net=/run/netns/${hostNs}`, '--', 'smcrouted', '-n', '-f', configFile, '-i', identity, '-l', 'debug'], { stdio: ['ignore', 'pipe', 'pipe'], env });
      children.push(child);
      let log = '';
      child.stdout?.on('data', (d: Buffer) => { log += d.toString(); });
      child.stderr?.on('data', (d: Buffer) => { log += d.toString(); });
      for (let i = 0; i < 200 && !existsSync(socket); i++) {
        if (child.exitCode !== null) throw new Error(`smcrouted exited ${child.exitCode}: ${log}`);
        await sleep(25);
      }
      if (!existsSync(socket)) throw new Error(`smcrouted made no ${socket} in 5 s: ${log}`);
      const pid = child.pid;
      if (pid === undefined || readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'smcrouted') throw new Error('the process started is not smcrouted');
      return {
        identity, configFile, pid,
        log: () => log,
        async logged(text, from = 0) {
          for (let i = 0; i < 400; i++) {
            if (log.slice(from).includes(text)) return true;
            await sleep(25);
          }
          return false;
        },
        stop: () => stopChild(child),
      };
    },

    async receive(pid, address, groups, ports) {
      const argv = ['nsenter', `--net=/proc/${pid}/ns/net`, '--', node, join(dir, 'receiver.cjs'), address, groups.join(','), ports.join(',')];
      const { out, child } = await startListening(argv, env, `the receiver in the netns of ${pid}`, children);
      return {
        got: (port) => out().split('\n').filter((l) => l.startsWith(`GOT ${port} `)).map((l) => l.slice(`GOT ${port} `.length)),
        stop: () => stopChild(child),
      };
    },

    async send(netns, address, datagrams) {
      const r = await run('ip', ['netns', 'exec', netns, node, join(dir, 'sender.cjs'), address, JSON.stringify(datagrams)], { env });
      if (r.code !== 0 || r.stdout.trim() !== 'SENT') throw new Error(`sending from ${netns} failed (${r.code}): ${r.stderr}`);
    },

    cleanup: () => (cleaned ??= (async () => {
      for (const child of children) await stopChild(child);
      // A daemon that had to be killed leaves its socket and pid file.
      for (const identity of identities) for (const f of [`/run/${identity}.sock`, `/run/${identity}.pid`]) rmSync(f, { force: true });
      rmSync(dir, { recursive: true, force: true });
    })()),
  };
}
