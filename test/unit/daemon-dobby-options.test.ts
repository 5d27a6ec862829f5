// DobbyDaemon's command line next to dobbyd's: Dobby's short and long options, their meanings, and clear errors for combinations that conflict.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DAEMON_USAGE, parseDaemonArgs } from '../../src/daemon-options.ts';

const parse = (argv: string[]) => {
  const o = parseDaemonArgs(argv, {}, 2);
  if (o === 'help') throw new Error('help');
  return o;
};

test("Dobby's unit line: DobbyDaemon --nofork --noconsole --journald", () => {
  const o = parse(['--dobby-compat', '--nofork', '--noconsole', '--journald', '--dbus-address', 'unix:path=/x']);
  assert.deepEqual([o.dobbyCompat, o.foreground, o.console, o.journald, o.syslog], [true, true, false, true, false]);
  assert.equal(o.journaldSocket, '/run/systemd/journal/socket');
  // The short forms, grouped as getopt allows.
  const s = parse(['--dobby-compat', '-nkjg', '-f', '/etc/other.json', '-a', 'unix:path=/y', '-p', '12']);
  assert.deepEqual([s.foreground, s.console, s.journald, s.syslog, s.settingsFile, s.dbusAddress, s.priority], [true, false, true, true, '/etc/other.json', 'unix:path=/y', 12]);
  assert.equal(parse(['--settings-file=/a.json']).settingsFile, '/a.json');
});

test('defaults: dobbyd stays in the foreground with a text console; DobbyDaemon forks without --nofork', () => {
  const d = parse([]);
  assert.deepEqual([d.dobbyCompat, d.foreground, d.console, d.logFormat, d.settingsFile, d.priority], [false, true, true, 'text', null, null]);
  const c = parse(['--dobby-compat', '--dbus-address', 'unix:path=/x']);
  assert.deepEqual([c.foreground, c.console], [false, false]);
  assert.equal(parse(['--log-format', 'json']).logFormat, 'json');
  // -p 0 is Dobby's "off".
  assert.equal(parse(['-p', '0']).priority, null);
});

test('-v raises the level once per use; with --log-level it is an error', () => {
  assert.deepEqual([parse([]).logLevel, parse(['-v']).logLevel, parse(['-vv']).logLevel, parse(['-v', '-v', '-v']).logLevel], ['info', 'debug', 'trace', 'trace']);
  assert.throws(() => parse(['-v', '--log-level', 'warn']), /-v\/--verbose and --log-level both set the log level/);
});

test('conflicting combinations are refused, each saying why', () => {
  assert.throws(() => parse(['--noconsole', '--private-bus']), /--private-bus prints the bus address on the console, and --noconsole has none/);
  assert.throws(() => parse(['--dobby-compat', '--private-bus']), /a forked DobbyDaemon \(no --nofork\) has none/);
  assert.throws(() => parse(['--dobby-compat', '--noconsole']), /--noconsole needs --nofork/);
  assert.throws(() => parse(['--noconsole', '--log-format', 'json']), /--log-format is the console's layout, and --noconsole has no console/);
  assert.throws(() => parse(['--journald-socket', '/x']), /--journald-socket is where --journald logs go: give --journald too/);
  assert.throws(() => parse(['--log-format', 'xml']), /--log-format 'xml' is not one of text, json/);
  assert.throws(() => parse(['-p', '120']), /--priority '120' must be a whole number from 1 to 99/);
  assert.throws(() => parse(['--settings-file', '']), /--settings-file needs a path/);
  assert.throws(() => parse(['--nofork', 'extra']), /Unexpected argument 'extra'/);
});

test('--help lists both sets of options and says there is no SIGHUP reload', () => {
  for (const option of ['--nofork', '--noconsole', '--journald', '--syslog', '--settings-file', '--verbose', '--priority', '--dobby-compat', '--log-format', '--state-dir', '--private-bus']) {
    assert.ok(DAEMON_USAGE.includes(option), option);
  }
  assert.match(DAEMON_USAGE, /SIGHUP is not a reload/);
  assert.equal(parseDaemonArgs(['-h'], {}, 2), 'help');
});
