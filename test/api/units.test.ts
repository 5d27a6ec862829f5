// Small pure pieces of the API: exec options, mount flags, the wire codec, fd discovery, exit codes, log levels, introspection.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pinoLevelOf } from '../../src/api/dbus/admin-handlers.ts';
import { parseExec, splitWords } from '../../src/api/dbus/exec-options.ts';
import { introspectionXml } from '../../src/api/dbus/introspect.ts';
import { buildInfo } from '../../src/version.ts';
import { fdsInBody, parseSignature } from '../../src/api/dbus/signature.ts';
import { decodeMessage, encodeMessage, marshalBody, messageLength, MessageKind, unmarshalBody } from '../../src/api/dbus/wire.ts';
import { exitCodeOfStatus } from '../../src/api/cli/extra-commands.ts';
import { listTable } from '../../src/api/cli/output.ts';
import { MS, parseMountFlags } from '../../src/drivers/mount/flags.ts';

test('exec options and command, split on spaces as Dobby does', () => {
  assert.deepEqual(splitWords(' a  b '), ['a', 'b']);
  assert.deepEqual(parseExec('', 'ls -l /'), { ok: true, request: { args: ['ls', '-l', '/'] } });
  assert.deepEqual(parseExec('--env A=1 -e B=2 --cwd=/tmp -t', 'env'), { ok: true, request: { args: ['env'], env: ['A=1', 'B=2'], cwd: '/tmp', tty: true } });
  assert.deepEqual(parseExec('-td', 'sh'), { ok: true, request: { args: ['sh'], tty: true } });
  assert.equal(parseExec('--privileged', 'sh').ok, false);
  assert.equal(parseExec('--env NOEQUALS', 'sh').ok, false);
  assert.equal(parseExec('--cwd relative', 'sh').ok, false);
  assert.equal(parseExec('', '   ').ok, false);
});

test('mount flags: bind or rbind required, per-mount flags kept for the remount, unknown names reported', () => {
  assert.deepEqual(parseMountFlags(['bind']), { ok: true, flags: { recursive: false, remountFlags: 0, ignored: [] } });
  assert.deepEqual(parseMountFlags(['rbind', 'ro', 'nosuid', 'nodev', 'noexec', 'sync', 'bogus']), {
    ok: true, flags: { recursive: true, remountFlags: MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC, ignored: ['bogus'] },
  });
  assert.equal(parseMountFlags(['ro']).ok, false);
  assert.equal(parseMountFlags([]).ok, false);
});

test('wire codec: bodies round-trip, alignment follows the D-Bus spec', () => {
  const signature = 'ssahssasuu';
  const body = ['id', '/bundle', [3, 4], 'cmd', '', ['A=1', 'B=2'], 1000, 1000];
  assert.deepEqual(unmarshalBody(signature, marshalBody(signature, body)), body);
  const complex = 'a{sv}(ybnqixtd)aai';
  const value = [[['k', { signature: 's', value: 'v' }], ['n', { signature: 'ai', value: [1, 2] }]], [1, true, -2, 3, -4, 5n, 6n, 1.5], [[1], [], [2, 3]]];
  assert.deepEqual(unmarshalBody(complex, marshalBody(complex, value)), value);
  // An int32 after a byte is padded to offset 4; an array's length excludes the padding before 8-aligned elements.
  assert.deepEqual([...marshalBody('yi', [1, 2])], [1, 0, 0, 0, 2, 0, 0, 0]);
  assert.deepEqual([...marshalBody('at', [[1n]])], [8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
  assert.throws(() => marshalBody('i', ['x']), /does not fit/);
  assert.throws(() => marshalBody('ii', [1]), /wants 2 values/);
});

test('wire codec: whole messages round-trip and report their length', () => {
  const data = encodeMessage({
    type: MessageKind.METHOD_CALL, flags: 0, serial: 7, destination: 'org.rdk.dobby', path: '/org/rdk/dobby',
    interface: 'org.rdk.dobby.ctrl1', member: 'Stop', signature: 'ib', body: [734, true],
  });
  assert.equal(messageLength(data), data.length);
  assert.equal(messageLength(data.subarray(0, 10)), null);
  const m = decodeMessage(data);
  assert.deepEqual([m.type, m.serial, m.path, m.interface, m.member, m.destination, m.signature, m.body], [1, 7, '/org/rdk/dobby', 'org.rdk.dobby.ctrl1', 'Stop', 'org.rdk.dobby', 'ib', [734, true]]);
});

test('fds are found wherever h sits in a body', () => {
  assert.deepEqual(fdsInBody('ssahssasuu', ['a', 'b', [5, 6], '', '', [], 0, 0]), [5, 6]);
  assert.deepEqual(fdsInBody('uh', [2, 9]), [9]);
  assert.deepEqual(fdsInBody('a(sh)', [[['x', 4]]]), [4]);
  assert.deepEqual(fdsInBody('a{sh}', [{ x: 3 }]), [3]);
  assert.deepEqual(fdsInBody('v', [{ signature: 'h', value: 8 }]), [8]);
  assert.deepEqual(fdsInBody('((', []), []);
  assert.equal(parseSignature('a{sv}').length, 1);
});

test('raw wait status to a shell exit code', () => {
  assert.equal(exitCodeOfStatus(0), 0);
  assert.equal(exitCodeOfStatus(768), 3);
  assert.equal(exitCodeOfStatus(15), 143);
  assert.equal(exitCodeOfStatus(9), 137);
  assert.equal(exitCodeOfStatus(6 | 0x80), 134);
});

test("Dobby's log levels map onto pino's", () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, -1].map(pinoLevelOf), ['fatal', 'error', 'warn', 'info', 'info', 'debug', 'trace', 'fatal']);
});

test("DobbyTool's list table", () => {
  assert.deepEqual(listTable([]), ['no containers']);
  assert.deepEqual(listTable([{ descriptor: 734, id: 'sleepy', state: 'running' }]), [
    ' descriptor | id                               | state',
    '------------|----------------------------------|-------------',
    '        734 | sleepy                           | running',
  ]);
});

test('introspection: the object, the nodes above it, nothing elsewhere', () => {
  const xml = introspectionXml('/org/rdk/dobby')!;
  assert.match(xml, /<interface name="org.rdk.dobby.ctrl1">/);
  assert.match(xml, /<method name="StartFromBundle">\n(?:\s+<arg [^>]+\/>\n){9}\s+<\/method>/);
  // The API's version: annotations on our own interface only, Dobby's stay as Dobby has them.
  const { version, commit } = buildInfo();
  assert.match(xml, new RegExp(`<interface name="org.rdk.dobby.events1">\n    <annotation name="org.rdk.dobby.Version" value="${version.replaceAll('.', '\\.')}"/>\n    <annotation name="org.rdk.dobby.Commit" value="${commit}"/>\n`));
  assert.equal(xml.match(/<annotation /g)?.length, 2);
  assert.match(introspectionXml('/')!, /<node name="org"\/>/);
  assert.match(introspectionXml('/org/rdk')!, /<node name="dobby"\/>/);
  assert.equal(introspectionXml('/com'), null);
  assert.equal(introspectionXml('/org/rdk/dobby/x'), null);
});
