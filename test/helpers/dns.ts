// A real DNS responder (UDP and TCP, RFC 1035 packets) run in a network namespace of a test, and a
// client that asks it from any namespace: for dnsmasq, whose queries must reach the host's resolver.
// The responder answers A queries for the names it is given, an empty NOERROR for other types of
// those names, NXDOMAIN for the rest, and prints every question it gets with its source.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after } from 'node:test';
import { run } from '../../src/drivers/process.ts';

/** The DNS message for a question and the answer to it; shared by the responder and the client. */
const CODEC = `
function readName(buf, start) {
  const labels = [];
  let off = start;
  while (off < buf.length && buf[off] !== 0) {
    const len = buf[off];
    if (len > 63 || off + 1 + len > buf.length) return null;
    labels.push(buf.subarray(off + 1, off + 1 + len).toString('latin1'));
    off += len + 1;
  }
  return off < buf.length ? { name: labels.join('.').toLowerCase(), end: off + 1 } : null;
}
function encodeName(name) {
  return Buffer.concat([...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
}
`;

const RESPONDER = `${CODEC}
const dgram = require('node:dgram');
const net = require('node:net');
const [host, port, answersJson] = process.argv.slice(2);
const answers = JSON.parse(answersJson);
function respond(q, from, proto) {
  if (q.length < 12 || (q.readUInt16BE(2) & 0x8000) !== 0 || q.readUInt16BE(4) !== 1) return null;
  const n = readName(q, 12);
  if (n === null || n.end + 4 > q.length) return null;
  const qtype = q.readUInt16BE(n.end);
  const qclass = q.readUInt16BE(n.end + 2);
  process.stdout.write('QUERY ' + from + ' ' + proto + ' ' + n.name + ' ' + qtype + '\\n');
  const address = answers[n.name];
  const found = address !== undefined && qtype === 1 && qclass === 1;
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.readUInt16BE(0), 0);
  header.writeUInt16BE(0x8000 | (q.readUInt16BE(2) & 0x0100) | 0x0080 | (address === undefined ? 3 : 0), 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(found ? 1 : 0, 6);
  const parts = [header, q.subarray(12, n.end + 4)];
  if (found) {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); rr.writeUInt16BE(1, 2); rr.writeUInt16BE(1, 4); rr.writeUInt32BE(60, 6); rr.writeUInt16BE(4, 10);
    address.split('.').forEach((b, i) => { rr[12 + i] = Number(b); });
    parts.push(rr);
  }
  return Buffer.concat(parts);
}
let ready = 0;
const up = () => { if (++ready === 2) process.stdout.write('listening\\n'); };
const udp = dgram.createSocket('udp4');
udp.on('message', (m, r) => { const a = respond(m, r.address, 'udp'); if (a !== null) udp.send(a, r.port, r.address); });
udp.bind(Number(port), host, up);
net.createServer((s) => {
  let got = Buffer.alloc(0);
  s.on('error', () => {});
  s.on('data', (d) => {
    got = Buffer.concat([got, d]);
    while (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) {
      const a = respond(got.subarray(2, 2 + got.readUInt16BE(0)), s.remoteAddress, 'tcp');
      got = got.subarray(2 + got.readUInt16BE(0));
      if (a !== null) { const len = Buffer.alloc(2); len.writeUInt16BE(a.length); s.write(Buffer.concat([len, a])); }
    }
  });
}).listen(Number(port), host, up);
`;

/** Prints the A record's address, NXDOMAIN/NOANSWER, or ERR <code> (ETIMEDOUT after 3 s). */
const CLIENT = `${CODEC}
const dgram = require('node:dgram');
const net = require('node:net');
const [server, name, proto] = process.argv.slice(2);
const q = Buffer.concat([Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]), encodeName(name), Buffer.from([0, 1, 0, 1])]);
const done = (text) => { process.stdout.write(text + '\\n'); process.exit(0); };
const timer = setTimeout(() => done('ERR ETIMEDOUT'), 3000);
function answer(a) {
  clearTimeout(timer);
  if (a.readUInt16BE(0) !== 0x1234 || (a.readUInt16BE(2) & 0x8000) === 0) return done('ERR BADREPLY');
  if ((a.readUInt16BE(2) & 0xf) === 3) return done('NXDOMAIN');
  if (a.readUInt16BE(6) === 0) return done('NOANSWER');
  const n = readName(a, 12);
  const rr = n.end + 4;
  done([...a.subarray(rr + 12, rr + 16)].join('.'));
}
if (proto === 'tcp') {
  const s = net.connect({ host: server, port: 53 });
  let got = Buffer.alloc(0);
  s.on('connect', () => { const len = Buffer.alloc(2); len.writeUInt16BE(q.length); s.write(Buffer.concat([len, q])); });
  s.on('data', (d) => { got = Buffer.concat([got, d]); if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) answer(got.subarray(2)); });
  s.on('error', (e) => done('ERR ' + (e.code || e.message)));
} else {
  const s = dgram.createSocket('udp4');
  s.on('message', (m) => answer(m));
  s.on('error', (e) => done('ERR ' + (e.code || e.message)));
  s.send(q, 53, server);
}
`;

export interface DnsResponder {
  /** The questions so far: source address, udp/tcp, name. */
  queries(): readonly { readonly from: string; readonly proto: string; readonly name: string }[];
  stop(): Promise<void>;
}

function enter(where: string | number): string[] {
  return typeof where === 'number' ? ['nsenter', `--net=/proc/${where}/ns/net`, '--'] : ['ip', 'netns', 'exec', where];
}

const scripts = mkdtempSync('/tmp/dobby-dns-');
writeFileSync(join(scripts, 'responder.cjs'), RESPONDER);
writeFileSync(join(scripts, 'client.cjs'), CLIENT);
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(scripts, { recursive: true, force: true });
});

/** Starts a responder on host:53 (udp and tcp) in a namespace (netns name or pid); stopped at the end of the file. */
export async function startDnsResponder(where: string | number, host: string, answers: Readonly<Record<string, string>>): Promise<DnsResponder> {
  const argv = [...enter(where), process.execPath, join(scripts, 'responder.cjs'), host, '53', JSON.stringify(answers)];
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let out = '';
  await new Promise<void>((resolve, reject) => {
    let err = '';
    child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
    child.stdout?.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('listening')) resolve(); });
    child.once('exit', (code) => reject(new Error(`the DNS responder in ${where} exited ${code}: ${err}`)));
  });
  return {
    queries: () => out.split('\n').filter((l) => l.startsWith('QUERY ')).map((l) => {
      const [, from = '', proto = '', name = ''] = l.split(' ');
      return { from, proto, name };
    }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Asks `server`:53 for the A record of `name` from a namespace: the address, NXDOMAIN, NOANSWER or ERR <code>. */
export async function dnsQuery(where: string | number, server: string, name: string, proto: 'udp' | 'tcp'): Promise<string> {
  const argv = [...enter(where), process.execPath, join(scripts, 'client.cjs'), server, name, proto];
  const r = await run(argv[0] as string, argv.slice(1));
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout.trim();
}
