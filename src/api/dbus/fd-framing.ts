// Gives each incoming D-Bus message exactly its own unix fds on a dbus-next connection over usocket.

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
 * Returns false when the stream is not a usocket (no fd passing at all then).
 */
export function frameUnixFds(stream: unknown): boolean {
  if (!isFdStream(stream)) return false;
  const read = stream.read.bind(stream);
  let fixedHeader: Buffer | null = null;
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
    return { data, fds: queue.splice(0, want) };
  };
  return true;
}
