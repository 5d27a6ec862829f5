// Gives each incoming D-Bus message exactly its own unix fds on a dbus-next connection over usocket.

import { closeSync } from 'node:fs';
import { unixFdsOf } from './wire.ts';

/** The parts of a usocket USocket this relies on (usocket 1.1: received fds queue up in `_wrap.fds`). */
interface FdStream {
  read(size?: number, fdSize?: number | null): unknown;
  unshift(chunk: Buffer): void;
  _wrap?: { fds: number[] } | null;
}

function isFdStream(stream: unknown): stream is FdStream {
  return typeof stream === 'object' && stream !== null && typeof (stream as FdStream).read === 'function'
    && typeof (stream as FdStream).unshift === 'function' && '_wrap' in stream;
}

/**
 * dbus-next reads each message as `read(16)` (fixed header) then `read(rest, null)`, and null
 * makes usocket hand over every fd queued so far. When the kernel delivers the start of the next
 * message (with its SCM_RIGHTS fds) in the same read as the current one, the current message
 * takes the next one's fds, the next one finds none, dbus-next throws "No FDs available" outside
 * any handler and the connection's parser is left mid-message: every later call hangs. Seen with
 * a dozen clients starting containers with fds at once. This wraps `read` so the second read
 * takes only the number of fds the message's UNIX_FDS header field declares.
 * Returns null when the stream is not a usocket (no fd passing at all then).
 */
export function frameUnixFds(stream: unknown): UnixFdFraming | null {
  if (!isFdStream(stream)) return null;
  const read = stream.read.bind(stream);
  let fixedHeader: Buffer | null = null;
  // The fds of the message dbus-next parses now: it hands the message to our handler synchronously.
  let current: number[] = [];
  stream.read = (size?: number, fdSize?: number | null): unknown => {
    if (fdSize !== null) {
      const data = fdSize === undefined ? read(size) : read(size, fdSize);
      if (size === 16 && Buffer.isBuffer(data)) fixedHeader = data;
      return data;
    }
    const data = read(size);
    if (!Buffer.isBuffer(data)) return data;
    const want = fixedHeader === null ? 0 : unixFdsOf(fixedHeader, data);
    const queue = stream._wrap?.fds ?? [];
    if (queue.length < want) {
      // Not arrived yet (they come with the message's first byte, so this should not happen): wait for them.
      stream.unshift(data);
      return null;
    }
    const fds = queue.splice(0, want);
    // A message no handler claimed (not a method call) must not keep its fds open.
    closeQuietly(current);
    current = [...fds];
    return { data, fds: lenientFds(fds) };
  };
  return {
    takeFds: () => {
      const fds = current;
      current = [];
      return fds;
    },
  };
}

export interface UnixFdFraming {
  /**
   * Every fd that came with the message being handled now, whether its body refers to it or not
   * (the bus forwards fds no `h` points at); each message's fds are handed out once, to be closed
   * by the taker once the call is answered.
   */
  takeFds(): number[];
}

function closeQuietly(fds: readonly number[]): void {
  for (const fd of fds) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  }
}

/**
 * The bus forwards a message whose `h` index points past the fds it carries (seen with dbus-daemon
 * 1.14), and dbus-next then throws 'No FDs available' from its stream parser: outside every handler,
 * so the call is never answered and the exception is uncaught. Past its end this list answers -1,
 * which the dispatcher refuses like any other bad argument (Dobby's failure value).
 */
function lenientFds(fds: number[]): number[] {
  return new Proxy(fds, {
    get(target, key, receiver) {
      // dbus-next checks `fds.length <= index` before it reads `fds[index]`.
      if (key === 'length') return Number.POSITIVE_INFINITY;
      if (typeof key === 'string' && /^\d+$/.test(key) && Number(key) >= target.length) return -1;
      return Reflect.get(target, key, receiver);
    },
  });
}
