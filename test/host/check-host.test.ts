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

test('checkHost reports br_netfilter when its sysctl is missing (naming modprobe), and not on this machine, which has it', async () => {
  const { mkdtempSync, mkdirSync, writeFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const here = await checkHost({ privateBus: true, skipUsocket: true });
  assert.ok(!here.some((p) => p.code === 'br-netfilter-missing' || p.code === 'ebtables-missing'), formatProblems(here));
  const fakeSys = mkdtempSync('/tmp/dobby-procsys-');
  try {
    mkdirSync(join(fakeSys, 'net', 'ipv4'), { recursive: true });
    const without = await checkHost({ privateBus: true, skipUsocket: true, procSys: fakeSys });
    const problem = without.find((p) => p.code === 'br-netfilter-missing');
    assert.ok(problem !== undefined && !problem.fatal, formatProblems(without));
    assert.match(problem.fix, /modprobe br_netfilter/);
    mkdirSync(join(fakeSys, 'net', 'bridge'));
    writeFileSync(join(fakeSys, 'net', 'bridge', 'bridge-nf-call-iptables'), '0\n');
    assert.ok(!(await checkHost({ privateBus: true, skipUsocket: true, procSys: fakeSys })).some((p) => p.code === 'br-netfilter-missing'));
  } finally {
    rmSync(fakeSys, { recursive: true, force: true });
  }
});
