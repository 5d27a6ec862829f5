// The spoofing scenario of issue 11 as a reusable witness: `c` takes `b`'s address on its own eth0
// and sends UDP datagrams to `a` from it; `b` then sends one of its own. A datagram of c's that
// reaches a is a hole; b's must arrive (so the sink, a's rules and the path work at all).

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../../src/drivers/process.ts';
import type { TestNetwork } from './netns.ts';

/** A namespace with a nat address: a pid whose netns holds eth0, and its addresses. */
export interface Endpoint {
  readonly pid: number;
  readonly ipv4: string | null;
  readonly ipv6: string | null;
}

export const SPOOF_UDP_PORT = 7101;

/** interContainer data of the three roles: a serves 7100/tcp and 7101/udp, b may dial them, c nothing. */
export const ROLE_DATA = {
  a: [{ direction: 'in', port: 7100, protocol: 'tcp' }, { direction: 'in', port: SPOOF_UDP_PORT, protocol: 'udp' }],
  b: [{ direction: 'out', port: 7100, protocol: 'tcp' }, { direction: 'out', port: SPOOF_UDP_PORT, protocol: 'udp' }],
  c: [],
} as const;

/** Runs a command in a pid's network namespace; throws with its stderr when it fails. */
export async function inNetns(pid: number, argv: readonly string[]): Promise<string> {
  const r = await run('nsenter', [`--net=/proc/${pid}/ns/net`, '--', ...argv]);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} in the netns of ${pid} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** The MAC address of a namespace's eth0. */
export async function macOf(pid: number): Promise<string> {
  const [link] = JSON.parse(await inNetns(pid, ['ip', '-j', 'link', 'show', 'dev', 'eth0'])) as { address: string }[];
  assert.ok(link !== undefined);
  return link.address;
}

function addressOf(e: Endpoint, family: 4 | 6): string {
  const address = family === 4 ? e.ipv4 : e.ipv6;
  assert.ok(address !== null, `no IPv${family} address`);
  return address;
}

export interface SpoofResult {
  /** What a's sink got, by the text each sender put in. */
  readonly spoofed: number;
  readonly cOwn: number;
  readonly legit: number;
  readonly sources: readonly string[];
}

/**
 * One round of the scenario over one family. c is given everything an attacker with CAP_NET_ADMIN
 * in its namespace could set up: b's address on its eth0 and a static neighbour entry for a (so no
 * ARP or neighbour discovery of its own is needed); only the firewall may stop the datagrams.
 * `tag` tells the rounds apart in the sink. The round ends when b's datagram has arrived.
 */
export async function spoofRound(net: TestNetwork, roles: { readonly a: Endpoint; readonly b: Endpoint; readonly c: Endpoint }, family: 4 | 6, tag: string): Promise<SpoofResult> {
  const { a, b, c } = roles;
  const [addrA, addrB, addrC] = [addressOf(a, family), addressOf(b, family), addressOf(c, family)];
  const sink = await net.udpSink(a.pid, family === 4 ? '0.0.0.0' : '::', [SPOOF_UDP_PORT]);
  await inNetns(c.pid, ['ip', 'addr', 'replace', family === 4 ? `${addrB}/32` : `${addrB}/128`, 'dev', 'eth0', ...(family === 6 ? ['nodad'] : [])]);
  await inNetns(c.pid, ['ip', 'neigh', 'replace', addrA, 'lladdr', await macOf(a.pid), 'dev', 'eth0', 'nud', 'permanent']);
  assert.equal(await net.udpSend(c.pid, [
    { host: addrA, port: SPOOF_UDP_PORT, from: addrB, count: 5, text: `spoofed-${tag}` },
    { host: addrA, port: SPOOF_UDP_PORT, from: addrC, count: 2, text: `c-own-${tag}` },
  ]), 'SENT');
  // b's datagrams go last: once one is in, c's (sent before, over the same bridge) had their chance.
  const deadline = Date.now() + 10_000;
  const count = (prefix: string): number => sink.received().filter((d) => d.text.startsWith(`${prefix}-${tag} `)).length;
  while (count('legit') === 0 && Date.now() < deadline) {
    assert.equal(await net.udpSend(b.pid, [{ host: addrA, port: SPOOF_UDP_PORT, text: `legit-${tag}` }]), 'SENT');
    await sleep(50);
  }
  await inNetns(c.pid, ['ip', 'addr', 'del', family === 4 ? `${addrB}/32` : `${addrB}/128`, 'dev', 'eth0']);
  await sink.stop();
  return { spoofed: count('spoofed'), cOwn: count('c-own'), legit: count('legit'), sources: sink.received().map((d) => d.from) };
}

/** The round's verdict: b's datagram arrived, none of c's did. */
export function assertNoSpoofedDatagram(result: SpoofResult, what: string): void {
  assert.ok(result.legit > 0, `${what}: b's own datagram never reached a (sources seen: ${result.sources.join(' ')})`);
  assert.equal(result.spoofed, 0, `${what}: ${result.spoofed} datagram(s) c sent with b's address reached a`);
  assert.equal(result.cOwn, 0, `${what}: ${result.cOwn} datagram(s) c sent from its own address reached a`);
}

/** Sends `count` ARP replies from a namespace's eth0, `gap` seconds apart, through a raw socket. */
const ARP_REPLIES = `
import socket, struct, sys, time
iface, smac, sip, tmac, tip, count, gap = sys.argv[1:8]
mac = lambda m: bytes.fromhex(m.replace(':', ''))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
frame = mac(tmac) + mac(smac) + b'\\x08\\x06' + struct.pack('!HHBBH', 1, 0x0800, 6, 4, 2) + mac(smac) + socket.inet_aton(sip) + mac(tmac) + socket.inet_aton(tip)
for _ in range(int(count)):
    s.send(frame)
    time.sleep(float(gap))
`;

/** ARP replies claiming `claimedIp` is at `senderMac`, to `targetIp` at `targetMac`; sent over 1.5 s (past the kernel's 1 s neighbour locktime). */
export async function sendArpReplies(pid: number, reply: { readonly senderMac: string; readonly claimedIp: string; readonly targetMac: string; readonly targetIp: string }): Promise<void> {
  await inNetns(pid, ['/usr/bin/python3', '-c', ARP_REPLIES, 'eth0', reply.senderMac, reply.claimedIp, reply.targetMac, reply.targetIp, '15', '0.1']);
}
