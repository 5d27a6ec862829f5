// The log targets' wire forms from pino lines: Dobby's console layout, journald's native protocol, syslog and ethanlog.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dobbyCmdline, dobbyExecutable } from '../../src/api/dbus/dobby-process-line.ts';
import { ethanlogRecord, journaldDatagram, monotonicStamp, syslogDatagram, textLine } from '../../src/logging/formats.ts';
import { parseLogLine } from '../../src/logging/record.ts';

const line = (o: Record<string, unknown>) => JSON.stringify({ level: 30, time: '2026-12-07T01:00:00.000Z', pid: 7, ...o });

test('pino lines become Dobby levels, a source and key=value extras', () => {
  const r = parseLogLine(line({ msg: 'started Dobby daemon', milestone: true, address: null, stateDir: '/run/dobby' }));
  assert.deepEqual(r, { tag: 'MIL', source: 'daemon', message: 'started Dobby daemon', extras: ' (address=null stateDir=/run/dobby)', containerId: null });
  const e = parseLogLine(line({ level: 50, msg: 'start failed', plugin: 'networking', containerId: 'app1', err: { type: 'DobbyError', message: 'no way out', code: 'INVALID_ARGUMENT', stack: '...' } }));
  assert.deepEqual([e.tag, e.source, e.extras, e.containerId], ['ERR', 'networking:app1', ' (err="INVALID_ARGUMENT: no way out")', 'app1']);
  assert.deepEqual([60, 40, 30, 20, 10].map((level) => parseLogLine(line({ level, msg: 'x' })).tag), ['FTL', 'WRN', 'NFO', 'DBG', 'DBG']);
  assert.equal(parseLogLine('not json\n').message, 'not json');
});

test("the console line is Dobby's layout: monotonic seconds (10 digits).microseconds, tag, source, message", () => {
  assert.equal(monotonicStamp(1_234_567_891_234n), '0000001234.567891');
  const r = parseLogLine(line({ msg: 'two\nlines', driver: 'runtime' }));
  assert.equal(textLine(r, 5_000_000_000n), '0000000005.000000 NFO: < M:runtime > two\\nlines\n');
});

test("journald's native protocol: KEY=value lines, the binary form for a value with a newline", () => {
  const r = parseLogLine(line({ msg: 'hello', level: 40, containerId: 'c1', component: 'ports' }));
  assert.equal(journaldDatagram(r, 'DobbyDaemon').toString(),
    'MESSAGE=WRN: hello\nPRIORITY=4\nSYSLOG_IDENTIFIER=DobbyDaemon\nSYSLOG_FACILITY=3\nCODE_FILE=ports:c1\nCONTAINER_ID=c1\n');
  const multi = journaldDatagram(parseLogLine(line({ msg: 'a\nb' })), 'dobbyd');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt('NFO: a\nb'.length));
  assert.ok(multi.subarray(0, 25).equals(Buffer.concat([Buffer.from('MESSAGE\n'), length, Buffer.from('NFO: a\nb\n')])));
});

test('syslog: RFC 3164 with facility daemon; ethanlog: its record layout within 512 bytes', () => {
  const r = parseLogLine(line({ msg: 'started Dobby daemon', milestone: true }));
  assert.equal(syslogDatagram(r, 'DobbyDaemon', 42, new Date(Date.UTC(2026, 11, 7, 1, 2, 3))).toString(),
    '<29>Dec  7 01:02:03 DobbyDaemon[42]: < M:daemon > started Dobby daemon');
  assert.equal(ethanlogRecord(r, 255, 5_000_000_010n).toString(), '\x1e\x1fL6\x1fT00000005.0000000a\x1fSdaemon\x1fPff\x1fMstarted Dobby daemon\x1e');
  const long = ethanlogRecord(parseLogLine(line({ msg: 'x'.repeat(2000) })), 1);
  assert.equal(long.length, 512);
  assert.equal(long.at(-1), 0x1e);
});

test("GetInfo's process line: dobbyd's init shows as /usr/libexec/DobbyInit with the command, no init options", () => {
  assert.equal(dobbyCmdline('/dev/.dobby-init -- sleep 60 '), '/usr/libexec/DobbyInit sleep 60 ');
  assert.equal(dobbyCmdline('/usr/libexec/DobbyInit -- sleep 60 '), '/usr/libexec/DobbyInit sleep 60 ');
  assert.equal(dobbyCmdline('/usr/libexec/DobbyInit -s -- sh -c x '), '/usr/libexec/DobbyInit sh -c x ');
  assert.equal(dobbyCmdline('/usr/libexec/DobbyInit sleep 60 '), '/usr/libexec/DobbyInit sleep 60 ');
  assert.equal(dobbyCmdline('sleep 60 '), 'sleep 60 ');
  assert.equal(dobbyCmdline('/bin/sh -- x '), '/bin/sh -- x ');
  assert.equal(dobbyExecutable('/tmp/.dobby-init'), '/usr/libexec/DobbyInit');
  assert.equal(dobbyExecutable('/bin/busybox'), '/bin/busybox');
});
