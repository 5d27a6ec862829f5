// A small D-Bus message codec (marshal/unmarshal, little-endian), so the CLI talks D-Bus without loading dbus-next.

import { parseSignature, signatureOf, type SigNode } from './signature.ts';

export const MessageKind = { METHOD_CALL: 1, METHOD_RETURN: 2, ERROR: 3, SIGNAL: 4 } as const;
export type MessageKind = (typeof MessageKind)[keyof typeof MessageKind];

export const FLAG_NO_REPLY_EXPECTED = 0x1;

/** A variant value: its signature and the value it holds. */
export interface Variant {
  readonly signature: string;
  readonly value: WireValue;
}

/** JS shapes of D-Bus values: numbers (bigint for 64-bit), booleans, strings, arrays for arrays/structs/dict entries. */
export type WireValue = number | bigint | boolean | string | Variant | readonly WireValue[];

export interface WireMessage {
  readonly type: MessageKind;
  readonly flags: number;
  readonly serial: number;
  readonly path?: string;
  readonly interface?: string;
  readonly member?: string;
  readonly errorName?: string;
  readonly replySerial?: number;
  readonly destination?: string;
  readonly sender?: string;
  readonly signature: string;
  readonly body: readonly WireValue[];
}

const FIELD = { path: 1, interface: 2, member: 3, errorName: 4, replySerial: 5, destination: 6, sender: 7, signature: 8, unixFds: 9 } as const;

function alignmentOf(code: string): number {
  switch (code) {
    case 'y': case 'g': case 'v': return 1;
    case 'n': case 'q': return 2;
    case 'x': case 't': case 'd': case '(': case '{': return 8;
    default: return 4;
  }
}

class Writer {
  #buf = Buffer.alloc(256);
  length = 0;

  #ensure(n: number): void {
    if (this.length + n <= this.#buf.length) return;
    const next = Buffer.alloc(Math.max(this.#buf.length * 2, this.length + n));
    this.#buf.copy(next, 0, 0, this.length);
    this.#buf = next;
  }
  /** The padding is zeros already: the buffer is zero-filled and only ever written past `length`. */
  align(n: number): void {
    const pad = (n - (this.length % n)) % n;
    this.#ensure(pad);
    this.length += pad;
  }
  u8(v: number): void { this.#ensure(1); this.#buf.writeUInt8(v, this.length); this.length += 1; }
  u16(v: number): void { this.align(2); this.#ensure(2); this.#buf.writeUInt16LE(v, this.length); this.length += 2; }
  i16(v: number): void { this.align(2); this.#ensure(2); this.#buf.writeInt16LE(v, this.length); this.length += 2; }
  u32(v: number): void { this.align(4); this.#ensure(4); this.#buf.writeUInt32LE(v, this.length); this.length += 4; }
  i32(v: number): void { this.align(4); this.#ensure(4); this.#buf.writeInt32LE(v, this.length); this.length += 4; }
  u64(v: bigint): void { this.align(8); this.#ensure(8); this.#buf.writeBigUInt64LE(v, this.length); this.length += 8; }
  i64(v: bigint): void { this.align(8); this.#ensure(8); this.#buf.writeBigInt64LE(v, this.length); this.length += 8; }
  f64(v: number): void { this.align(8); this.#ensure(8); this.#buf.writeDoubleLE(v, this.length); this.length += 8; }
  bytes(b: Buffer): void { this.#ensure(b.length); b.copy(this.#buf, this.length); this.length += b.length; }
  setU32(at: number, v: number): void { this.#buf.writeUInt32LE(v, at); }
  result(): Buffer { return this.#buf.subarray(0, this.length); }
}

function fail(node: SigNode, value: unknown): never {
  throw new TypeError(`value ${String(value)} does not fit D-Bus type '${signatureOf(node)}'`);
}

function num(node: SigNode, v: WireValue): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'bigint') return Number(v);
  return fail(node, v);
}

function writeValue(w: Writer, node: SigNode, v: WireValue): void {
  switch (node.code) {
    case 'y': w.u8(num(node, v)); return;
    case 'b': if (typeof v !== 'boolean') fail(node, v); w.u32(v ? 1 : 0); return;
    case 'n': w.i16(num(node, v)); return;
    case 'q': w.u16(num(node, v)); return;
    case 'i': w.i32(num(node, v)); return;
    case 'u': case 'h': w.u32(num(node, v)); return;
    case 'x': w.i64(typeof v === 'bigint' ? v : BigInt(num(node, v))); return;
    case 't': w.u64(typeof v === 'bigint' ? v : BigInt(num(node, v))); return;
    case 'd': if (typeof v !== 'number') fail(node, v); w.f64(v); return;
    case 's': case 'o': {
      if (typeof v !== 'string') fail(node, v);
      const b = Buffer.from(v, 'utf8');
      w.u32(b.length); w.bytes(b); w.u8(0);
      return;
    }
    case 'g': {
      if (typeof v !== 'string') fail(node, v);
      const b = Buffer.from(v, 'ascii');
      w.u8(b.length); w.bytes(b); w.u8(0);
      return;
    }
    case 'v': {
      if (typeof v !== 'object' || Array.isArray(v) || !('signature' in v)) fail(node, v);
      const variant = v as Variant;
      const inner = parseSignature(variant.signature);
      if (inner.length !== 1) fail(node, v);
      writeValue(w, { code: 'g', children: [] }, variant.signature);
      writeValue(w, inner[0]!, variant.value);
      return;
    }
    case 'a': {
      if (!Array.isArray(v)) fail(node, v);
      const child = node.children[0]!;
      w.u32(0);
      const lengthAt = w.length - 4;
      w.align(alignmentOf(child.code));
      const start = w.length;
      for (const item of v as readonly WireValue[]) writeValue(w, child, item);
      w.setU32(lengthAt, w.length - start);
      return;
    }
    case '(': case '{': {
      if (!Array.isArray(v) || v.length !== node.children.length) fail(node, v);
      w.align(8);
      node.children.forEach((child, i) => writeValue(w, child, (v as readonly WireValue[])[i]!));
      return;
    }
    default: fail(node, v);
  }
}

class Reader {
  readonly #buf: Buffer;
  pos: number;
  constructor(buf: Buffer, pos = 0) { this.#buf = buf; this.pos = pos; }
  align(n: number): void { this.pos += (n - (this.pos % n)) % n; }
  #need(n: number): void { if (this.pos + n > this.#buf.length) throw new RangeError('D-Bus message ends early'); }
  u8(): number { this.#need(1); return this.#buf.readUInt8(this.pos++); }
  u16(): number { this.align(2); this.#need(2); const v = this.#buf.readUInt16LE(this.pos); this.pos += 2; return v; }
  i16(): number { this.align(2); this.#need(2); const v = this.#buf.readInt16LE(this.pos); this.pos += 2; return v; }
  u32(): number { this.align(4); this.#need(4); const v = this.#buf.readUInt32LE(this.pos); this.pos += 4; return v; }
  i32(): number { this.align(4); this.#need(4); const v = this.#buf.readInt32LE(this.pos); this.pos += 4; return v; }
  u64(): bigint { this.align(8); this.#need(8); const v = this.#buf.readBigUInt64LE(this.pos); this.pos += 8; return v; }
  i64(): bigint { this.align(8); this.#need(8); const v = this.#buf.readBigInt64LE(this.pos); this.pos += 8; return v; }
  f64(): number { this.align(8); this.#need(8); const v = this.#buf.readDoubleLE(this.pos); this.pos += 8; return v; }
  str(len: number): string { this.#need(len + 1); const s = this.#buf.toString('utf8', this.pos, this.pos + len); this.pos += len + 1; return s; }
}

function readValue(r: Reader, node: SigNode): WireValue {
  switch (node.code) {
    case 'y': return r.u8();
    case 'b': return r.u32() !== 0;
    case 'n': return r.i16();
    case 'q': return r.u16();
    case 'i': return r.i32();
    case 'u': case 'h': return r.u32();
    case 'x': return r.i64();
    case 't': return r.u64();
    case 'd': return r.f64();
    case 's': case 'o': return r.str(r.u32());
    case 'g': return r.str(r.u8());
    case 'v': {
      const signature = r.str(r.u8());
      const inner = parseSignature(signature);
      if (inner.length !== 1) throw new TypeError(`variant signature '${signature}' is not one type`);
      return { signature, value: readValue(r, inner[0]!) };
    }
    case 'a': {
      const length = r.u32();
      const child = node.children[0]!;
      r.align(alignmentOf(child.code));
      const end = r.pos + length;
      const out: WireValue[] = [];
      while (r.pos < end) out.push(readValue(r, child));
      return out;
    }
    case '(': case '{': {
      r.align(8);
      return node.children.map((child) => readValue(r, child));
    }
    default: throw new TypeError(`cannot read D-Bus type '${node.code}'`);
  }
}

/** Marshals a body on its own (offset 0 is 8-aligned, as a body is inside a message). */
/** Parsed signatures, for the few the daemon sends again and again (bounded: calls bring others). */
const parsed = new Map<string, SigNode[]>();

function nodesOf(signature: string): SigNode[] {
  let nodes = parsed.get(signature);
  if (nodes === undefined) {
    nodes = parseSignature(signature);
    if (parsed.size >= 64) parsed.clear();
    parsed.set(signature, nodes);
  }
  return nodes;
}

export function marshalBody(signature: string, body: readonly WireValue[]): Buffer {
  const nodes = nodesOf(signature);
  if (nodes.length !== body.length) throw new TypeError(`signature '${signature}' wants ${nodes.length} values, got ${body.length}`);
  const w = new Writer();
  nodes.forEach((node, i) => writeValue(w, node, body[i]!));
  return w.result();
}

export function unmarshalBody(signature: string, data: Buffer): WireValue[] {
  const r = new Reader(data);
  return parseSignature(signature).map((node) => readValue(r, node));
}

/** A whole message, ready to write to the socket. */
export function encodeMessage(m: Omit<WireMessage, 'sender'>): Buffer {
  const body = marshalBody(m.signature, m.body);
  const fields: WireValue[] = [];
  const add = (code: number, sig: string, value: WireValue | undefined): void => {
    if (value !== undefined) fields.push([code, { signature: sig, value }]);
  };
  add(FIELD.path, 'o', m.path);
  add(FIELD.interface, 's', m.interface);
  add(FIELD.member, 's', m.member);
  add(FIELD.errorName, 's', m.errorName);
  add(FIELD.replySerial, 'u', m.replySerial);
  add(FIELD.destination, 's', m.destination);
  if (m.signature !== '') add(FIELD.signature, 'g', m.signature);
  const w = new Writer();
  writeValue(w, { code: 'y', children: [] }, 'l'.charCodeAt(0));
  w.u8(m.type);
  w.u8(m.flags);
  w.u8(1);
  w.u32(body.length);
  w.u32(m.serial);
  writeValue(w, nodesOf('a(yv)')[0]!, fields);
  w.align(8);
  w.bytes(body);
  return w.result();
}

/** Bytes needed for the message at the start of `buf`, or null while fewer than 16 bytes are there. */
export function messageLength(buf: Buffer): number | null {
  if (buf.length < 16) return null;
  const le = buf[0] === 0x6c;
  const bodyLength = le ? buf.readUInt32LE(4) : buf.readUInt32BE(4);
  const fieldsLength = le ? buf.readUInt32LE(12) : buf.readUInt32BE(12);
  const headerEnd = 16 + fieldsLength;
  return headerEnd + ((8 - (headerEnd % 8)) % 8) + bodyLength;
}

/** Splits a byte stream into whole D-Bus messages, keeping an incomplete tail for the next chunk. */
export class MessageFramer {
  #buffer: Buffer = Buffer.alloc(0);

  /** The messages `chunk` completes, raw, in order. */
  push(chunk: Buffer): Buffer[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const messages: Buffer[] = [];
    for (;;) {
      const length = messageLength(this.#buffer);
      if (length === null || this.#buffer.length < length) return messages;
      messages.push(this.#buffer.subarray(0, length));
      this.#buffer = this.#buffer.subarray(length);
    }
  }
}

/** Decodes one complete message (little-endian only: every peer on a Linux host sends that). */
export function decodeMessage(buf: Buffer): WireMessage {
  if (buf[0] !== 0x6c) throw new TypeError('big-endian D-Bus messages are not supported');
  const r = new Reader(buf);
  r.pos = 1;
  const type = r.u8() as MessageKind;
  const flags = r.u8();
  r.u8();
  const bodyLength = r.u32();
  const serial = r.u32();
  const fields = readValue(r, parseSignature('a(yv)')[0]!) as [number, Variant][];
  r.align(8);
  const header: Record<string, WireValue> = {};
  const names = Object.entries(FIELD);
  for (const [code, variant] of fields) {
    const name = names.find(([, c]) => c === code)?.[0];
    if (name !== undefined) header[name] = variant.value;
  }
  const signature = typeof header['signature'] === 'string' ? header['signature'] : '';
  const body = bodyLength > 0 ? unmarshalBody(signature, buf.subarray(r.pos, r.pos + bodyLength)) : [];
  const str = (k: string): string | undefined => (typeof header[k] === 'string' ? (header[k] as string) : undefined);
  return {
    type, flags, serial, signature, body,
    ...(str('path') === undefined ? {} : { path: str('path') }),
    ...(str('interface') === undefined ? {} : { interface: str('interface') }),
    ...(str('member') === undefined ? {} : { member: str('member') }),
    ...(str('errorName') === undefined ? {} : { errorName: str('errorName') }),
    ...(typeof header['replySerial'] === 'number' ? { replySerial: header['replySerial'] } : {}),
    ...(str('destination') === undefined ? {} : { destination: str('destination') }),
    ...(str('sender') === undefined ? {} : { sender: str('sender') }),
  };
}

/**
 * The UNIX_FDS header field of a message, from its 16-byte fixed header and the bytes that
 * follow it (at least the header fields); 0 when absent or when the message is big-endian.
 */
export function unixFdsOf(fixedHeader: Buffer, rest: Buffer): number {
  if (fixedHeader.length < 16 || fixedHeader[0] !== 0x6c) return 0;
  const fieldsLength = fixedHeader.readUInt32LE(12);
  if (rest.length < fieldsLength) return 0;
  const r = new Reader(Buffer.concat([fixedHeader, rest.subarray(0, fieldsLength)]), 12);
  try {
    const fields = readValue(r, parseSignature('a(yv)')[0]!) as [number, Variant][];
    const value = fields.find(([code]) => code === FIELD.unixFds)?.[1].value;
    return typeof value === 'number' ? value : 0;
  } catch {
    return 0;
  }
}
