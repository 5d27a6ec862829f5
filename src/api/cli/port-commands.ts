// `dobby port add|ls|rm`: forwarded ports at run time, over org.rdk.dobby.ports1.

import { DOBBY_OBJECT, DOBBY_SERVICE } from '../dbus/names.ts';
import { PORTS_IFACE } from '../dbus/ports-protocol.ts';
import type { WireValue } from '../dbus/wire.ts';
import { parsePortText } from '../../ports/port-spec.ts';
import type { Command, CommandContext } from './context.ts';
import { EXIT } from './output.ts';

interface PortJson {
  readonly id: number;
  readonly containerId: string;
  readonly driver: string;
  readonly spec: { readonly proto: string; readonly parentIP: string; readonly parentPort: number; readonly childIP: string; readonly childPort: number };
}

const USAGE = 'port add <id> [parentIP:]parentPort[:childIP]:childPort/proto [--driver nat|builtin] | port ls | port rm <port-id>';

async function call(ctx: CommandContext, member: string, signature: string, body: readonly WireValue[]): Promise<readonly WireValue[]> {
  const proxy = await ctx.proxy();
  const reply = await proxy.client.call({ destination: DOBBY_SERVICE, path: DOBBY_OBJECT, interface: PORTS_IFACE, member, signature, body, timeoutMs: 30_000 });
  return reply.body;
}

function host(ip: string): string {
  return ip === '' ? '*' : ip.includes(':') ? `[${ip}]` : ip;
}

/** `tcp *:8080 -> web:80 (nat)`; the child address is shown when one was given. */
export function portLine(p: PortJson): string {
  const child = p.spec.childIP === '' ? p.containerId : `${p.containerId}/${host(p.spec.childIP)}`;
  return `${p.spec.proto} ${host(p.spec.parentIP)}:${p.spec.parentPort} -> ${child}:${p.spec.childPort}`;
}

export function portTable(ports: readonly PortJson[]): string[] {
  if (ports.length === 0) return ['no ports'];
  return [
    '    id | container                        | driver  | forward',
    '-------|----------------------------------|---------|------------------------------',
    ...ports.map((p) => ` ${String(p.id).padStart(5)} | ${p.containerId.padEnd(32)} | ${p.driver.padEnd(7)} | ${portLine(p)}`),
  ];
}

function failure(ctx: CommandContext, detail: string, fallback: string): number {
  let message = fallback;
  try {
    const e = JSON.parse(detail) as { message?: string };
    if (typeof e.message === 'string') message = e.message;
  } catch {
    // not JSON: bad arguments on the wire
  }
  ctx.out.error(message);
  return EXIT.FAILED;
}

async function add(ctx: CommandContext, args: string[]): Promise<number> {
  let driver: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--driver') driver = args[++i];
    else if (arg.startsWith('--driver=')) driver = arg.slice('--driver='.length);
    else rest.push(arg);
  }
  const [id, text] = rest;
  if (id === undefined || text === undefined || rest.length > 2 || (driver !== undefined && driver === '')) {
    ctx.out.error(`usage: ${USAGE.split(' | ')[0]}`);
    return EXIT.USAGE;
  }
  const parsed = parsePortText(text, 'cli');
  if (!parsed.ok) {
    ctx.out.error(parsed.error.message);
    return EXIT.USAGE;
  }
  const { containerId: _ignored, ...spec } = parsed.spec;
  const proxy = await ctx.proxy();
  const cd = await proxy.resolve(id);
  if (cd < 0) {
    ctx.out.error(`failed to find container '${id}'`);
    return EXIT.FAILED;
  }
  const [portId, detail] = (await call(ctx, 'AddPort', 'is', [cd, JSON.stringify({ ...spec, ...(driver === undefined ? {} : { driver }) })])) as [number, string];
  if (portId < 0) return failure(ctx, detail, `failed to add port ${text} to '${id}'`);
  const port = JSON.parse(detail) as PortJson;
  ctx.out.line(`port ${port.id}: ${portLine(port)} (${port.driver})`);
  ctx.out.result({ port });
  return EXIT.OK;
}

async function list(ctx: CommandContext): Promise<number> {
  const [text] = (await call(ctx, 'ListPorts', '', [])) as [string];
  const ports = JSON.parse(text) as PortJson[];
  for (const line of portTable(ports)) ctx.out.line(line);
  ctx.out.result({ ports });
  return EXIT.OK;
}

async function remove(ctx: CommandContext, args: string[]): Promise<number> {
  const [text] = args;
  if (text === undefined || args.length > 1 || !/^\d+$/.test(text) || Number(text) > 2 ** 31 - 1) {
    ctx.out.error(`usage: port rm <port-id> (a number from dobby port ls, not ${JSON.stringify(text ?? '')})`);
    return EXIT.USAGE;
  }
  const id = Number(text);
  const [ok, detail] = (await call(ctx, 'RemovePort', 'i', [id])) as [boolean, string];
  if (!ok) return failure(ctx, detail, `failed to remove port ${id}`);
  ctx.out.line(`removed port ${id}`);
  ctx.out.result({ id });
  return EXIT.OK;
}

const port: Command = {
  name: 'port',
  usage: USAGE,
  help: 'Forwards host ports to a running container (add), lists the forwarded ports (ls), removes one (rm). A port goes with its container.',
  options: '  --driver nat|builtin  nat (kernel DNAT, keeps the client address; the default) or builtin (a userland proxy that reaches\n                        the container loopback and serves [::1]); chosen automatically when left out',
  async run(ctx, args) {
    const [sub, ...rest] = args;
    if (sub === 'add') return add(ctx, rest);
    if (sub === 'ls' || sub === 'list') return list(ctx);
    if (sub === 'rm' || sub === 'remove') return remove(ctx, rest);
    ctx.out.error(`usage: ${USAGE}`);
    return EXIT.USAGE;
  },
};

export const PORT_COMMANDS: readonly Command[] = [port];
