// The networking plugin's data (Dobby's rdkPlugins.networking.data), checked by a pure function:
// a bad type, port, protocol or direction is an error naming the field and what would be right.

import { isIP } from 'node:net';
import { DobbyError } from '../../errors.ts';

export type NetworkType = 'nat' | 'open' | 'none';
export type Protocol = 'tcp' | 'udp';

export interface PortEntry {
  readonly port: number;
  readonly protocol: Protocol;
}

/** A multicast group (IPv4 224.0.0.0/4 or IPv6 ff00::/8) and the udp port its datagrams go to. */
export interface MulticastEntry {
  readonly ip: string;
  readonly port: number;
}

export interface InterContainerEntry extends PortEntry {
  readonly direction: 'in' | 'out';
  readonly localhostMasquerade: boolean;
}

export interface NetworkingData {
  readonly type: NetworkType;
  /** nat: at least one of the two is on (neither given means IPv4 only, as in Dobby). */
  readonly ipv4: boolean;
  readonly ipv6: boolean;
  readonly dnsmasq: boolean;
  /** Parsed here for the port manager (H7), which turns them into port rules. */
  readonly portForwarding: {
    readonly hostToContainer: readonly PortEntry[];
    readonly containerToHost: readonly PortEntry[];
    readonly localhostMasquerade: boolean;
  };
  readonly multicastForwarding: readonly MulticastEntry[];
  readonly interContainer: readonly InterContainerEntry[];
}

export interface ParsedNetworkingData {
  readonly data: NetworkingData;
  /** Things accepted but not acted on (e.g. unknown keys), for a log line. */
  readonly warnings: readonly string[];
}

const KNOWN = new Set(['type', 'ipv4', 'ipv6', 'dnsmasq', 'portForwarding', 'multicastForwarding', 'interContainer']);
const FIELD = 'networking.data';

function bad(field: string, message: string): never {
  throw new DobbyError('INVALID_ARGUMENT', `${field === '' ? FIELD : `${FIELD}.${field}`} ${message}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Dobby's older README writes booleans as "true"/"false" strings; both spellings are taken. */
function bool(obj: Record<string, unknown>, key: string, field: string, fallback: boolean): boolean {
  const v = obj[key];
  if (v === undefined || v === null) return fallback;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  return bad(field, `is ${JSON.stringify(v)}; it must be true or false`);
}

function port(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) {
    return bad(field, `is ${JSON.stringify(v) ?? 'missing'}; a port is a whole number from 1 to 65535`);
  }
  return v;
}

/** Missing or empty means tcp (Dobby); the name is matched case-insensitively. */
function protocol(v: unknown, field: string): Protocol {
  if (v === undefined || v === null || v === '') return 'tcp';
  if (typeof v === 'string' && (v.toLowerCase() === 'tcp' || v.toLowerCase() === 'udp')) return v.toLowerCase() as Protocol;
  return bad(field, `is ${JSON.stringify(v)}; the protocol must be "tcp" or "udp"`);
}

/** IPv4 224.0.0.0/4, or IPv6 ff00::/8 (its first group written out as ffXX); no zone index. */
function isMulticast(ip: string): boolean {
  if (isIP(ip) === 4) return Number(ip.split('.')[0]) >= 224 && Number(ip.split('.')[0]) <= 239;
  if (isIP(ip) !== 6 || ip.includes('%')) return false;
  const first = ip.split(':')[0] ?? '';
  return first.length === 4 && first.toLowerCase().startsWith('ff');
}

function list(v: unknown, field: string): readonly unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) return bad(field, `must be an array, not ${typeof v}`);
  return v;
}

function portEntries(v: unknown, field: string): PortEntry[] {
  return list(v, field).map((e, i) => {
    if (!isRecord(e)) return bad(`${field}[${i}]`, 'must be an object like {"port": 8080, "protocol": "tcp"}');
    return { port: port(e['port'], `${field}[${i}].port`), protocol: protocol(e['protocol'], `${field}[${i}].protocol`) };
  });
}

export function parseNetworkingData(input: unknown): ParsedNetworkingData {
  if (input === null || input === undefined) bad('type', 'is missing; give "nat", "open" or "none"');
  if (!isRecord(input)) return bad('', `must be an object, not ${Array.isArray(input) ? 'an array' : typeof input}`);
  const warnings: string[] = [];
  for (const key of Object.keys(input)) if (!KNOWN.has(key)) warnings.push(`${FIELD}.${key} is not a networking option and is ignored`);
  const type = input['type'];
  if (type !== 'nat' && type !== 'open' && type !== 'none') {
    const hint = type === 'private' ? ' (the spec\'s "private" is written "none" here)' : '';
    bad('type', `is ${JSON.stringify(type) ?? 'missing'}; it must be "nat", "open" or "none"${hint}`);
  }
  let ipv4 = bool(input, 'ipv4', 'ipv4', false);
  const ipv6 = bool(input, 'ipv6', 'ipv6', false);
  if (!ipv4 && !ipv6) ipv4 = true;
  const dnsmasq = bool(input, 'dnsmasq', 'dnsmasq', false);
  // Dobby's spec conversion writes it for "open" too, where the container has the host's resolver anyway.
  if (dnsmasq && type === 'none') warnings.push(`${FIELD}.dnsmasq is for "type": "nat" only (as in Dobby) and is ignored for "none"`);

  const pf = input['portForwarding'];
  if (pf !== undefined && pf !== null && !isRecord(pf)) bad('portForwarding', 'must be an object with hostToContainer, containerToHost and localhostMasquerade');
  const pfo = isRecord(pf) ? pf : {};
  const portForwarding = {
    hostToContainer: portEntries(pfo['hostToContainer'], 'portForwarding.hostToContainer'),
    containerToHost: portEntries(pfo['containerToHost'], 'portForwarding.containerToHost'),
    localhostMasquerade: bool(pfo, 'localhostMasquerade', 'portForwarding.localhostMasquerade', false),
  };

  const multicastForwarding = list(input['multicastForwarding'], 'multicastForwarding').map((e, i) => {
    const field = `multicastForwarding[${i}]`;
    if (!isRecord(e)) return bad(field, 'must be an object like {"ip": "239.255.255.250", "port": 1900}');
    const ip = e['ip'];
    if (typeof ip !== 'string' || !isMulticast(ip)) bad(`${field}.ip`, `is ${JSON.stringify(ip) ?? 'missing'}; it must be a multicast address (IPv4 224.0.0.0/4 or IPv6 ff00::/8)`);
    return { ip, port: port(e['port'], `${field}.port`) };
  });
  if (type !== 'nat' && multicastForwarding.length > 0) {
    warnings.push(`${FIELD}.multicastForwarding is ignored with "type": "${type}" (${type === 'open' ? 'the container is on the host\'s network and gets multicast as the host does' : 'the container has no network to forward to'})`);
  }

  const interContainer = list(input['interContainer'], 'interContainer').map((e, i): InterContainerEntry => {
    const field = `interContainer[${i}]`;
    if (!isRecord(e)) return bad(field, 'must be an object like {"direction": "in", "port": 8080, "protocol": "tcp"}');
    const d = e['direction'];
    const direction = typeof d === 'string' ? d.toLowerCase() : d;
    if (direction !== 'in' && direction !== 'out') bad(`${field}.direction`, `is ${JSON.stringify(d) ?? 'missing'}; it must be "in" (a server port other containers reach) or "out" (a port this container connects to)`);
    const localhostMasquerade = bool(e, 'localhostMasquerade', `${field}.localhostMasquerade`, false);
    return { direction, port: port(e['port'], `${field}.port`), protocol: protocol(e['protocol'], `${field}.protocol`), localhostMasquerade };
  });
  if (type !== 'nat' && interContainer.length > 0) bad('interContainer', `needs "type": "nat" (containers talk to each other over the bridge); this one is "${type}"`);

  return { data: { type, ipv4, ipv6, dnsmasq, portForwarding, multicastForwarding, interContainer }, warnings };
}
