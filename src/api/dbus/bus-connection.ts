// The one D-Bus client connection under the CLI and the test clients: SASL EXTERNAL authentication
// (optionally negotiating unix fds), Hello, serials, replies matched by serial, signals; messages are
// framed and read by wire.ts. The socket is the caller's (a net.Socket, or usocket for fd passing).

import { decodeMessage, encodeMessage, MessageFramer, MessageKind, type WireMessage } from './wire.ts';

/** The socket under a connection; `write` with fds only where the socket can pass them. */
export interface BusTransport {
  write(data: Buffer, fds?: readonly number[]): void;
  onData(listener: (chunk: Buffer) => void): void;
  /** Called once when the socket ends, with the error that ended it if any. */
  onEnd(listener: (error: Error | null) => void): void;
  end(): void;
}

/** What became of a call: never a rejection, so callers choose how to report each. */
export type CallOutcome =
  | { readonly kind: 'return'; readonly message: WireMessage }
  | { readonly kind: 'error'; readonly name: string; readonly message: string }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'disconnected' };

export interface ConnectOptions {
  readonly timeoutMs?: number;
  /** Ask the bus for unix fd passing (the transport must be able to pass them). */
  readonly negotiateUnixFd?: boolean;
}

export class BusConnection {
  readonly #transport: BusTransport;
  readonly #framer = new MessageFramer();
  readonly #pending = new Map<number, (outcome: CallOutcome) => void>();
  readonly #signalListeners = new Set<(message: WireMessage) => void>();
  #serial = 1;
  #closed = false;
  /** Until authentication is over, incoming bytes are SASL lines, not messages. */
  #authLines: ((chunk: Buffer) => void) | null = null;
  /** Our unique name once Hello has been answered. */
  uniqueName = '';
  /** Why the connection ended, when a socket error ended it. */
  lastError: Error | null = null;
  /** Called with each message decoded from the bus (for -v). */
  traceReceived: ((message: WireMessage) => void) | null = null;

  private constructor(transport: BusTransport) {
    this.#transport = transport;
    transport.onData((chunk) => (this.#authLines === null ? this.#receive(chunk) : this.#authLines(chunk)));
    transport.onEnd((error) => {
      this.lastError ??= error;
      this.#end();
    });
  }

  /** Authenticates as our uid (EXTERNAL), then says Hello. */
  static async open(transport: BusTransport, options: ConnectOptions = {}): Promise<BusConnection> {
    const connection = new BusConnection(transport);
    const timeoutMs = options.timeoutMs ?? 5_000;
    try {
      await connection.#authenticate(options.negotiateUnixFd === true, timeoutMs);
      const serial = connection.nextSerial();
      const hello = await connection.call(serial, encodeHello(serial), timeoutMs);
      if (hello.kind !== 'return') throw new Error(`the bus did not answer Hello: ${describeOutcome(hello)}`);
      connection.uniqueName = String(hello.message.body[0] ?? '');
      return connection;
    } catch (err) {
      connection.close();
      throw err;
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  /** A serial no other message of this connection uses. */
  nextSerial(): number {
    return this.#serial++;
  }

  /** Sends a method call encoded with `serial` (from nextSerial) and resolves with what came back. */
  call(serial: number, data: Buffer, timeoutMs: number, fds?: readonly number[]): Promise<CallOutcome> {
    if (this.#closed) return Promise.resolve({ kind: 'disconnected' });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(serial);
        resolve({ kind: 'timeout' });
      }, timeoutMs);
      this.#pending.set(serial, (outcome) => {
        clearTimeout(timer);
        resolve(outcome);
      });
      this.#transport.write(data, fds);
    });
  }

  /** Sends an encoded message nobody waits for a reply to. */
  send(data: Buffer, fds?: readonly number[]): void {
    if (!this.#closed) this.#transport.write(data, fds);
  }

  onSignal(listener: (message: WireMessage) => void): () => void {
    this.#signalListeners.add(listener);
    return () => this.#signalListeners.delete(listener);
  }

  close(): void {
    this.#end();
    this.#transport.end();
  }

  #end(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const settle of this.#pending.values()) settle({ kind: 'disconnected' });
    this.#pending.clear();
  }

  #receive(chunk: Buffer): void {
    for (const raw of this.#framer.push(chunk)) {
      let message: WireMessage;
      try {
        message = decodeMessage(raw);
      } catch {
        // A message we cannot read answers nothing we wait for; the bus checked it already.
        continue;
      }
      this.traceReceived?.(message);
      if (message.type === MessageKind.METHOD_RETURN || message.type === MessageKind.ERROR) {
        const settle = message.replySerial === undefined ? undefined : this.#pending.get(message.replySerial);
        if (settle === undefined) continue;
        this.#pending.delete(message.replySerial!);
        settle(message.type === MessageKind.ERROR
          ? { kind: 'error', name: message.errorName ?? 'org.freedesktop.DBus.Error.Failed', message: String(message.body[0] ?? '') }
          : { kind: 'return', message });
      } else if (message.type === MessageKind.SIGNAL) {
        for (const listener of this.#signalListeners) listener(message);
      }
    }
  }

  /** SASL EXTERNAL with our uid (then NEGOTIATE_UNIX_FD if asked), then BEGIN; lines end in CRLF. */
  #authenticate(negotiateUnixFd: boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let text = '';
      let step: 'auth' | 'fds' = 'auth';
      const timer = setTimeout(() => done(new Error(`the D-Bus server did not finish authentication within ${timeoutMs} ms (so far: ${JSON.stringify(text)})`)), timeoutMs);
      const done = (err?: Error): void => {
        clearTimeout(timer);
        this.#authLines = null;
        if (err === undefined) resolve();
        else reject(err);
      };
      this.#authLines = (chunk) => {
        text += chunk.toString('latin1');
        for (let end = text.indexOf('\r\n'); end >= 0; end = text.indexOf('\r\n')) {
          const line = text.slice(0, end);
          text = text.slice(end + 2);
          if (step === 'auth' && line.startsWith('OK ') && negotiateUnixFd) {
            step = 'fds';
            this.#transport.write(Buffer.from('NEGOTIATE_UNIX_FD\r\n'));
          } else if ((step === 'auth' && line.startsWith('OK ')) || (step === 'fds' && line === 'AGREE_UNIX_FD')) {
            this.#transport.write(Buffer.from('BEGIN\r\n'));
            done();
            return;
          } else {
            done(new Error(`the D-Bus server refused ${step === 'auth' ? 'EXTERNAL authentication' : 'unix fd passing'}: ${line}`));
            return;
          }
        }
      };
      const uid = Buffer.from(String(process.getuid?.() ?? 0), 'ascii').toString('hex');
      this.#transport.write(Buffer.from(`\0AUTH EXTERNAL ${uid}\r\n`, 'latin1'));
    });
  }
}

function encodeHello(serial: number): Buffer {
  return encodeMessage({
    type: MessageKind.METHOD_CALL, flags: 0, serial,
    destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'Hello',
    signature: '', body: [],
  });
}

export function describeOutcome(outcome: CallOutcome): string {
  switch (outcome.kind) {
    case 'return':
      return 'a reply';
    case 'error':
      return `${outcome.name}: ${outcome.message}`;
    default:
      return outcome.kind;
  }
}
