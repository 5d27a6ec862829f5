// `dobby stats` and GetStats on this host's cgroup layout (hybrid v1 here), with real crun: a
// container that allocates memory and forks shows plausible numbers and its spec's memory limit.

import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { call, dobby, serve, testBus, type TestBus } from '../api/harness.ts';
import { realManager } from '../helpers/manager.ts';
import { makeScratch } from '../helpers/scratch.ts';

const scratch = makeScratch();
const real = realManager(scratch, 'crun', { stopGraceMs: 1_000 });
const MEM_LIMIT = 41943040;
const FORKED = 4;
// Shared with the container's mapped user: under /tmp (the scratch dir is private to root).
const shared = mkdtempSync('/tmp/dobby-stats-');
chmodSync(shared, 0o777);
after(() => rmSync(shared, { recursive: true, force: true }));

interface Stats {
  ok: boolean;
  id: string;
  descriptor: number;
  state: string;
  cgroupVersion: number;
  cpu: { totalNs: number; userNs: number | null; systemNs: number | null };
  memory: { usage: number; peak: number; limit: number; failcnt: number | null };
  pids: { current: number; limit: number };
}

describe('dobby stats on real crun', () => {
  let bus: TestBus | undefined;
  let address = '';
  let id = '';
  let cd = -1;
  before(async () => {
    bus = await testBus();
    address = bus.address;
    await serve({ manager: real.manager, address });
    id = scratch.id('stats');
    // Four background sleeps, ~8 MB held in the shell's memory, some cpu burnt, then it waits.
    const script = String.raw`for i in $(seq ${FORKED}); do sleep 1000 & done; x=$(head -c 8000000 /dev/zero | tr '\0' a); i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; touch /state/ready; sleep 1000`;
    const spec = JSON.stringify({
      version: '1.0', args: ['sh', '-c', script], user: { uid: 1000, gid: 1000 }, memLimit: MEM_LIMIT,
      mounts: [{ source: shared, destination: '/state', type: 'bind', options: ['bind', 'rw'] }],
    });
    const reply = await call(address, 'ctrl1', 'StartFromSpec', 'ssah', id, spec, '0');
    cd = Number(/^i (\d+)$/.exec(reply)?.[1]);
    assert.ok(cd > 0, reply);
    // Ready once the loop is done and the memory is held.
    for (let i = 0; i < 300 && !existsSync(join(shared, 'ready')); i++) await sleep(100);
    assert.ok(existsSync(join(shared, 'ready')), 'the container did not get ready in 30 s');
  });
  after(async () => {
    if (cd > 0) await real.manager.stop(cd, true).catch(() => undefined);
    await bus?.stop();
  });

  test('--json: memory usage and peak above zero, the spec memLimit as limit, the forked processes counted, cpu time spent', async () => {
    const r = await dobby(address, ['stats', id, '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const s = JSON.parse(r.stdout) as Stats;
    assert.equal(s.ok, true);
    assert.equal(s.id, id);
    assert.equal(s.descriptor, cd);
    assert.equal(s.state, 'running');
    assert.equal(s.cgroupVersion, 1, 'this host is hybrid: the v1 controllers count');
    assert.equal(s.memory.limit, MEM_LIMIT);
    assert.ok(s.memory.usage > 1_000_000, `usage ${s.memory.usage}`);
    assert.ok(s.memory.peak >= 8_000_000, `peak ${s.memory.peak} after holding 8 MB`);
    assert.ok(s.memory.peak >= s.memory.usage);
    assert.ok(s.memory.usage <= MEM_LIMIT);
    // init + sh + the forked sleeps + the foreground sleep
    assert.ok(s.pids.current >= FORKED + 2, `pids ${s.pids.current}`);
    assert.ok(s.pids.limit === -1 || s.pids.limit >= s.pids.current, `pids limit ${s.pids.limit}`);
    assert.ok(s.cpu.totalNs > 0);
    assert.ok(s.cpu.userNs !== null && s.cpu.systemNs !== null && s.cpu.userNs + s.cpu.systemNs > 0);
  });

  test('text: one line each for the container, cpu, memory and pids', async () => {
    const r = await dobby(address, ['stats', id]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 4, r.stdout);
    assert.equal(lines[0], `id      : ${id} (descriptor ${cd}, running, cgroup v1)`);
    assert.match(lines[1]!, /^cpu     : \d+\.\d{3} s \(user \d+\.\d{3} s, system \d+\.\d{3} s\)$/);
    assert.match(lines[2]!, /^memory  : [\d.]+ MiB \(peak [\d.]+ MiB, limit 40\.0 MiB, limit hit \d+ times\)$/);
    assert.match(lines[3]!, /^pids    : \d+ \(limit (unlimited|\d+)\)$/);
  });

  test('GetInfo shows the same limit; an unknown container is an error, not a crash', async () => {
    const r0 = await dobby(address, ['info', id, '--json']);
    assert.equal(r0.code, 0, r0.stdout + r0.stderr);
    const { info } = JSON.parse(r0.stdout) as { info: { memory: { user: { limit: number } }; pids: number[] } };
    assert.equal(info.memory.user.limit, MEM_LIMIT);
    assert.ok(info.pids.length >= FORKED + 2);
    const r = await dobby(address, ['stats', 'no-such-container']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "error - failed to find container 'no-such-container'\n");
    assert.equal(await call(address, 'stats1', 'GetStats', 'i', '9999'), 's ""');
  });
});
