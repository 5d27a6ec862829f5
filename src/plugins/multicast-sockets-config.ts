// The MulticastSockets plugin's data, checked: which sockets to make, or the one field that is wrong.
//
// Data: {"serverSockets": [{"name", "ip", "port"}], "clientSockets": [{"name"}]}, both optional.
// Dobby skips a bad entry with a log line; here a bad entry fails the start, naming the field,
// because a container missing the socket its app expects is worse than one that does not start.

export interface ServerSocketSpec {
  readonly name: string;
  /** An IPv4 multicast group, 224.0.0.0/4. */
  readonly ip: string;
  readonly port: number;
}

export interface ClientSocketSpec {
  readonly name: string;
}

export interface MulticastSocketsConfig {
  readonly serverSockets: readonly ServerSocketSpec[];
  readonly clientSockets: readonly ClientSocketSpec[];
}

export type MulticastSocketsParse =
  | { readonly ok: true; readonly config: MulticastSocketsConfig }
  | { readonly ok: false; readonly field: string; readonly message: string };

/** Dobby passes at most this many descriptors into one container. */
export const MAX_SOCKETS = 128;
/** Keeps `MCAST_SERVER_SOCKET_<name>_FD=<n>` within Dobby's 256-byte env buffer. */
export const MAX_NAME_LENGTH = 200;

const NAME_PATTERN = /^[A-Za-z0-9_]+$/;
const DATA_KEYS = ['serverSockets', 'clientSockets'];
const SERVER_KEYS = ['name', 'ip', 'port'];
const CLIENT_KEYS = ['name'];

export function serverEnvName(name: string): string {
  return `MCAST_SERVER_SOCKET_${name}_FD`;
}

export function clientEnvName(name: string): string {
  return `MCAST_CLIENT_SOCKET_${name}_FD`;
}

/** Never throws: any value gives either the sockets to make or the field that is wrong and why. */
export function parseMulticastSocketsData(data: unknown): MulticastSocketsParse {
  try {
    return { ok: true, config: parseData(data) };
  } catch (err) {
    if (err instanceof FieldError) return { ok: false, field: err.field, message: err.message };
    throw err;
  }
}

class FieldError extends Error {
  readonly field: string;

  constructor(field: string, problem: string) {
    super(`${field} ${problem}`);
    this.field = field;
  }
}

function parseData(data: unknown): MulticastSocketsConfig {
  if (data === undefined || data === null) return { serverSockets: [], clientSockets: [] };
  if (!isRecord(data)) {
    throw new FieldError('data', `is ${describe(data)}; it must be an object with "serverSockets" and/or "clientSockets"`);
  }
  rejectUnknownKeys(data, DATA_KEYS, 'data');
  const serverEntries = arrayField(data, 'serverSockets');
  const clientEntries = arrayField(data, 'clientSockets');
  const total = serverEntries.length + clientEntries.length;
  if (total > MAX_SOCKETS) {
    throw new FieldError(serverEntries.length > clientEntries.length ? 'serverSockets' : 'clientSockets',
      `asks for ${total} sockets in all; a container can be given at most ${MAX_SOCKETS}`);
  }
  const serverSockets = serverEntries.map((entry, i) => {
    const at = `serverSockets[${i}]`;
    const record = entryRecord(entry, at, SERVER_KEYS, '{"name": "SSDP", "ip": "239.255.255.250", "port": 1900}');
    return { name: nameField(record, at), ip: ipField(record, at), port: portField(record, at) };
  });
  const clientSockets = clientEntries.map((entry, i) => {
    const at = `clientSockets[${i}]`;
    return { name: nameField(entryRecord(entry, at, CLIENT_KEYS, '{"name": "SSDP"}'), at) };
  });
  // A server and a client may share a name: their variables differ. Within a kind they would clash.
  rejectDuplicates(serverSockets, 'serverSockets', serverEnvName);
  rejectDuplicates(clientSockets, 'clientSockets', clientEnvName);
  return { serverSockets, clientSockets };
}

function arrayField(data: Record<string, unknown>, key: string): readonly unknown[] {
  const value = data[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new FieldError(key, `is ${describe(value)}; it must be an array`);
  return value;
}

function entryRecord(entry: unknown, at: string, keys: readonly string[], example: string): Record<string, unknown> {
  if (!isRecord(entry)) throw new FieldError(at, `is ${describe(entry)}; it must be an object like ${example}`);
  rejectUnknownKeys(entry, keys, at);
  return entry;
}

function nameField(record: Record<string, unknown>, at: string): string {
  const field = `${at}.name`;
  const name = record['name'];
  if (name === undefined) throw new FieldError(field, 'is missing; every socket needs a name for its environment variable');
  if (typeof name !== 'string') throw new FieldError(field, `is ${describe(name)}; it must be a string`);
  if (name.length === 0) throw new FieldError(field, 'is empty; it must be letters, digits and underscores');
  if (name.length > MAX_NAME_LENGTH) throw new FieldError(field, `is ${name.length} characters long; at most ${MAX_NAME_LENGTH}`);
  if (!NAME_PATTERN.test(name)) {
    throw new FieldError(field, `${JSON.stringify(name)} cannot be part of an environment variable name; use only letters, digits and underscores`);
  }
  return name;
}

function ipField(record: Record<string, unknown>, at: string): string {
  const field = `${at}.ip`;
  const ip = record['ip'];
  if (ip === undefined) throw new FieldError(field, 'is missing; it must be an IPv4 multicast group such as "239.255.255.250"');
  if (typeof ip !== 'string') throw new FieldError(field, `is ${describe(ip)}; it must be a string such as "239.255.255.250"`);
  if (ip.includes(':')) throw new FieldError(field, `${JSON.stringify(ip)} is IPv6; only IPv4 multicast groups (224.0.0.0/4) are supported`);
  const octets = ipv4Octets(ip);
  if (octets === null) throw new FieldError(field, `${JSON.stringify(ip)} is not an IPv4 address; use a multicast group such as "239.255.255.250"`);
  if (octets[0]! < 224 || octets[0]! > 239) {
    throw new FieldError(field, `${JSON.stringify(ip)} is not a multicast address; it must be in 224.0.0.0/4 (224.0.0.0 to 239.255.255.255)`);
  }
  return ip;
}

function portField(record: Record<string, unknown>, at: string): number {
  const field = `${at}.port`;
  const port = record['port'];
  if (port === undefined) throw new FieldError(field, 'is missing; it must be a UDP port from 1 to 65535');
  if (typeof port !== 'number' || !Number.isInteger(port)) throw new FieldError(field, `is ${describe(port)}; it must be an integer from 1 to 65535`);
  if (port < 1 || port > 65535) throw new FieldError(field, `${port} is out of range; it must be from 1 to 65535`);
  return port;
}

function rejectUnknownKeys(record: Record<string, unknown>, keys: readonly string[], at: string): void {
  const unknown = Object.keys(record).find((k) => !keys.includes(k));
  if (unknown !== undefined) {
    const plain = /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(unknown);
    const field = plain ? (at === 'data' ? unknown : `${at}.${unknown}`) : `${at}[${JSON.stringify(unknown)}]`;
    throw new FieldError(field, `is not a known field; ${at} takes ${keys.map((k) => `"${k}"`).join(', ')}`);
  }
}

function rejectDuplicates(sockets: readonly { name: string }[], list: string, envName: (name: string) => string): void {
  const first = new Map<string, number>();
  sockets.forEach((socket, i) => {
    const earlier = first.get(socket.name);
    if (earlier !== undefined) {
      throw new FieldError(`${list}[${i}].name`,
        `${JSON.stringify(socket.name)} is already the name of ${list}[${earlier}]; names must differ, each sets ${envName(socket.name)}`);
    }
    first.set(socket.name, i);
  });
}

/** The four octets of a dotted-quad address (decimal, no leading zeros), or null. */
function ipv4Octets(ip: string): number[] | null {
  const parts = ip.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p))) return null;
  const octets = parts.map(Number);
  return octets.every((o) => o <= 255) ? octets : null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'number' && !Number.isInteger(value)) return `the number ${value}`;
  return `${typeof value} ${String(value)}`;
}
