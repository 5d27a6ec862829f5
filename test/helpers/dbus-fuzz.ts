// Generators for fuzzing dobbyd's D-Bus API (fast-check), and the reply each call must get according to Dobby's
// documented contract (reference §1): failure values for bad arguments on known members, UnknownMethod otherwise.

import { fstatSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import type { WireValue } from '../../src/api/dbus/wire.ts';
import type { RawCall } from './raw-dbus.ts';

export const OBJECT = '/org/rdk/dobby';
export const ADMIN = 'org.rdk.dobby.admin1';
export const CTRL = 'org.rdk.dobby.ctrl1';
export const DEBUG = 'org.rdk.dobby.debug1';
/** dobby-ts's own extra interface (never changes Dobby's): GetStats of a descriptor, "" when unknown. */
export const STATS = 'org.rdk.dobby.stats1';
export const UNKNOWN_METHOD = 'org.freedesktop.DBus.Error.UnknownMethod';
export const INVALID_ARGS = 'org.freedesktop.DBus.Error.InvalidArgs';

/**
 * The contract, written from the reference (§1.2), not from the implementation: for each member the
 * signatures it takes, its reply signature, and what a daemon with no containers answers — for an
 * accepted signature (`ok`, from the arguments) and for any other (`fail`, Dobby's failure value).
 */
interface Member {
  readonly accepts: (signature: string) => boolean;
  /** The long form, used to generate well-typed calls. */
  readonly forms: readonly string[];
  readonly out: string;
  readonly fail: readonly WireValue[];
  readonly ok: (body: readonly WireValue[], call: RawCall) => readonly WireValue[];
}

const exactly = (...sigs: string[]) => (signature: string) => sigs.includes(signature);
const member = (forms: string[], out: string, fail: WireValue[], ok: (body: readonly WireValue[]) => readonly WireValue[] = () => fail): Member =>
  ({ accepts: exactly(...forms), forms, out, fail, ok });

export const CONTRACT: Readonly<Record<string, Readonly<Record<string, Member>>>> = {
  [ADMIN]: {
    // Ping and List ignore their arguments. Shutdown too, which is why the fuzzer never sends it.
    Ping: { accepts: () => true, forms: [''], out: '', fail: [], ok: () => [] },
    SetLogLevel: member(['i'], 'b', [false], () => [true]),
    // Dobby wants a second argument its own client leaves out; dobby-ts takes both. NULL (0), SYSLOG (1) and
    // CONSOLE (3, the fuzzed daemon has one) always work; ETHANLOG (2) needs the write end of a pipe as its fd.
    SetLogMethod: {
      accepts: (s) => /^u[ybnqiuxtdsogh]?$/.test(s), forms: ['u', 'uh', 'us', 'ui'], out: 'b', fail: [false],
      ok: (body, call) => [body[0] === 2 ? call.signature === 'uh' && isWritablePipe(call.fds?.[body[1] as number]) : [0, 1, 3].includes(body[0] as number)],
    },
    // The fuzzer's addresses never name a listening bus (see `busAddress`), so the answer is false.
    SetAIDbusAddress: member(['bs'], 'b', [false]),
  },
  [CTRL]: {
    Start: member(['ssah', 'ssahssas'], 'i', [-1]),
    StartFromSpec: member(['ssah', 'ssahssas'], 'i', [-1]),
    StartFromBundle: member(['ssah', 'ssahssas', 'ssahssasuu'], 'i', [-1]),
    Stop: member(['ib'], 'b', [false]),
    Pause: member(['i'], 'b', [false]),
    Resume: member(['i'], 'b', [false]),
    Hibernate: member(['is'], 'b', [false]),
    Wakeup: member(['i'], 'b', [false]),
    Mount: member(['issass'], 'b', [false]),
    Unmount: member(['is'], 'b', [false]),
    Annotate: member(['iss'], 'b', [false]),
    RemoveAnnotation: member(['is'], 'b', [false]),
    Exec: member(['iss'], 'b', [false]),
    // An unknown descriptor is INVALID (0); -1 is only for bad arguments.
    GetState: member(['i'], 'i', [-1], () => [0]),
    GetInfo: member(['i'], 's', ['']),
    List: { accepts: () => true, forms: [''], out: 'aias', fail: [[], []], ok: () => [[], []] },
  },
  [DEBUG]: {
    CreateBundle: member(['ss'], 'b', [false]),
    GetSpec: member(['i'], 's', ['']),
    GetOCIConfig: member(['i'], 's', ['']),
  },
  [STATS]: {
    GetStats: member(['i'], 's', ['']),
  },
};

/** Members never sent: Shutdown ends the daemon whatever its arguments. */
export const NEVER = new Set(['Shutdown']);

export type Expected =
  | { readonly kind: 'return'; readonly signature: string; readonly body: readonly WireValue[] }
  | { readonly kind: 'error'; readonly name: string }
  /** NO_REPLY_EXPECTED: nothing may come back. */
  | { readonly kind: 'none' };

/** A generated call, with the reply it must get. */
export interface FuzzCall {
  readonly call: RawCall;
  readonly expected: Expected;
  /** What the generator meant to test (for failure messages). */
  readonly label: string;
}

/** Which member a call reaches: with an interface, that one; without, the first interface that has the member. */
function lookup(iface: string | undefined, name: string): Member | undefined {
  if (iface !== undefined) return CONTRACT[iface]?.[name];
  for (const i of [ADMIN, CTRL, DEBUG, STATS]) if (CONTRACT[i]![name] !== undefined) return CONTRACT[i]![name];
  return undefined;
}

export function expectedReply(call: RawCall): Expected {
  if (((call.flags ?? 0) & 1) !== 0) return { kind: 'none' };
  const m = call.path === OBJECT ? lookup(call.interface, call.member) : undefined;
  if (m === undefined) return { kind: 'error', name: UNKNOWN_METHOD };
  // A unix fd index past the fds the message carries is a bad argument like any other.
  const accepted = m.accepts(call.signature) && !hasFdBeyond(call.signature, call.body, call.fds?.length ?? 0);
  return { kind: 'return', signature: m.out, body: accepted ? m.ok(call.body, call) : m.fail };
}

/** An fd of this process that is a pipe opened for writing (what SetLogMethod's ethanlog takes). */
function isWritablePipe(fd: number | undefined): boolean {
  if (fd === undefined) return false;
  try {
    const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
    return fstatSync(fd).isFIFO() && flags !== undefined && (Number.parseInt(flags, 8) & 0o3) !== 0;
  } catch {
    return false;
  }
}

// ---- types -------------------------------------------------------------------------------------

export const BASIC = ['y', 'b', 'n', 'q', 'i', 'u', 'x', 't', 'd', 's', 'o', 'g', 'h'] as const;

/** One complete D-Bus type, nested up to `depth` containers. */
export function typeArb(depth = 3): fc.Arbitrary<string> {
  const basic = fc.constantFrom(...BASIC);
  if (depth <= 0) return basic;
  const inner = typeArb(depth - 1);
  return fc.oneof(
    { weight: 6, arbitrary: basic },
    { weight: 1, arbitrary: fc.constant('v') },
    { weight: 2, arbitrary: inner.map((t) => `a${t}`) },
    { weight: 1, arbitrary: fc.array(inner, { minLength: 1, maxLength: 4 }).map((ts) => `(${ts.join('')})`) },
    { weight: 1, arbitrary: fc.tuple(basic, inner).map(([k, v]) => `a{${k}${v}}`) },
  );
}

/** A whole signature: zero or more complete types (kept well inside D-Bus's 255-byte limit). */
export const signatureArb: fc.Arbitrary<string> = fc.array(typeArb(3), { maxLength: 10 })
  .map((ts) => ts.join(''))
  .filter((s) => s.length <= 200);

// ---- values ------------------------------------------------------------------------------------

/** Strings that pass the bus: any Unicode scalar, noncharacters (U+FFFE, U+FFFF, U+FDD0) included. */
const NONCHARACTERS = ['\uFFFE', '\uFFFF', '\uFDD0', '\uFDEF', '\u{1FFFE}', '\u{10FFFF}'];
const TRICKY = [
  '', ' ', '.', '..', '../x', '../../etc/passwd', 'a/b', '/abs', '/', '//', 'a\\b', '-', '--', '-rf', '--help', '$(id)', '`id`',
  'a b', 'a\tb', 'a\nb', '\u0001', '\u007f', '%s%n', '{}', '[]', 'null', '{"version":"1.0"}', 'é', '日本', '🐳', '\u200b', '\u202e',
  ...NONCHARACTERS,
  '/tmp', '/proc/self/root', '/proc/1/root/etc', '/dev/null', '/etc/shadow', '/run/dobby/../../etc', '/tmp/../etc',
  'x'.repeat(128), 'x'.repeat(129), 'a'.repeat(4096),
];

export const stringArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 12, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 9, arbitrary: fc.constantFrom(...TRICKY) },
  { weight: 6, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }).map((s) => s.replace(/[\uD800-\uDFFF\0]/g, '\uFFFD')) },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...TRICKY), fc.string({ maxLength: 10 }), fc.constantFrom(...NONCHARACTERS)).map((p) => p.join('')) },
  // Big: up to 256 KiB (a few of 8 MiB are sent on their own, see the test).
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 1_000, max: 1 << 18 }), fc.constantFrom('a', 'é', '\uFFFF', '/', '.')).map(([n, c]) => c.repeat(Math.ceil(n / c.length))) },
);

const INT32_EDGES = [0, 1, -1, 2, 734, 879, 1023, 1024, 65535, 2 ** 31 - 1, -(2 ** 31)];
const int32Arb = fc.oneof(fc.constantFrom(...INT32_EDGES), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
const uint32Arb = fc.oneof(fc.constantFrom(0, 1, 65534, 65535, 2 ** 32 - 1), fc.integer({ min: 0, max: 2 ** 32 - 1 }));

/** Object paths: valid ones only (the bus drops a connection that sends an invalid one). */
const objectPathArb = fc.oneof(
  fc.constantFrom('/', OBJECT, '/org/rdk', '/org/rdk/dobby/x', '/org/rdk/dobby/_', '/org/rdk/dobby_', '/a/b/c'),
  fc.array(fc.stringMatching(/^[A-Za-z0-9_]{1,12}$/), { maxLength: 5 }).map((els) => `/${els.join('/')}`),
);

const signatureValueArb = fc.oneof(fc.constantFrom('', 'i', 'ssah', 'a{sv}', 'v', '(ii)'), signatureArb.filter((s) => s.length < 60));

/** Values of a type, in wire.ts's shapes; `h` values are placeholders resolved by `attachFds`. */
export function valueArb(type: string): fc.Arbitrary<WireValue> {
  const c = type[0];
  switch (c) {
    case 'y': return fc.integer({ min: 0, max: 255 });
    case 'b': return fc.boolean();
    case 'n': return fc.integer({ min: -32768, max: 32767 });
    case 'q': return fc.integer({ min: 0, max: 65535 });
    case 'i': return int32Arb;
    case 'u': return uint32Arb;
    case 'x': return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
    case 't': return fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
    case 'd': return fc.oneof(fc.double(), fc.constantFrom(Number.NaN, Infinity, -Infinity, -0, 1e308));
    case 's': return stringArb;
    case 'o': return objectPathArb;
    case 'g': return signatureValueArb;
    // An fd slot: >= 0 picks a pool fd, < 0 means "an index past the fds the message carries".
    case 'h': return fc.integer({ min: -3, max: 7 }).map((n) => ({ signature: 'h-slot', value: n }));
    case 'v': return typeArb(2).chain((t) => valueArb(t).map((value) => ({ signature: t, value })));
    case 'a': {
      const elem = elementType(type.slice(1));
      if (elem.startsWith('{')) {
        const [k, v] = splitTypes(elem.slice(1, -1));
        return fc.array(fc.tuple(valueArb(k!), valueArb(v!)), { maxLength: 4 }) as fc.Arbitrary<WireValue>;
      }
      return fc.array(valueArb(elem), { maxLength: elem === 's' ? 3 : 6 }) as fc.Arbitrary<WireValue>;
    }
    case '(': return fc.tuple(...splitTypes(type.slice(1, -1)).map(valueArb)) as fc.Arbitrary<WireValue>;
    default: throw new Error(`no value generator for '${type}'`);
  }
}

/** The first complete type of a signature. */
export function elementType(sig: string): string {
  const c = sig[0];
  if (c === 'a') return `a${elementType(sig.slice(1))}`;
  if (c === '(' || c === '{') {
    let depth = 0;
    for (let i = 0; i < sig.length; i++) {
      if (sig[i] === '(' || sig[i] === '{') depth++;
      if (sig[i] === ')' || sig[i] === '}') depth--;
      if (depth === 0) return sig.slice(0, i + 1);
    }
    throw new Error(`unbalanced signature '${sig}'`);
  }
  if (c === undefined) throw new Error('empty signature');
  return c;
}

export function splitTypes(sig: string): string[] {
  const out: string[] = [];
  for (let rest = sig; rest.length > 0;) {
    const t = elementType(rest);
    out.push(t);
    rest = rest.slice(t.length);
  }
  return out;
}

/** A body for a signature. */
export function bodyArb(signature: string): fc.Arbitrary<WireValue[]> {
  const types = splitTypes(signature);
  return types.length === 0 ? fc.constant([]) : (fc.tuple(...types.map(valueArb)) as fc.Arbitrary<WireValue[]>);
}

/**
 * Replaces the `h` placeholders with fd indexes and returns the fds to attach: a slot >= 0 takes a
 * fd from the pool (its own copy of the number; the kernel dups it into the receiver), a slot < 0
 * becomes an index past the end of the attached fds (the bus forwards such messages unchanged).
 */
const MAX_FDS = 8;

export function attachFds(body: readonly WireValue[], pool: readonly number[]): { body: WireValue[]; fds: number[] } {
  const fds: number[] = [];
  const outOfRange: { set(i: number): void }[] = [];
  const walk = (v: WireValue): WireValue => {
    if (typeof v === 'object' && v !== null && !Array.isArray(v) && 'signature' in v) {
      if (v.signature === 'h-slot') {
        const slot = v.value as number;
        // The bus refuses messages with more fds than its limit (16 by default): stay below it.
        if (slot >= 0 && pool.length > 0 && fds.length < MAX_FDS) {
          fds.push(pool[slot % pool.length]!);
          return fds.length - 1;
        }
        const cell = { value: 0 };
        outOfRange.push({ set: (i) => (cell.value = i) });
        return cell as unknown as WireValue;
      }
      return { signature: v.signature, value: walk(v.value) };
    }
    if (Array.isArray(v)) return v.map(walk);
    return v;
  };
  const walked = body.map(walk);
  for (const o of outOfRange) o.set(fds.length + 3);
  // Cells were objects standing in for numbers: turn them into the numbers now.
  const unbox = (v: WireValue): WireValue => {
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      if ('signature' in v) return { signature: v.signature, value: unbox(v.value) };
      return (v as unknown as { value: number }).value;
    }
    if (Array.isArray(v)) return v.map(unbox);
    return v;
  };
  return { body: walked.map(unbox), fds };
}

/** Whether the value tree (for `signature`) uses an out-of-range fd index. */
export function hasFdBeyond(signature: string, body: readonly WireValue[], fdCount: number): boolean {
  let beyond = false;
  const walk = (type: string, v: WireValue): void => {
    const c = type[0];
    if (c === 'h') {
      if (typeof v === 'number' && v >= fdCount) beyond = true;
    } else if (c === 'v') {
      const variant = v as { signature: string; value: WireValue };
      walk(variant.signature, variant.value);
    } else if (c === 'a') {
      const elem = elementType(type.slice(1));
      if (elem.startsWith('{')) {
        const [k, val] = splitTypes(elem.slice(1, -1));
        for (const e of v as WireValue[][]) {
          walk(k!, e[0]!);
          walk(val!, e[1]!);
        }
      } else for (const e of v as WireValue[]) walk(elem, e);
    } else if (c === '(') {
      splitTypes(type.slice(1, -1)).forEach((t, i) => walk(t, (v as WireValue[])[i]!));
    }
  };
  splitTypes(signature).forEach((t, i) => walk(t, body[i]!));
  return beyond;
}

// ---- calls -------------------------------------------------------------------------------------

const KNOWN: readonly [string, string][] = Object.entries(CONTRACT).flatMap(([iface, members]) =>
  Object.keys(members).map((name) => [iface, name] as [string, string]));

const memberNameArb = fc.oneof(
  fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,30}$/),
  fc.constantFrom('stop', 'STOP', 'Stop_', 'GetState2', 'StartFromBundles', 'Introspect', 'Get', 'Set', 'GetAll', 'Hello', 'Kill', 'Delete', 'Run', 'Exec2', 'a'.repeat(255)),
).filter((m) => !NEVER.has(m) && lookup(undefined, m) === undefined);

const interfaceArb = fc.oneof(
  fc.constantFrom('org.rdk.dobby', 'org.rdk.dobby.ctrl', 'org.rdk.dobby.ctrl2', 'org.rdk.dobby.admin1x', 'org.rdk.Dobby.ctrl1', 'org.rdk.dobby.events1', 'org.freedesktop.DBus', 'a.b'),
  fc.array(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,10}$/), { minLength: 2, maxLength: 4 }).map((els) => els.join('.')),
).filter((i) => CONTRACT[i] === undefined && !i.startsWith('org.freedesktop.DBus.'));

/** An address no bus listens at: missing unix paths and abstract names only, never a network address. */
const busAddressArb = fc.oneof(
  stringArb.filter((s) => !/tcp:|nonce-tcp:|unixexec:|launchd:|autolaunch:/i.test(s)),
  fc.stringMatching(/^[0-9a-f]{4,12}$/).map((h) => `unix:path=/tmp/dobby-fuzz-no-bus-${h}`),
  fc.constantFrom('unix:path=', 'unix:', 'unix:path=/nonexistent/bus', 'unix:abstract=dobby-fuzz-no-such-bus', 'garbage', ''),
);

/** A well-typed call to a known member: its own signature, fuzzed values. */
function wellTyped(pool: readonly number[]): fc.Arbitrary<FuzzCall> {
  return fc.constantFrom(...KNOWN).chain(([iface, name]) => {
    const m = CONTRACT[iface]![name]!;
    return fc.tuple(fc.constantFrom(...m.forms), fc.boolean()).chain(([form, withInterface]) =>
      bodyArb(form).chain((body) =>
        (name === 'SetAIDbusAddress' ? busAddressArb.map((a) => [body[0]!, a])
          // Levels above WARNING would have the daemon log every fuzz call: keep them at or below it.
          : name === 'SetLogLevel' ? fc.integer({ min: -(2 ** 31), max: 2 }).map((l) => [l])
            : fc.constant(body)).map((b) =>
          build({ path: OBJECT, ...(withInterface ? { interface: iface } : {}), member: name, signature: form }, b, pool, `well-typed ${name}(${form})`))));
  });
}

/** A known member with any other signature (arity and types). */
function wrongTyped(pool: readonly number[]): fc.Arbitrary<FuzzCall> {
  return fc.tuple(fc.constantFrom(...KNOWN), signatureArb, fc.boolean()).chain(([[iface, name], sig, withInterface]) =>
    bodyArb(sig).map((body) => build({ path: OBJECT, ...(withInterface ? { interface: iface } : {}), member: name, signature: sig }, body, pool, `typed ${name}(${sig})`)));
}

function unknownMember(pool: readonly number[]): fc.Arbitrary<FuzzCall> {
  return fc.tuple(memberNameArb, fc.option(fc.constantFrom(ADMIN, CTRL, DEBUG, STATS), { nil: undefined }), signatureArb).chain(([name, iface, sig]) =>
    bodyArb(sig).map((body) => build({ path: OBJECT, ...(iface === undefined ? {} : { interface: iface }), member: name, signature: sig }, body, pool, `unknown member ${name}`)));
}

function elsewhere(pool: readonly number[]): fc.Arbitrary<FuzzCall> {
  return fc.tuple(
    fc.constantFrom(...KNOWN),
    fc.oneof(interfaceArb.map((i) => ({ path: OBJECT, interface: i as string | undefined })), objectPathArb.filter((p) => p !== OBJECT).map((p) => ({ path: p, interface: undefined as string | undefined }))),
    signatureArb,
  ).chain(([[, name], where, sig]) => bodyArb(sig).map((body) =>
    build({ ...where, ...(where.interface === undefined ? {} : { interface: where.interface }), member: name, signature: sig }, body, pool, `${name} at ${where.path} ${where.interface ?? ''}`)));
}

function build(head: Omit<RawCall, 'body' | 'fds'>, rawBody: readonly WireValue[], pool: readonly number[], label: string): FuzzCall {
  const { body, fds } = attachFds(rawBody, pool);
  const call: RawCall = { destination: 'org.rdk.dobby', ...head, body, fds };
  return { call, expected: expectedReply(call), label };
}

/** Extra header fields the bus forwards: unknown codes are to be ignored by the receiver. */
const extraFieldsArb = fc.array(fc.tuple(fc.integer({ min: 20, max: 255 }), fc.constantFrom<[string, WireValue]>(['s', 'x'], ['u', 7], ['as', ['a']], ['v', { signature: 'i', value: 1 }])), { maxLength: 2 })
  .map((fs) => fs.map(([code, [signature, value]]) => [code, { signature, value }] as [number, { signature: string; value: WireValue }]));

/** Any fuzz call, mixing the kinds above; a few ask for no reply, some carry unknown header fields. */
export function fuzzCallArb(pool: readonly number[]): fc.Arbitrary<FuzzCall> {
  return fc.tuple(
    fc.oneof(
      { weight: 8, arbitrary: wellTyped(pool) },
      { weight: 5, arbitrary: wrongTyped(pool) },
      { weight: 3, arbitrary: unknownMember(pool) },
      { weight: 2, arbitrary: elsewhere(pool) },
    ),
    fc.integer({ min: 0, max: 99 }),
    extraFieldsArb,
  ).map(([fuzz, roll, extraFields]) => {
    const flags = roll < 3 ? 1 : 0;
    const call: RawCall = { ...fuzz.call, flags, ...(roll >= 3 && roll < 13 ? { extraFields } : {}) };
    return { ...fuzz, call, expected: expectedReply(call) };
  });
}

/** Compares an outcome with the expectation; null when it matches, else why not. */
export function mismatch(expected: Expected, outcome: { kind: string; signature?: string; body?: readonly WireValue[]; name?: string }): string | null {
  if (expected.kind === 'none') return outcome.kind === 'timeout' ? null : `a reply came to a NO_REPLY_EXPECTED call: ${show(outcome)}`;
  if (expected.kind === 'error') {
    return outcome.kind === 'error' && outcome.name === expected.name ? null : `wanted error ${expected.name}, got ${show(outcome)}`;
  }
  if (outcome.kind !== 'return') return `wanted (${expected.signature}) ${show(expected.body)}, got ${show(outcome)}`;
  if (outcome.signature !== expected.signature || show(outcome.body) !== show(expected.body)) {
    return `wanted (${expected.signature}) ${show(expected.body)}, got (${outcome.signature}) ${show(outcome.body)}`;
  }
  return null;
}

export function show(v: unknown): string {
  const text = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : typeof x === 'string' && x.length > 80 ? `${x.slice(0, 40)}…(${x.length} chars)` : x));
  return text === undefined ? String(v) : text.length > 400 ? `${text.slice(0, 400)}…` : text;
}

// ---- generated bundles -------------------------------------------------------------------------

/** One edit of a working bundle config (the base runs /bin/sleep under tini); most break it, some do not. */
export type ConfigEdit = { readonly label: string; readonly apply: (config: Record<string, unknown>) => void };

const edit = (label: string, apply: (c: Record<string, any>) => void): ConfigEdit => ({ label, apply }); // eslint-disable-line @typescript-eslint/no-explicit-any -- configs are free-form JSON here

export const configEditArb: fc.Arbitrary<ConfigEdit> = fc.oneof(
  fc.constantFrom('', '1.0.0', '1.0.2', '1.0.2-dobby', 'x', '9.9').map((v) => edit(`ociVersion ${JSON.stringify(v)}`, (c) => (c['ociVersion'] = v))),
  fc.constantFrom<unknown>([], [''], ['/no/such/binary'], ['/bin/true'], ['/bin/sh', '-c', 'exit 3'], 'x', [1, 2], null)
    .map((a) => edit(`process.args ${JSON.stringify(a)}`, (c) => (c['process']['args'] = a))),
  fc.constantFrom<unknown>('/', '/no/such/dir', 'relative', '', 7).map((d) => edit(`process.cwd ${JSON.stringify(d)}`, (c) => (c['process']['cwd'] = d))),
  fc.array(stringArb.filter((s) => s.length < 200), { maxLength: 4 }).map((env) => edit('process.env', (c) => (c['process']['env'] = env))),
  fc.record({ uid: fc.constantFrom(0, 1000, 65534, 2 ** 32 - 1, -1), gid: fc.constantFrom(0, 1000, 2 ** 32 - 1, -1) })
    .map((user) => edit(`process.user ${JSON.stringify(user)}`, (c) => (c['process']['user'] = user))),
  fc.constantFrom('CAP_BOGUS', 'CAP_SYS_ADMIN', 'cap_kill', '').map((cap) => edit(`capability ${cap}`, (c) => c['process']['capabilities']['bounding'].push(cap))),
  fc.constantFrom(1 << 20, 2 ** 31, 2 ** 40).map((n) => edit(`RLIMIT_NOFILE ${n}`, (c) => (c['process']['rlimits'] = [{ type: 'RLIMIT_NOFILE', hard: n, soft: n }]))),
  fc.constantFrom('rootfs', '/no/such/rootfs', '', '/proc/self/root/nope').map((p) => edit(`root.path ${JSON.stringify(p)}`, (c) => (c['root']['path'] = p))),
  stringArb.filter((s) => s.length < 300).map((h) => edit(`hostname ${JSON.stringify(h).slice(0, 40)}`, (c) => (c['hostname'] = h))),
  fc.constantFrom<unknown>(
    { destination: '/mnt/x', source: '/no/such/source', type: 'bind', options: ['bind'] },
    { destination: 'relative', source: 'tmpfs', type: 'tmpfs' },
    { destination: '/t', source: 'tmpfs', type: 'tmpfs', options: ['size=notanumber'] },
    { destination: '/t', source: 'none', type: 'nosuchfs' },
    { destination: '/proc/../../escape', source: 'tmpfs', type: 'tmpfs' },
  ).map((m) => edit(`mount ${JSON.stringify(m)}`, (c) => c['mounts'].push(m))),
  fc.constantFrom<unknown>({ type: 'user' }, { type: 'bogus' }, { type: 'cgroup' }, { type: 'network', path: '/no/such/netns' })
    .map((ns) => edit(`namespace ${JSON.stringify(ns)}`, (c) => c['linux']['namespaces'].push(ns))),
  fc.constantFrom(-5, 0, 1, 4096).map((n) => edit(`memory limit ${n}`, (c) => (c['linux']['resources']['memory'] = { limit: n }))),
  fc.constantFrom('process', 'root', 'linux', 'mounts').map((k) => edit(`no ${k}`, (c) => delete c[k])),
  fc.constant(edit('annotations', (c) => (c['annotations'] = { 'run.oci.keep_original_groups': '1', x: 'y' }))),
  fc.constant(edit('nothing changed', () => {})),
);

/** What to do with config.json: the edited JSON, or bytes that are not a config at all. */
export const configTextArb: fc.Arbitrary<{ label: string; text: (config: Record<string, unknown>) => string }> = fc.oneof(
  { weight: 8, arbitrary: fc.array(configEditArb, { minLength: 0, maxLength: 3 }).map((edits) => ({
    label: edits.map((e) => e.label).join('; ') || 'unchanged',
    text: (config: Record<string, unknown>) => {
      const copy = structuredClone(config);
      for (const e of edits) {
        try {
          e.apply(copy);
        } catch {
          // an earlier edit removed what this one edits (e.g. "no mounts" then a mount): skipped
        }
      }
      return JSON.stringify(copy);
    },
  })) },
  { weight: 1, arbitrary: fc.constantFrom('', '{', 'null', '[]', '"x"', '{"ociVersion": "1.0.0"}', '\uFEFF{}').map((t) => ({ label: `text ${JSON.stringify(t)}`, text: () => t })) },
);
