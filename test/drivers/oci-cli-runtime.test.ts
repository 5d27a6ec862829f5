// The runtime driver against real crun and runc, for what needs no container: absence, errors, lists.
// needs: crun

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DobbyError } from '../../src/errors.ts';
import { OciCliRuntime } from '../../src/drivers/runtime/oci-cli-runtime.ts';
import { makeScratch } from '../helpers/scratch.ts';

const scratch = makeScratch();

describe('a missing runtime binary', () => {
  for (const binary of ['crun-not-installed', '/opt/nowhere/runc']) {
    test(`${binary}: RUNTIME_MISSING naming it and the fix, for every verb`, async () => {
      const runtime = new OciCliRuntime({ binary, root: scratch.dirs('crun').runtimeRoot });
      assert.equal(runtime.binary, binary);
      const calls: Array<() => Promise<unknown>> = [
        () => runtime.start('x'), () => runtime.kill('x', 'TERM'), () => runtime.pause('x'), () => runtime.resume('x'),
        () => runtime.exec('x', { args: ['/bin/true'] }), () => runtime.state('x'), () => runtime.list(), () => runtime.delete('x'),
      ];
      for (const call of calls) {
        await assert.rejects(call(), (err: DobbyError) => {
          assert.equal(err.code, 'RUNTIME_MISSING');
          assert.ok(err.message.includes(binary), err.message);
          assert.match(err.message, binary.includes('runc') ? /apt-get install runc/ : /apt-get install crun/);
          return true;
        });
      }
    });
  }
});

for (const flavour of ['crun', 'runc'] as const) {
  describe(`${flavour} without containers`, () => {
    const runtime = new OciCliRuntime({ binary: flavour, root: scratch.dirs(flavour).runtimeRoot });

    test('resolves the binary and speaks its dialect', () => {
      assert.match(runtime.binary, new RegExp(`^/.*/${flavour}$`));
      assert.equal(runtime.flavour, flavour);
    });

    test('state of an unknown id is null; list is empty', async () => {
      assert.equal(await runtime.state('dt-unknown'), null);
      assert.deepEqual(await runtime.list(), []);
    });

    test('a failing verb is RUNTIME_FAILED with verb, id, exit status and stderr', async () => {
      await assert.rejects(runtime.kill('dt-unknown', 'SIGTERM', { resendWithinMs: 1_000 }), { code: 'RUNTIME_FAILED', verb: 'kill' });
      await assert.rejects(runtime.kill('dt-unknown', 'SIGTERM'), (err: DobbyError) => {
        assert.equal(err.code, 'RUNTIME_FAILED');
        assert.equal(err.verb, 'kill');
        assert.equal(err.containerId, 'dt-unknown');
        assert.equal(err.exitStatus, 1);
        assert.match(err.stderr ?? '', /does not exist|No such file/);
        assert.match(err.message, new RegExp(`^${flavour} kill dt-unknown failed \\(exit 1\\): \\S`));
        return true;
      });
    });

    test('delete --force of an unknown id succeeds; without --force it fails', async () => {
      await runtime.delete('dt-unknown', { force: true });
      await assert.rejects(runtime.delete('dt-unknown'), { code: 'RUNTIME_FAILED', verb: 'delete' });
    });

    test('an unknown signal is refused before running anything', async () => {
      await assert.rejects(runtime.kill('dt-unknown', 'SIGNOPE'), { code: 'INVALID_ARGUMENT' });
    });
  });
}

describe('a stand-in runtime (a shell script)', () => {
  const script = (name: string, body: string): string => {
    const path = join(scratch.dir, name);
    writeFileSync(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return path;
  };

  test('a call that hangs is killed and fails with TIMEOUT', async () => {
    const runtime = new OciCliRuntime({ binary: script('slow-crun', 'exec sleep 10'), root: '/tmp/unused', timeoutMs: 200 });
    const t0 = Date.now();
    await assert.rejects(runtime.start('x'), { code: 'TIMEOUT', verb: 'start', containerId: 'x' });
    assert.ok(Date.now() - t0 < 5000);
  });

  test('gets exactly --root ROOT VERB ARGS, an env with PATH only, and /dev/null on stdin', async () => {
    const out = join(scratch.dir, 'argv.txt');
    const runtime = new OciCliRuntime({
      binary: script('echo-crun', `printf '%s\\n' "$@" > ${out}; env | grep -v '^PWD=' | grep -v '^SHLVL=' | grep -v '^_=' >> ${out}; readlink /proc/self/fd/0 >> ${out}`),
      root: '/some/root',
    });
    await runtime.kill('ctr', 'SIGKILL', { all: true });
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    assert.deepEqual(lines.slice(0, 6), ['--root', '/some/root', 'kill', '--all', 'ctr', '9']);
    assert.deepEqual(lines.slice(6, -1).map((l) => l.split('=')[0]), ['PATH']);
    assert.equal(lines.at(-1), '/dev/null');
  });
});

test('the flavour follows the binary name unless given', () => {
  assert.equal(new OciCliRuntime({ binary: '/usr/sbin/runc', root: '/tmp/x' }).flavour, 'runc');
  assert.equal(new OciCliRuntime({ binary: '/usr/bin/crun', root: '/tmp/x' }).flavour, 'crun');
  assert.equal(new OciCliRuntime({ binary: '/opt/rt', root: '/tmp/x', flavour: 'runc' }).flavour, 'runc');
});
