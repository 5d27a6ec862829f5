// Dobby's signals, and replies of basic types, marshalled by our own codec (wire.ts) and written to
// dbus-next's connection stream, in its order and with a serial it hands out: dbus-next's generic
// marshaller took 0.32 ms per Event signal in the daemon's interpreter, wire.ts 0.11 ms for the same
// bytes (test/api/raw-signals.test.ts), and a container's start sends several before its reply.

import type dbus from 'dbus-next';
import { encodeMessage, MessageKind, type WireValue } from './wire.ts';

/** The parts of dbus-next's MessageBus and connection this relies on (dbus-next 0.10). */
interface BusInternals {
  newSerial?(): number;
  _connection?: { stream?: { writable?: boolean; supportsUnixFd?: boolean; write?(chunk: unknown): unknown } };
}

export type RawSignalSender = (path: string, iface: string, member: string, signature: string, body: readonly unknown[]) => void;
/** Sends the reply to the call with `replySerial` from `destination`; false when it is not for this codec (the caller sends it). */
export type RawReplySender = (replySerial: number, destination: string | undefined, signature: string, body: readonly unknown[]) => boolean;

/** Replies made of basic types only (doubles aside: dbus-next writes -0 as 0): containers, variants and fds stay with dbus-next, whose values they are in. */
const BASIC_REPLY = /^[ybnqiuxtsog]*$/;

/** The signal's whole message, with `serial`. */
export function encodeSignal(serial: number, path: string, iface: string, member: string, signature: string, body: readonly unknown[]): Buffer {
  return encodeMessage({ type: MessageKind.SIGNAL, flags: 0, serial, path, interface: iface, member, signature, body: body as readonly WireValue[] });
}

/** The reply's whole message, with `serial`. */
export function encodeReply(serial: number, replySerial: number, destination: string | undefined, signature: string, body: readonly unknown[]): Buffer {
  return encodeMessage({
    type: MessageKind.METHOD_RETURN, flags: 0, serial, replySerial, signature, body: body as readonly WireValue[],
    ...(destination === undefined ? {} : { destination }),
  });
}

/**
 * A sender writing straight to the bus connection's stream, or null when dbus-next's internals
 * are not what this expects (the caller then sends through dbus-next). Throws as dbus-next does
 * when the stream is closed.
 */
export function rawSignalSender(bus: dbus.MessageBus): RawSignalSender | null {
  const writer = rawWriter(bus);
  if (writer === null) return null;
  return (path, iface, member, signature, body) => writer((serial) => encodeSignal(serial, path, iface, member, signature, body));
}

/** As rawSignalSender, for replies of basic types. */
export function rawReplySender(bus: dbus.MessageBus): RawReplySender | null {
  const writer = rawWriter(bus);
  if (writer === null) return null;
  return (replySerial, destination, signature, body) => {
    if (!BASIC_REPLY.test(signature)) return false;
    writer((serial) => encodeReply(serial, replySerial, destination, signature, body));
    return true;
  };
}

function rawWriter(bus: dbus.MessageBus): ((encode: (serial: number) => Buffer) => void) | null {
  const internals = bus as unknown as BusInternals;
  const stream = internals._connection?.stream;
  if (typeof internals.newSerial !== 'function' || stream === undefined || typeof stream.write !== 'function') return null;
  const newSerial = internals.newSerial.bind(bus);
  const write = stream.write.bind(stream);
  return (encode) => {
    if (stream.writable === false) throw new Error('Cannot send message, stream is closed');
    const data = encode(newSerial());
    // As dbus-next writes: usocket streams take { data, fds }.
    write(stream.supportsUnixFd === true ? { data, fds: [] } : data);
  };
}
