// Real UDP multicast sockets from node:dgram, handed out as their kernel descriptors.
//
// Node has no public way to get a dgram socket's descriptor, nor to stop it reading. This driver
// relies on two internals of Node 24's dgram, checked on every open and covered by tests:
//  - the socket's state object, under the own symbol described 'state symbol', holds the libuv
//    UDP handle (`socket._handle` is the same object, but reading it prints DEP0112);
//  - that handle has an `fd` getter (Unix only) and `recvStop()`.
// dgram starts reading the moment a socket is bound; the read is stopped in the same tick (before
// libuv polls), so every datagram stays queued in the kernel for whoever reads the descriptor:
// the container. libuv makes sockets non-blocking; Dobby's are blocking and apps may rely on
// that, so O_NONBLOCK is cleared before a socket is handed out (blocking-fd.ts). Nothing in this
// process does I/O on them afterwards. The dgram socket stays the owner of the descriptor, so
// closing goes through it and can never close a number the process has since reused.

import type * as Dgram from 'node:dgram';
import { dgram } from '../../builtins.ts';
import { fstatSync } from 'node:fs';
import { DobbyError } from '../../errors.ts';
import { makeBlocking } from './blocking-fd.ts';
import type { MulticastGroup, MulticastSocketDriver, OpenSocket } from './types.ts';

/** The parts of libuv's UDP handle wrapper this driver uses. */
interface UdpHandle {
  readonly fd: number;
  recvStop(): number;
}

export interface NodeMulticastSocketsOptions {
  /** Told about errors a socket reports after it was opened (none are expected: nothing here reads or sends). */
  readonly onSocketError?: (err: Error, kind: OpenSocket['kind']) => void;
}

/** Multicast TTL of every socket: the group's traffic stays on the local network segment, as in Dobby. */
const MULTICAST_TTL = 1;

export class NodeMulticastSockets implements MulticastSocketDriver {
  readonly #options: NodeMulticastSocketsOptions;

  constructor(options: NodeMulticastSocketsOptions = {}) {
    this.#options = options;
  }

  async openServer(group: MulticastGroup): Promise<OpenSocket> {
    const where = `${group.ip}:${group.port}`;
    const socket = this.#create('server', { type: 'udp4', reuseAddr: true });
    try {
      const fd = await bindQuietly(socket, group.ip, group.port, `server socket ${where}`);
      try {
        // No interface given: the kernel joins on the interface it routes the group to, like
        // Dobby's INADDR_ANY membership. Without such a route this fails with ENODEV.
        socket.addMembership(group.ip);
      } catch (err) {
        throw socketError(`cannot join multicast group ${group.ip} for server socket ${where}`, err,
          'the host needs a route for the group (a default route or one for 224.0.0.0/4)');
      }
      socket.setMulticastTTL(MULTICAST_TTL);
      await makeBlocking(fd, `server socket ${where}`);
      return this.#wrap('server', socket, fd);
    } catch (err) {
      closeQuietly(socket);
      throw err;
    }
  }

  async openClient(): Promise<OpenSocket> {
    const socket = this.#create('client', { type: 'udp4' });
    try {
      // libuv makes the kernel socket only on bind; an ephemeral port on any address is what an
      // unbound socket would get on its first send anyway.
      const fd = await bindQuietly(socket, '0.0.0.0', 0, 'client socket');
      socket.setMulticastTTL(MULTICAST_TTL);
      await makeBlocking(fd, 'client socket');
      return this.#wrap('client', socket, fd);
    } catch (err) {
      closeQuietly(socket);
      throw err;
    }
  }

  /** A dgram socket that can never take the daemon down with an unhandled 'error' event. */
  #create(kind: OpenSocket['kind'], options: Dgram.SocketOptions): Dgram.Socket {
    const socket = dgram().createSocket(options);
    socket.on('error', (err) => this.#options.onSocketError?.(err, kind));
    return socket;
  }

  #wrap(kind: OpenSocket['kind'], socket: Dgram.Socket, fd: number): OpenSocket {
    const { address, port } = socket.address();
    let closed = false;
    const open: OpenSocket = {
      kind, fd, local: { address, port },
      get closed() {
        return closed;
      },
      close() {
        if (closed) return;
        closed = true;
        closeQuietly(socket); // libuv closes the descriptor synchronously here
      },
    };
    // An open socket must not keep the daemon's event loop alive on its own.
    socket.unref();
    return open;
  }
}

/** Binds, stops dgram's own reading in the same tick, and returns the descriptor. */
function bindQuietly(socket: Dgram.Socket, address: string, port: number, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      socket.off('listening', onListening);
      reject(socketError(`cannot bind ${what} to ${address}:${port}`, err));
    };
    const onListening = (): void => {
      socket.off('error', onError);
      try {
        const handle = udpHandle(socket);
        handle.recvStop();
        const fd = handle.fd;
        if (!Number.isInteger(fd) || fd < 0 || !fstatSync(fd).isSocket()) {
          throw new DobbyError('INTERNAL', `the UDP handle of ${what} reports descriptor ${fd}, which is not an open socket`);
        }
        resolve(fd);
      } catch (err) {
        reject(err);
      }
    };
    socket.once('error', onError);
    socket.once('listening', onListening);
    socket.bind({ address, port, exclusive: true });
  });
}

function udpHandle(socket: Dgram.Socket): UdpHandle {
  const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  // Why the casts: reaching into dgram's internal state, which has no types (see the file comment).
  const state = key === undefined ? undefined : (socket as unknown as Record<symbol, unknown>)[key];
  const handle = typeof state === 'object' && state !== null ? (state as { handle?: unknown }).handle : undefined;
  if (typeof handle === 'object' && handle !== null
    && typeof (handle as { fd?: unknown }).fd === 'number'
    && typeof (handle as { recvStop?: unknown }).recvStop === 'function') {
    return handle as UdpHandle;
  }
  throw new DobbyError('INTERNAL',
    `Node.js ${process.version} does not keep a dgram socket's UDP handle (with fd and recvStop) under its 'state symbol': ` +
    'the MulticastSockets driver (src/drivers/sockets/multicast-sockets.ts) needs adapting to this Node version');
}

function socketError(what: string, err: unknown, hint?: string): DobbyError {
  if (err instanceof DobbyError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const reason = code ?? (err instanceof Error ? err.message : String(err));
  return new DobbyError('HOST_UNSUITABLE', `${what}: ${reason}${hint === undefined ? '' : `; ${hint}`}`, { cause: err });
}

function closeQuietly(socket: Dgram.Socket): void {
  try {
    socket.close();
  } catch {
    // ERR_SOCKET_DGRAM_NOT_RUNNING: already closed
  }
}
