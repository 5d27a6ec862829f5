// Port specs: validation (rootlesskit's rules, fixed), address normalisation and conflict detection; pure, no I/O.

import { isIP } from 'node:net';
import { idProblem } from '../container-id.ts';
import { PortError } from './port-errors.ts';

export const PORT_PROTOS = ['tcp', 'tcp4', 'tcp6', 'udp', 'udp4', 'udp6'] as const;
export type PortProto = (typeof PORT_PROTOS)[number];
export type Transport = 'tcp' | 'udp';
export type Family = 4 | 6;

/** A forwarded port as asked for: host (parent) side → container (child) side. */
export interface PortSpec {
  readonly proto: PortProto;
  /** "" means every address of the families the proto allows. */
  readonly parentIP: string;
  readonly parentPort: number;
  readonly childPort: number;
  /** "" means the driver's default (the container's address for nat, its loopback for builtin). */
  readonly childIP: string;
  /** The container the port belongs to; removing the container removes its ports. */
  readonly containerId: string;
}

export interface PortStatus {
  readonly id: number;
  readonly spec: PortSpec;
}

/** One address the parent side occupies: a family and an address, null meaning the family's wildcard. */
export interface Bind {
  readonly family: Family;
  readonly address: string | null;
}

export interface NormalPort {
  readonly transport: Transport;
  readonly port: number;
  readonly binds: readonly Bind[];
}

export type SpecCheck = { readonly ok: true; readonly spec: PortSpec } | { readonly ok: false; readonly error: PortError };

export function transportOf(proto: PortProto): Transport {
  return proto.startsWith('tcp') ? 'tcp' : 'udp';
}

/** The families a proto allows: tcp/udp both, the suffixed ones their own. */
export function familiesOf(proto: PortProto): readonly Family[] {
  if (proto.endsWith('4')) return [4];
  if (proto.endsWith('6')) return [6];
  return [4, 6];
}

/** An address in one canonical spelling with its family (IPv4-mapped IPv6 counts as IPv4), or null if it does not parse. */
export function canonicalIp(text: string): { family: Family; address: string } | null {
  if (text.includes('%')) return null; // zone ids name an interface, which a port spec cannot
  const kind = isIP(text);
  if (kind === 4) return { family: 4, address: text };
  if (kind !== 6) return null;
  let address: string;
  try {
    address = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return null;
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(address);
  if (mapped !== null) {
    const hi = parseInt(mapped[1]!, 16);
    const lo = parseInt(mapped[2]!, 16);
    return { family: 4, address: `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}` };
  }
  return { family: 6, address };
}

export function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

const PROTO_LIST = PORT_PROTOS.join(', ');

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (value === undefined) return 'missing';
  return typeof value;
}

function checkPort(field: 'parentPort' | 'childPort', value: unknown): PortError | null {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535) return null;
  return new PortError('invalid-port', `${field} ${describe(value)} is not a port: use a whole number from 1 to 65535`);
}

function checkIp(field: 'parentIP' | 'childIP', value: unknown): PortError | null {
  if (value === undefined || value === '') return null;
  const reason = field === 'parentIP' ? 'invalid-parent-ip' : 'invalid-child-ip';
  if (typeof value !== 'string') return new PortError(reason, `${field} ${describe(value)} is not an IP address: use a string such as "127.0.0.1" or "::1", or "" for the default`);
  if (canonicalIp(value) === null) {
    const hint = value.startsWith('[') ? ' (write IPv6 addresses without brackets)' : value.includes('%') ? ' (zone ids are not supported)' : '';
    return new PortError(reason, `${field} ${describe(value)} does not parse as an IPv4 or IPv6 address${hint}: use e.g. "127.0.0.1" or "::1", or "" for the default`);
  }
  return null;
}

/**
 * Checks a spec from anywhere (JSON, D-Bus, CLI) and returns it in canonical form (addresses
 * respelled, defaults filled); never throws. The order follows rootlesskit's ValidatePortSpec,
 * then adds the family checks it lacks.
 */
export function checkPortSpec(input: unknown): SpecCheck {
  const fail = (error: PortError): SpecCheck => ({ ok: false, error });
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return fail(new PortError('invalid-spec', `a port spec must be an object {proto, parentIP, parentPort, childIP, childPort, containerId}, not ${Array.isArray(input) ? 'an array' : describe(input)}`));
  }
  const raw = input as Record<string, unknown>;
  const proto = raw['proto'];
  if (typeof proto !== 'string' || !(PORT_PROTOS as readonly string[]).includes(proto)) {
    const hint = typeof proto === 'string' && (PORT_PROTOS as readonly string[]).includes(proto.toLowerCase()) ? ` (protos are lower case: "${proto.toLowerCase()}")` : typeof proto === 'string' && proto.startsWith('sctp') ? ' (sctp is not supported)' : '';
    return fail(new PortError('invalid-proto', `unknown proto ${describe(proto)}${hint}: use one of ${PROTO_LIST}`));
  }
  const p = proto as PortProto;
  const ipProblem = checkIp('parentIP', raw['parentIP']) ?? checkIp('childIP', raw['childIP']);
  if (ipProblem !== null) return fail(ipProblem);
  const portProblem = checkPort('parentPort', raw['parentPort']) ?? checkPort('childPort', raw['childPort']);
  if (portProblem !== null) return fail(portProblem);
  const containerProblem = idProblem(raw['containerId']);
  if (containerProblem !== null) return fail(new PortError('invalid-container', `containerId: ${containerProblem}`));

  const families = familiesOf(p);
  const parent = raw['parentIP'] === undefined || raw['parentIP'] === '' ? null : canonicalIp(raw['parentIP'] as string);
  const child = raw['childIP'] === undefined || raw['childIP'] === '' ? null : canonicalIp(raw['childIP'] as string);
  if (parent !== null && !families.includes(parent.family)) {
    return fail(new PortError('family-mismatch', `parentIP ${parent.address} is IPv${parent.family} but proto ${p} is IPv${families[0]} only: use proto ${transportOf(p)}${parent.family} or ${transportOf(p)}, or an IPv${families[0]} parentIP`));
  }
  if (child !== null) {
    // A specific parent address fixes the family the client speaks; the child must speak it too.
    const allowed = parent !== null && !(parent.family === 6 && parent.address === '::' && families.length === 2) ? [parent.family] : families;
    if (isWildcard(child.address)) {
      return fail(new PortError('invalid-child-ip', `childIP ${child.address} is a wildcard; name one address in the container, or "" for the default`));
    }
    if (!allowed.includes(child.family)) {
      const parentText = parent === null ? `proto ${p}` : `parentIP ${parent.address}`;
      return fail(new PortError('family-mismatch', `childIP ${child.address} is IPv${child.family} but ${parentText} is IPv${allowed[0]}: use an IPv${allowed[0]} childIP or "" for the default`));
    }
  }
  return {
    ok: true,
    spec: {
      proto: p,
      parentIP: parent?.address ?? '',
      parentPort: raw['parentPort'] as number,
      childPort: raw['childPort'] as number,
      childIP: child?.address ?? '',
      containerId: raw['containerId'] as string,
    },
  };
}

/** Like checkPortSpec, but throws the PortError. */
export function parsePortSpec(input: unknown): PortSpec {
  const checked = checkPortSpec(input);
  if (!checked.ok) throw checked.error;
  return checked.spec;
}

/**
 * What the parent side really occupies. A plain tcp/udp listener on "" or "::" is dual-stack
 * (Linux's bindv6only=0, as Go and Node listen), so it holds both families' wildcards; "0.0.0.0"
 * is the IPv4 wildcard only; a tcp6 wildcard is IPv6 only.
 */
export function normalise(spec: PortSpec): NormalPort {
  const families = familiesOf(spec.proto);
  const ip = spec.parentIP === '' ? null : canonicalIp(spec.parentIP);
  let binds: Bind[];
  if (ip === null) binds = families.map((family) => ({ family, address: null }));
  else if (!isWildcard(ip.address)) binds = [{ family: ip.family, address: ip.address }];
  else if (ip.family === 6 && families.length === 2) binds = [{ family: 4, address: null }, { family: 6, address: null }];
  else binds = [{ family: ip.family, address: null }];
  return { transport: transportOf(spec.proto), port: spec.parentPort, binds };
}

function bindsOverlap(a: Bind, b: Bind): boolean {
  return a.family === b.family && (a.address === null || b.address === null || a.address === b.address);
}

/** True when both cannot hold their parent side at once: same transport and port, overlapping addresses. */
export function conflicts(a: PortSpec, b: PortSpec): boolean {
  const na = normalise(a);
  const nb = normalise(b);
  return na.transport === nb.transport && na.port === nb.port && na.binds.some((x) => nb.binds.some((y) => bindsOverlap(x, y)));
}

/** The first existing port `spec` conflicts with, as `conflict with ID N` plus what would be right. */
export function findConflict(spec: PortSpec, existing: Iterable<PortStatus>): PortError | null {
  for (const other of existing) {
    if (!conflicts(spec, other.spec)) continue;
    const o = other.spec;
    const where = (s: PortSpec): string => `${s.proto} ${s.parentIP === '' ? '*' : s.parentIP.includes(':') ? `[${s.parentIP}]` : s.parentIP}:${s.parentPort}`;
    return new PortError('conflict', `conflict with ID ${other.id}: ${where(spec)} overlaps ${where(o)} (container ${o.containerId}); pick another parentPort or a parentIP the other port does not cover`, { conflictsWith: other.id, containerId: spec.containerId });
  }
  return null;
}

/** `[parentIP:]parentPort[:childIP]:childPort/proto` (rootlesskit's CLI form; IPv6 in brackets). */
export function parsePortText(text: string, containerId: string): SpecCheck {
  const fail = (message: string): SpecCheck => ({ ok: false, error: new PortError('invalid-spec', `${JSON.stringify(text)}: ${message}; write [parentIP:]parentPort[:childIP]:childPort/proto, e.g. 8080:80/tcp or [::1]:8080:80/tcp6`) });
  const slash = text.lastIndexOf('/');
  if (slash < 0) return fail('no /proto');
  const proto = text.slice(slash + 1);
  const parts: string[] = [];
  let rest = text.slice(0, slash);
  while (rest !== '') {
    if (rest.startsWith('[')) {
      const end = rest.indexOf(']');
      if (end < 0) return fail('an unclosed [');
      parts.push(rest.slice(1, end));
      rest = rest.slice(end + 1);
      if (rest !== '' && !rest.startsWith(':')) return fail('a ] not followed by :');
      rest = rest.slice(1);
    } else {
      const colon = rest.indexOf(':');
      parts.push(colon < 0 ? rest : rest.slice(0, colon));
      rest = colon < 0 ? '' : rest.slice(colon + 1);
    }
  }
  if (parts.length < 2 || parts.length > 4) return fail(parts.length < 2 ? 'both a parent and a child port are needed' : 'too many parts');
  const num = (s: string): number | string => (/^\d+$/.test(s) ? Number(s) : s);
  const [parentIP, parentPort, childIP, childPort] =
    parts.length === 2 ? ['', parts[0]!, '', parts[1]!]
    : parts.length === 3 ? (isIP(parts[0]!) !== 0 || parts[0] === '' ? [parts[0]!, parts[1]!, '', parts[2]!] : ['', parts[0]!, parts[1]!, parts[2]!])
    : [parts[0]!, parts[1]!, parts[2]!, parts[3]!];
  return checkPortSpec({ proto, parentIP, parentPort: num(parentPort), childIP, childPort: num(childPort), containerId });
}
