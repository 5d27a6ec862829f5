// The small pure pieces of the drivers: console-log decoding, stderr summaries, signals, sync messages.

import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseExitCode } from '../../src/drivers/monitor/conmon-monitor.ts';
import { conmonArgs, parseSyncMessage } from '../../src/drivers/monitor/conmon-spawn.ts';
import { conmonPaths } from '../../src/drivers/monitor/conmon-files.ts';
import { parseK8sLog } from '../../src/drivers/monitor/console-log.ts';
import { resolveExecutable, summariseStderr } from '../../src/drivers/process.ts';
import { parseState, runtimeErrorsFromLog } from '../../src/drivers/runtime/oci-cli-runtime.ts';
import { normaliseSignal, signalNumber } from '../../src/drivers/runtime/signals.ts';

describe('parseK8sLog', () => {
  const LOG = [
    '2026-11-22T14:37:56.295574315+00:00 stdout F hello',
    '2026-11-22T14:37:56.295689079+00:00 stderr F err',
    '2026-11-22T14:37:56.300000000+00:00 stdout P a long ',
    '2026-11-22T14:37:56.300000001+00:00 stdout F line',
    '2026-11-22T14:37:56.300000002+00:00 stdout F ',
    '',
  ].join('\n');

  test('joins partial lines and keeps empty ones', () => {
    assert.equal(parseK8sLog(LOG), 'hello\nerr\na long line\n\n');
  });

  test('filters by stream', () => {
    assert.equal(parseK8sLog(LOG, { stream: 'stderr' }), 'err\n');
  });

  test('skips lines of another shape', () => {
    assert.equal(parseK8sLog('garbage\n2026-01-01T00:00:00Z stdout F ok\n'), 'ok\n');
  });
});

describe('summariseStderr', () => {
  test('first non-empty line', () => {
    assert.equal(summariseStderr('\n  error opening file `x`: No such file or directory\nmore\n'), 'error opening file `x`: No such file or directory');
  });

  test("runc's logrus line gives its message, unescaped", () => {
    const runc = 'time="2026-11-22T14:54:31Z" level=error msg="exec failed: unable to start container process: exec: \\"/bin/x\\": stat /bin/x: no such file or directory"\n';
    assert.equal(summariseStderr(runc), 'exec failed: unable to start container process: exec: "/bin/x": stat /bin/x: no such file or directory');
  });

  test('nothing on stderr says so', () => {
    assert.equal(summariseStderr(''), '(no output on stderr)');
  });
});

describe('signals', () => {
  test('names with and without SIG, any case, numbers and numeric strings', () => {
    assert.equal(signalNumber('SIGTERM'), 15);
    assert.equal(signalNumber('term'), 15);
    assert.equal(signalNumber('KILL'), 9);
    assert.equal(signalNumber(0), 0);
    assert.equal(signalNumber('10'), 10);
    assert.equal(normaliseSignal('SIGHUP'), '1');
  });

  test('unknown signals are INVALID_ARGUMENT', () => {
    assert.throws(() => signalNumber('SIGNOPE'), { code: 'INVALID_ARGUMENT' });
    assert.throws(() => signalNumber(99), { code: 'INVALID_ARGUMENT' });
    assert.throws(() => signalNumber(-1), { code: 'INVALID_ARGUMENT' });
  });
});

describe('conmon protocol', () => {
  test('sync messages', () => {
    assert.deepEqual(parseSyncMessage('{"data": 4681}'), { kind: 'created', pid: 4681 });
    assert.deepEqual(parseSyncMessage('{"data": -1, "message": "invalid namespace type: `bogus`\\n"}'), {
      kind: 'runtime-failed', message: 'invalid namespace type: `bogus`\n',
    });
    assert.equal(parseSyncMessage('not json'), null);
    assert.equal(parseSyncMessage('{"other": 1}'), null);
  });

  test('exit files', () => {
    assert.equal(parseExitCode('7'), 7);
    assert.equal(parseExitCode('137\n'), 137);
    assert.equal(parseExitCode(''), null);
    assert.equal(parseExitCode(null), null);
  });

  test('arguments: fds add --preserve-fds, log size is optional', () => {
    const base = {
      conmon: '/usr/bin/conmon', id: 'c1', runtimeBinary: '/usr/bin/crun', runtimeRoot: '/r', bundle: '/b', logPath: '/l',
      paths: conmonPaths('/s', 'c1'), timeoutMs: 1000,
    };
    const plain = conmonArgs({ ...base, fds: [] });
    assert.ok(!plain.includes('--runtime-opt'));
    assert.ok(!plain.includes('--log-size-max'));
    assert.deepEqual(plain.slice(plain.indexOf('--runtime-arg'), plain.indexOf('--runtime-arg') + 2), ['--runtime-arg', '--root=/r']);
    const withFds = conmonArgs({ ...base, fds: [7, 8], logSizeMax: 1024 });
    assert.deepEqual(withFds.slice(-2), ['--runtime-opt', '--preserve-fds=2']);
    assert.deepEqual(withFds.slice(withFds.indexOf('--log-size-max'), withFds.indexOf('--log-size-max') + 2), ['--log-size-max', '1024']);
  });
});

describe('runtime output', () => {
  test('state JSON', () => {
    const crun = '{"ociVersion":"1.0.0","id":"a","pid":12,"status":"running","bundle":"/b","rootfs":"/b/rootfs","created":"x","owner":""}';
    assert.deepEqual(parseState(crun, 'a'), { id: 'a', status: 'running', pid: 12, bundle: '/b' });
    assert.throws(() => parseState('nope', 'a'), { code: 'RUNTIME_FAILED' });
    assert.throws(() => parseState('{"id":"a","status":"weird"}', 'a'), { code: 'RUNTIME_FAILED' });
  });

  test('--log-format=json logs: errors only', () => {
    const crun = '{"msg":"error opening file `/r/nope/status`: No such file or directory","level":"error","time":"2026-11-22T15:01:24.349927Z"}\n';
    const runc = '{"level":"warning","msg":"something odd","time":"2026-11-22T15:01:24Z"}\n{"level":"error","msg":"exec failed: container does not exist","time":"2026-11-22T15:01:24Z"}\n';
    assert.equal(runtimeErrorsFromLog(crun), 'error opening file `/r/nope/status`: No such file or directory\n');
    assert.equal(runtimeErrorsFromLog(runc), 'exec failed: container does not exist\n');
    assert.equal(runtimeErrorsFromLog('{"level":"warning","msg":"w"}\n'), '');
    assert.equal(runtimeErrorsFromLog(''), '');
  });

  test('resolveExecutable', () => {
    assert.equal(resolveExecutable('sh', '/nonexistent:/bin'), '/bin/sh');
    assert.equal(resolveExecutable('/bin/sh'), '/bin/sh');
    assert.equal(resolveExecutable('definitely-not-a-tool-here'), null);
    assert.equal(resolveExecutable('./relative'), null);
  });

  test('resolveExecutable keeps a match only while it stays executable', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dobby-test-exe-'));
    try {
      const [first, second] = [join(dir, 'a'), join(dir, 'b')];
      mkdirSync(first);
      mkdirSync(second);
      writeFileSync(join(second, 'tool'), '#!/bin/sh\n', { mode: 0o755 });
      const path = `${first}:${second}`;
      assert.equal(resolveExecutable('tool', path), join(second, 'tool'));
      writeFileSync(join(first, 'tool'), '#!/bin/sh\n', { mode: 0o755 });
      assert.equal(resolveExecutable('tool', path), join(second, 'tool'), 'the match found is kept');
      chmodSync(join(second, 'tool'), 0o644);
      assert.equal(resolveExecutable('tool', path), join(first, 'tool'), 'a match no longer executable is looked up again');
      rmSync(join(first, 'tool'));
      assert.equal(resolveExecutable('tool', path), null);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
