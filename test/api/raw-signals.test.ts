// The daemon's signals as our codec marshals them are the bytes dbus-next makes for the same
// signal and serial, for every signal of Dobby's protocol and any argument values; so are the
// replies of basic types it sends itself.

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import dbus from 'dbus-next';
import fc from 'fast-check';
import { DOBBY_OBJECT } from '../../src/api/dbus/names.ts';
import { PROTOCOL, signalSignature } from '../../src/api/dbus/protocol.ts';
import { encodeReply, encodeSignal } from '../../src/api/dbus/raw-signals.ts';

const require = createRequire(import.meta.url);
// dbus-next's own marshaller, as its connection uses it (not part of its public API).
const { marshallMessage } = require(require.resolve('dbus-next/lib/marshall-compat')) as { marshallMessage(m: unknown): [Buffer, number[]] };

const SIGNALS = Object.entries(PROTOCOL).flatMap(([iface, spec]) => Object.keys(spec.signals).map((member) => ({ iface, member, signature: signalSignature(iface, member) })));

/** Values for the argument types Dobby's signals use. */
function valueOf(code: string): fc.Arbitrary<unknown> {
  switch (code) {
    case 'i': return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    case 't': return fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
    case 'b': return fc.boolean();
    case 's': return fc.string({ unit: 'grapheme', maxLength: 40 });
    case 'u': return fc.integer({ min: 0, max: 2 ** 32 - 1 });
    // dbus-next refuses -2^63 itself ("less than min int64"): the comparison starts one above.
    case 'x': return fc.bigInt({ min: -(2n ** 63n) + 1n, max: 2n ** 63n - 1n });
    case 'y': return fc.integer({ min: 0, max: 255 });
    case 'o': return fc.constantFrom('/', '/org/rdk/dobby', '/a/b_c/d1');
    default: throw new Error(`a signal argument of type ${code}: add it here`);
  }
}

test('every signal of the protocol: the same bytes as dbus-next, whatever the arguments and serial', () => {
  assert.ok(SIGNALS.length >= 7, JSON.stringify(SIGNALS));
  for (const { iface, member, signature } of SIGNALS) {
    fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 32 - 1 }), fc.tuple(...[...signature].map(valueOf)), (serial, body) => {
      const theirs = dbus.Message.newSignal(DOBBY_OBJECT, iface, member, signature, [...body]);
      theirs.serial = serial;
      const [expected] = marshallMessage(theirs);
      assert.deepEqual(encodeSignal(serial, DOBBY_OBJECT, iface, member, signature, body), expected, `${iface}.${member}`);
    }), { numRuns: 60 });
  }
});

test('replies of basic types: the same bytes as dbus-next\'s reply to the same call', () => {
  const signature = fc.array(fc.constantFrom('i', 'b', 's', 'u', 't', 'x', 'y', 'o'), { maxLength: 4 }).map((codes) => codes.join(''));
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 2 ** 32 - 1 }), fc.integer({ min: 1, max: 2 ** 32 - 1 }), fc.option(fc.constantFrom(':1.7', ':1.1234', 'org.example.Client'), { nil: undefined }),
    signature.chain((sig) => fc.tuple(fc.constant(sig), fc.tuple(...[...sig].map(valueOf)))),
    (serial, callSerial, sender, [sig, body]) => {
      const call = new dbus.Message({ type: dbus.MessageType.METHOD_CALL, serial: callSerial, path: DOBBY_OBJECT, member: 'M', ...(sender === undefined ? {} : { sender }) });
      const theirs = dbus.Message.newMethodReturn(call, sig, [...body]);
      theirs.serial = serial;
      const [expected] = marshallMessage(theirs);
      assert.deepEqual(encodeReply(serial, callSerial, sender, sig, body), expected, sig);
    },
  ), { numRuns: 300 });
});
