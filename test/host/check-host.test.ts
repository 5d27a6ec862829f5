// Runs checkHost on this real machine: after scripts/setup.sh no cgroup problem may be fatal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkHost, formatProblems } from '../../src/host/check.ts';

test('checkHost on this machine reports no fatal cgroup problem', async (t) => {
  const problems = await checkHost({ privateBus: true });
  t.diagnostic(formatProblems(problems));
  const cgroupFatal = problems.filter((p) => p.code.startsWith('cgroup-') && p.fatal);
  assert.deepEqual(cgroupFatal, [], `fatal cgroup problems (run scripts/setup.sh): ${formatProblems(cgroupFatal)}`);
  for (const p of problems) {
    assert.ok(p.code !== '' && p.what !== '' && p.fix !== '', `every problem names what and fix: ${JSON.stringify(p)}`);
  }
});

test('checkHost given an unreachable bus and a missing runtime reports both, fatal', async () => {
  const problems = await checkHost({ runtime: '/nonexistent/crun', dbusAddress: 'unix:path=/nonexistent/bus', skipUsocket: true });
  const codes = problems.map((p) => p.code);
  assert.ok(codes.includes('runtime-missing'), codes.join(','));
  assert.ok(codes.includes('dbus-unreachable'), codes.join(','));
  assert.ok(problems.every((p, i) => i === 0 || !p.fatal || problems[i - 1]!.fatal), 'fatal problems come first');
});
