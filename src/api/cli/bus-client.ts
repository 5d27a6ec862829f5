// The CLI's D-Bus client (unix sockets, without dbus-next): method calls that throw on error
// replies, match rules and signals, over the one client connection (src/api/dbus/bus-connection.ts).

import { connect, type Socket } from 'node:net';
import { parseBusAddress } from '../../host/dbus-check.ts';
import { BusConnection } from '../dbus/bus-connection.ts';
import { encodeMessage, FLAG_NO_REPLY_EXPECTED, MessageKind, type WireMessage, type WireValue } from '../dbus/wire.ts';

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
  readonly #connection: BusConnection;
  /** Called with each message sent and received (for -v). */
  trace: ((direction: 'send' | 'recv', message: WireMessage) => void) | null = null;

  private constructor(connection: BusConnection) {
    this.#connection = connection;
    connection.traceReceived = (message) => this.trace?.('recv', message);
  }

  /** Our unique name on the bus. */
  get uniqueName(): string {
    return this.#connection.uniqueName;
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
        return new BusClient(await BusConnection.open(socketTransport(socket), { timeoutMs }));
      } catch (err) {
        lastError = err instanceof Error ? err : new Error(String(err));
      }
    }
    throw lastError;
  }

  async call(options: CallOptions): Promise<Reply> {
    const serial = this.#connection.nextSerial();
    const message = callMessage(options, serial, 0);
    this.trace?.('send', message);
    const timeoutMs = options.timeoutMs ?? 25_000;
    const outcome = await this.#connection.call(serial, encodeMessage(message), timeoutMs);
    switch (outcome.kind) {
      case 'return':
        return { signature: outcome.message.signature, body: outcome.message.body };
      case 'error':
        throw new DBusCallError(outcome.name, outcome.message);
      case 'timeout':
        throw new DBusCallError('org.freedesktop.DBus.Error.NoReply', `no reply to ${options.interface}.${options.member} within ${timeoutMs} ms`);
      case 'disconnected':
        throw this.#connection.lastError ?? new Error('the D-Bus connection closed');
    }
  }

  /** Sends a call without waiting for (or wanting) a reply. */
  send(options: CallOptions): void {
    const message = callMessage(options, this.#connection.nextSerial(), FLAG_NO_REPLY_EXPECTED);
    this.trace?.('send', message);
    this.#connection.send(encodeMessage(message));
  }

  /** Adds a match rule on the bus; resolves once the bus has it, so no later signal can be missed. */
  async addMatch(rule: string): Promise<void> {
    await this.call({
      destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'AddMatch',
      signature: 's', body: [rule],
    });
  }

  onSignal(listener: SignalListener): () => void {
    return this.#connection.onSignal(listener);
  }

  close(): void {
    this.#connection.close();
  }
}

function callMessage(options: CallOptions, serial: number, flags: number): WireMessage {
  return {
    type: MessageKind.METHOD_CALL, flags, serial,
    destination: options.destination, path: options.path, interface: options.interface, member: options.member,
    signature: options.signature ?? '', body: options.body ?? [],
  };
}

function socketTransport(socket: Socket) {
  return {
    write: (data: Buffer) => void socket.write(data),
    onData: (listener: (chunk: Buffer) => void) => void socket.on('data', listener),
    onEnd: (listener: (error: Error | null) => void) => {
      let error: Error | null = null;
      socket.on('error', (err) => (error = err));
      socket.on('close', () => listener(error));
    },
    end: () => {
      socket.end();
      socket.destroy();
    },
  };
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
