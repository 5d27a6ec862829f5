// A raw D-Bus client for fuzzing: hand-built messages (any header field, any body bytes, unix fds) on one
// connection, many calls in flight, replies matched by serial, and a note when the bus drops the connection.
// The connection (authentication, Hello, replies) is the one the CLI uses: src/api/dbus/bus-connection.ts.

import { createRequire } from 'node:module';
import { BusConnection, type BusTransport } from '../../src/api/dbus/bus-connection.ts';
import { marshalBody, MessageKind, type WireValue } from '../../src/api/dbus/wire.ts';

const require = createRequire(import.meta.url);

/** The parts of usocket's USocket used here (it is CommonJS and untyped). */
interface USocket {
  on(event: 'data', fn: (chunk: Buffer) => void): void;
  on(event: 'close' | 'end', fn: () => void): void;
  on(event: 'error', fn: (err: Error) => void): void;
  once(event: 'connected', fn: () => void): void;
  once(event: 'error', fn: (err: Error) => void): void;
  write(chunk: Buffer | { data: Buffer; fds?: number[] }, callback?: (err?: Error | null) => void): boolean;
  read(size?: number, fdSize?: number | null): Buffer | { data: Buffer; fds: number[] } | null;
  end(): void;
  destroy(): void;
}
interface USocketModule {
  USocket: new (opts: { path: string }) => USocket;
}

export const FIELD = { path: 1, interface: 2, member: 3, errorName: 4, replySerial: 5, destination: 6, sender: 7, signature: 8, unixFds: 9 } as const;

export interface RawCall {
  readonly path: string;
  readonly member: string;
  readonly interface?: string;
  readonly destination?: string;
  readonly signature: string;
  readonly body: readonly WireValue[];
  readonly flags?: number;
  readonly fds?: readonly number[];
  /** Header fields added as they are (unknown codes, a lying UNIX_FDS count, ...). */
  readonly extraFields?: readonly [number, { signature: string; value: WireValue }][];
  /** Byte patches on the encoded message: every occurrence of `marker` (ASCII) becomes `bytes` (same length). */
  readonly patches?: readonly { marker: string; bytes: Buffer }[];
}

export type CallOutcome =
  | { readonly kind: 'return'; readonly signature: string; readonly body: readonly WireValue[] }
  | { readonly kind: 'error'; readonly name: string; readonly message: string }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'disconnected' };

/** Encodes a method call; the header is marshalled as the `yyyyuua(yv)` it is. */
export function encodeCall(serial: number, call: RawCall): Buffer {
  const body = marshalBody(call.signature, call.body);
  const fields: WireValue[] = [[FIELD.path, { signature: 'o', value: call.path }], [FIELD.member, { signature: 's', value: call.member }]];
  if (call.interface !== undefined) fields.push([FIELD.interface, { signature: 's', value: call.interface }]);
  if (call.destination !== undefined) fields.push([FIELD.destination, { signature: 's', value: call.destination }]);
  if (call.signature !== '') fields.push([FIELD.signature, { signature: 'g', value: call.signature }]);
  if ((call.fds?.length ?? 0) > 0) fields.push([FIELD.unixFds, { signature: 'u', value: call.fds!.length }]);
  for (const f of call.extraFields ?? []) fields.push(f);
  const header = marshalBody('yyyyuua(yv)', [0x6c, MessageKind.METHOD_CALL, call.flags ?? 0, 1, body.length, serial, fields]);
  const pad = Buffer.alloc((8 - (header.length % 8)) % 8);
  const message = Buffer.concat([header, pad, body]);
  for (const { marker, bytes } of call.patches ?? []) {
    const m = Buffer.from(marker, 'latin1');
    if (m.length !== bytes.length) throw new Error('a patch must keep the length');
    for (let at = message.indexOf(m); at >= 0; at = message.indexOf(m, at + m.length)) bytes.copy(message, at);
  }
  return message;
}

export class RawBus {
  readonly #connection: BusConnection;
  /** Messages the bus or a peer sent us that were not replies (signals), counted only. */
  signals = 0;

  private constructor(connection: BusConnection) {
    this.#connection = connection;
    connection.onSignal(() => this.signals++);
  }

  get uniqueName(): string {
    return this.#connection.uniqueName;
  }

  /** Why the connection ended, when a socket error ended it. */
  get lastError(): Error | null {
    return this.#connection.lastError;
  }

  get closed(): boolean {
    return this.#connection.closed;
  }

  get inFlight(): number {
    return this.#connection.inFlight;
  }

  /** Connects over usocket (fd passing), authenticates with unix fds negotiated, says Hello. */
  static async connect(address: string): Promise<RawBus> {
    const path = /^unix:path=([^,]+)/.exec(address)?.[1];
    if (path === undefined) throw new Error(`RawBus needs a unix:path= address, not ${address}`);
    const { USocket } = require('usocket') as USocketModule;
    const socket = new USocket({ path });
    await new Promise<void>((resolve, reject) => {
      socket.once('connected', () => resolve());
      socket.once('error', reject);
    });
    return new RawBus(await BusConnection.open(usocketTransport(socket), { negotiateUnixFd: true }));
  }

  /** Sends a call and resolves with what came back (never rejects). */
  call(call: RawCall, timeoutMs = 30_000): Promise<CallOutcome> {
    if (this.closed) return Promise.resolve({ kind: 'disconnected' });
    const serial = this.nextSerial();
    let data: Buffer;
    try {
      data = encodeCall(serial, call);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.callEncoded(serial, data, timeoutMs, call.fds);
  }

  /** Sends bytes already encoded as a call with `serial` (see encodeBigEndianCall) and waits for its reply. */
  async callEncoded(serial: number, data: Buffer, timeoutMs = 30_000, fds?: readonly number[]): Promise<CallOutcome> {
    const outcome = await this.#connection.call(serial, data, timeoutMs, fds);
    return outcome.kind === 'return' ? { kind: 'return', signature: outcome.message.signature, body: outcome.message.body } : outcome;
  }

  /** A serial no call of this connection uses (for callEncoded). */
  nextSerial(): number {
    return this.#connection.nextSerial();
  }

  close(): void {
    this.#connection.close();
  }
}

function usocketTransport(socket: USocket): BusTransport {
  let ended = false;
  const ends = new Set<(error: Error | null) => void>();
  const end = (error: Error | null): void => {
    if (ended) return;
    ended = true;
    for (const listener of ends) listener(error);
  };
  socket.on('close', () => end(null));
  socket.on('end', () => end(null));
  socket.on('error', (err) => end(err));
  return {
    write: (data, fds) => void socket.write(fds === undefined || fds.length === 0 ? data : { data, fds: [...fds] }),
    onData: (listener) => socket.on('data', listener),
    onEnd: (listener) => void ends.add(listener),
    // end() only, as dbus-next does: usocket closes once the bus has closed its side too. Closing the
    // handle (destroy) while usocket still polls it trips a libuv assertion and aborts the process.
    end: () => {
      try {
        socket.end();
      } catch {
        // already gone
      }
    },
  };
}

/**
 * A big-endian method call (`B` in the first byte) with string header fields and a body of `i` and `s`
 * values only: the bus forwards messages in their sender's byte order, so the daemon must read both.
 */
export function encodeBigEndianCall(serial: number, call: { path: string; interface: string; member: string; destination: string; signature: string; body: readonly (number | string)[] }): Buffer {
  const parts: Buffer[] = [];
  let length = 0;
  const push = (b: Buffer): void => {
    parts.push(b);
    length += b.length;
  };
  const pad = (n: number): void => {
    const p = (n - (length % n)) % n;
    if (p > 0) push(Buffer.alloc(p));
  };
  const u32 = (v: number): void => {
    pad(4);
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    push(b);
  };
  const str = (s: string): void => {
    const b = Buffer.from(s, 'utf8');
    u32(b.length);
    push(Buffer.concat([b, Buffer.from([0])]));
  };
  const sig = (s: string): void => push(Buffer.concat([Buffer.from([s.length]), Buffer.from(s, 'ascii'), Buffer.from([0])]));
  // Body first (its length goes in the fixed header); it starts 8-aligned, so marshal it on its own.
  const bodyParts: Buffer[] = [];
  {
    let bl = 0;
    const bpad = (n: number): void => {
      const p = (n - (bl % n)) % n;
      if (p > 0) {
        bodyParts.push(Buffer.alloc(p));
        bl += p;
      }
    };
    call.body.forEach((v, i) => {
      const t = call.signature[i];
      bpad(4);
      if (t === 'i') {
        const b = Buffer.alloc(4);
        b.writeInt32BE(v as number);
        bodyParts.push(b);
        bl += 4;
      } else if (t === 's') {
        const s = Buffer.from(v as string, 'utf8');
        const n = Buffer.alloc(4);
        n.writeUInt32BE(s.length);
        bodyParts.push(n, s, Buffer.from([0]));
        bl += 5 + s.length;
      } else {
        throw new Error(`encodeBigEndianCall handles i and s only, not '${String(t)}'`);
      }
    });
  }
  const body = Buffer.concat(bodyParts);
  push(Buffer.from([0x42, 1, 0, 1]));
  u32(body.length);
  u32(serial);
  // Header fields a(yv): the array length is patched in after the fields are written.
  u32(0);
  const lengthAt = parts.length - 1;
  pad(8);
  const fieldsStart = length;
  const field = (code: number, type: 'o' | 's' | 'g', value: string): void => {
    pad(8);
    push(Buffer.from([code]));
    sig(type);
    if (type === 'g') sig(value);
    else str(value);
  };
  field(1, 'o', call.path);
  field(2, 's', call.interface);
  field(3, 's', call.member);
  field(6, 's', call.destination);
  if (call.signature !== '') field(8, 'g', call.signature);
  parts[lengthAt]!.writeUInt32BE(length - fieldsStart);
  pad(8);
  return Buffer.concat([...parts, body]);
}
