// Says which D-Bus address dobbyd would use and whether something listens there.
import { connect, type Socket } from 'node:net';
import type { HostProblem } from './problem.ts';

export const DEFAULT_SYSTEM_BUS_ADDRESS = 'unix:path=/run/dbus/system_bus_socket';

export type BusEndpoint =
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'abstract'; readonly name: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unsupported'; readonly text: string };

/** The address dobbyd connects to: --dbus-address, else DBUS_SYSTEM_BUS_ADDRESS, else the system bus socket. */
export function busAddressFor(dbusAddress: string | null | undefined, env: NodeJS.ProcessEnv): string {
  if (dbusAddress !== undefined && dbusAddress !== null && dbusAddress !== '') return dbusAddress;
  const fromEnv = env['DBUS_SYSTEM_BUS_ADDRESS'];
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : DEFAULT_SYSTEM_BUS_ADDRESS;
}

/** Parses a D-Bus server address list (`transport:key=value,...;...`) into endpoints to try in order. */
export function parseBusAddress(address: string): BusEndpoint[] {
  const out: BusEndpoint[] = [];
  for (const part of address.split(';')) {
    if (part.trim() === '') continue;
    const colon = part.indexOf(':');
    const transport = colon < 0 ? part : part.slice(0, colon);
    const params = new Map<string, string>();
    for (const kv of (colon < 0 ? '' : part.slice(colon + 1)).split(',')) {
      const eq = kv.indexOf('=');
      if (eq > 0) params.set(kv.slice(0, eq), decodeURIComponent(kv.slice(eq + 1)));
    }
    const path = params.get('path');
    const abstract = params.get('abstract');
    const host = params.get('host');
    const port = Number(params.get('port'));
    if (transport === 'unix' && path !== undefined) out.push({ kind: 'unix', path });
    else if (transport === 'unix' && abstract !== undefined) out.push({ kind: 'abstract', name: abstract });
    else if (transport === 'tcp' && host !== undefined && Number.isInteger(port) && port > 0) {
      out.push({ kind: 'tcp', host, port });
    } else out.push({ kind: 'unsupported', text: part });
  }
  return out;
}

/** Tries to open a stream to one endpoint; resolves to undefined on success, else the reason. */
export function probeEndpoint(endpoint: BusEndpoint, timeoutMs = 1000): Promise<string | undefined> {
  if (endpoint.kind === 'unsupported') return Promise.resolve(`unsupported address ${endpoint.text}`);
  return new Promise((resolvePromise) => {
    let socket: Socket;
    if (endpoint.kind === 'unix') socket = connect({ path: endpoint.path });
    else if (endpoint.kind === 'abstract') socket = connect({ path: `\0${endpoint.name}` });
    else socket = connect({ host: endpoint.host, port: endpoint.port });
    const done = (reason: string | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      resolvePromise(reason);
    };
    const timer = setTimeout(() => done(`no answer within ${timeoutMs} ms`), timeoutMs);
    socket.once('connect', () => done(undefined));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
  });
}

/** Problem when no endpoint of the address accepts a connection. */
export async function busProblem(address: string, timeoutMs = 1000): Promise<HostProblem | undefined> {
  const endpoints = parseBusAddress(address);
  const reasons: string[] = [];
  for (const endpoint of endpoints) {
    const reason = await probeEndpoint(endpoint, timeoutMs);
    if (reason === undefined) return undefined;
    reasons.push(reason);
  }
  const isDefault = address === DEFAULT_SYSTEM_BUS_ADDRESS;
  return {
    code: 'dbus-unreachable',
    what: `no D-Bus bus answers at ${address}${reasons.length > 0 ? ` (${reasons.join('; ')})` : ' (empty address)'}`,
    fix: isDefault
      ? 'start one (mkdir -p /run/dbus && dbus-daemon --system --fork), or run with --private-bus'
      : `start one listening on ${address}, or run with --private-bus`,
    fatal: true,
  };
}
