// A minimal D-Bus client connection (unix sockets, EXTERNAL auth): method calls, match rules and signals, without dbus-next.

import { connect, type Socket } from 'node:net';
import { parseBusAddress } from '../../host/dbus-check.ts';
import { decodeMessage, encodeMessage, FLAG_NO_REPLY_EXPECTED, MessageFramer, MessageKind, type WireMessage, type WireValue } from '../dbus/wire.ts';

/** An error reply from the bus or the service, with its D-Bus error name. */
export class DBusCallError extends Error {
  readonly errorName: string;
  constructor(errorName: string, message: string) {
    super(message);
    this.name = 'DBusCallError';
    this.errorName = errorName;
  }
}

export interface CallOptions {
  readonly destination: string;
  readonly path: string;
  readonly interface: string;
  readonly member: string;
  readonly signature?: string;
  readonly body?: readonly WireValue[];
  readonly timeoutMs?: number;
}

export interface Reply {
  readonly signature: string;
  readonly body: readonly WireValue[];
}

type SignalListener = (message: WireMessage) => void;

export class BusClient {
  readonly #socket: Socket;
  readonly #framer = new MessageFramer();
  #serial = 1;
  readonly #pending = new Map<number, { resolve(m: WireMessage): void; reject(e: Error): void; timer: NodeJS.Timeout }>();
  readonly #listeners = new Set<SignalListener>();
  #closed = false;
  /** Our unique name once Hello has been answered. */
  uniqueName = '';
  /** Called with each message sent and received (for -v). */
  trace: ((direction: 'send' | 'recv', message: WireMessage) => void) | null = null;

  private constructor(socket: Socket) {
    this.#socket = socket;
  }

  /** Connects, authenticates (EXTERNAL, as our uid) and says Hello. */
  static async connect(address: string, timeoutMs = 5_000): Promise<BusClient> {
    const endpoints = parseBusAddress(address);
    let lastError: Error = new Error(`no usable endpoint in the D-Bus address '${address}'`);
    for (const endpoint of endpoints) {
      if (endpoint.kind !== 'unix' && endpoint.kind !== 'abstract') {
        lastError = new Error(`unsupported D-Bus address '${address}': only unix:path= and unix:abstract= are supported`);
        continue;
      }
      const path = endpoint.kind === 'unix' ? endpoint.path : `\0${endpoint.name}`;
      try {
        const socket = await openSocket(path, timeoutMs);
        await authenticate(socket, timeoutMs);
        const client = new BusClient(socket);
        client.#listen();
        const hello = await client.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'Hello', timeoutMs });
        client.uniqueName = String(hello.body[0] ?? '');
        return client;
      } catch (err) {
        lastError = err instanceof Error ? err : new Error(String(err));
      }
    }
    throw lastError;
  }

  #listen(): void {
    this.#socket.on('data', (chunk: Buffer) => {
      for (const raw of this.#framer.push(chunk)) {
        let message: WireMessage;
        try {
          message = decodeMessage(raw);
        } catch (err) {
          this.#fail(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        this.trace?.('recv', message);
        this.#dispatch(message);
      }
    });
    this.#socket.on('error', (err) => this.#fail(err));
    this.#socket.on('close', () => this.#fail(new Error('the D-Bus connection closed')));
  }

  #dispatch(message: WireMessage): void {
    if (message.type === MessageKind.METHOD_RETURN || message.type === MessageKind.ERROR) {
      const pending = message.replySerial === undefined ? undefined : this.#pending.get(message.replySerial);
      if (pending === undefined) return;
      this.#pending.delete(message.replySerial!);
      clearTimeout(pending.timer);
      if (message.type === MessageKind.ERROR) {
        pending.reject(new DBusCallError(message.errorName ?? 'org.freedesktop.DBus.Error.Failed', String(message.body[0] ?? '')));
      } else {
        pending.resolve(message);
      }
    } else if (message.type === MessageKind.SIGNAL) {
      for (const listener of this.#listeners) listener(message);
    }
  }

  #fail(err: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const [, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(err);
    }
    this.#pending.clear();
    this.#socket.destroy();
  }

  call(options: CallOptions): Promise<Reply> {
    if (this.#closed) return Promise.reject(new Error('the D-Bus connection is closed'));
    const serial = this.#serial++;
    const message: WireMessage = {
      type: MessageKind.METHOD_CALL, flags: 0, serial,
      destination: options.destination, path: options.path, interface: options.interface, member: options.member,
      signature: options.signature ?? '', body: options.body ?? [],
    };
    const data = encodeMessage(message);
    return new Promise((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? 25_000;
      const timer = setTimeout(() => {
        this.#pending.delete(serial);
        reject(new DBusCallError('org.freedesktop.DBus.Error.NoReply', `no reply to ${options.interface}.${options.member} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(serial, { resolve: (m) => resolve({ signature: m.signature, body: m.body }), reject, timer });
      this.trace?.('send', message);
      this.#socket.write(data);
    });
  }

  /** Sends a call without waiting for (or wanting) a reply. */
  send(options: CallOptions): void {
    const message: WireMessage = {
      type: MessageKind.METHOD_CALL, flags: FLAG_NO_REPLY_EXPECTED, serial: this.#serial++,
      destination: options.destination, path: options.path, interface: options.interface, member: options.member,
      signature: options.signature ?? '', body: options.body ?? [],
    };
    this.trace?.('send', message);
    this.#socket.write(encodeMessage(message));
  }

  /** Adds a match rule on the bus; resolves once the bus has it, so no later signal can be missed. */
  async addMatch(rule: string): Promise<void> {
    await this.call({
      destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'AddMatch',
      signature: 's', body: [rule],
    });
  }

  onSignal(listener: SignalListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.#closed = true;
    for (const [, pending] of this.#pending) clearTimeout(pending.timer);
    this.#pending.clear();
    this.#socket.end();
    this.#socket.destroy();
  }
}

function openSocket(path: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from the D-Bus socket ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(`cannot connect to the D-Bus socket ${path.replace('\0', '@')}: ${err.code ?? err.message}`));
    });
  });
}

/** SASL EXTERNAL with our uid, then BEGIN; the server's lines end in CRLF. */
function authenticate(socket: Socket, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => done(new Error(`the D-Bus server did not finish authentication within ${timeoutMs} ms`)), timeoutMs);
    const done = (err?: Error): void => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      if (err === undefined) resolve();
      else {
        socket.destroy();
        reject(err);
      }
    };
    const onError = (err: Error): void => done(err);
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('latin1');
      const end = text.indexOf('\r\n');
      if (end < 0) return;
      const line = text.slice(0, end);
      if (line.startsWith('OK ')) {
        socket.write('BEGIN\r\n');
        done();
      } else {
        done(new Error(`the D-Bus server refused EXTERNAL authentication: ${line}`));
      }
    };
    socket.on('data', onData);
    socket.on('error', onError);
    const uid = Buffer.from(String(process.getuid?.() ?? 0), 'ascii').toString('hex');
    socket.write(`\0AUTH EXTERNAL ${uid}\r\n`);
  });
}
