// Tools started in another process's network namespace without nsenter: the spawn addon's thread
// enters it (collectIn), the tool sees that namespace only, the daemon's own stays as it was, and
// a namespace that cannot be entered (its process gone) is an error naming it.
// needs: root netns

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, test } from 'node:test';
import { HOST, pidTarget, SpawnNetExec } from '../../src/drivers/network/net-exec.ts';
import { canEnterNetns, run } from '../../src/drivers/process.ts';
import { DobbyError } from '../../src/errors.ts';

// A process in a network namespace of its own (unshare execs sleep: the pid is the sleeper's).
const holder = spawn('unshare', ['--net', '--', 'sleep', '60'], { stdio: 'ignore' });
after(() => {
  holder.kill('SIGKILL');
});
const pid = holder.pid as number;
// unshare has made the namespace once it has exec'd sleep.
for (let i = 0; i < 100; i++) {
  const exe = await run('readlink', [`/proc/${pid}/exe`]);
  if (exe.stdout.includes('sleep')) break;
  await new Promise((r) => setTimeout(r, 10));
}

const links = (stdout: string): string[] => stdout.trim().split('\n').map((l) => l.split(':')[1]?.trim() ?? '');

test('the addon can enter a namespace here', () => {
  assert.equal(canEnterNetns(), true);
});

test('a tool run with netns sees that namespace only; the next tool without it sees the daemon\'s again', async () => {
  const before = await run('ip', ['-o', 'link', 'show']);
  const inside = await run('ip', ['-o', 'link', 'show'], { netns: `/proc/${pid}/ns/net` });
  assert.equal(inside.code, 0, inside.stderr);
  assert.deepEqual(links(inside.stdout), ['lo']);
  // Ten at once, each on a thread of its own: none leaks into the daemon's namespace.
  await Promise.all(Array.from({ length: 10 }, () => run('true', [], { netns: `/proc/${pid}/ns/net` })));
  const afterwards = await run('ip', ['-o', 'link', 'show']);
  assert.deepEqual(links(afterwards.stdout), links(before.stdout));
  assert.notDeepEqual(links(before.stdout), ['lo'], 'the test runs in a namespace with more than lo');
});

test('a namespace that is not there is an error naming it (syscall setns), not a start failure of the tool', async () => {
  await assert.rejects(run('ip', ['link'], { netns: '/proc/999999999/ns/net' }), (err: NodeJS.ErrnoException) =>
    err.syscall === 'setns' && err.code === 'ENOENT' && /cannot enter the network namespace \/proc\/999999999\/ns\/net/.test(err.message));
  await assert.rejects(run('ip', ['link'], { netns: '/etc/hostname' }), (err: NodeJS.ErrnoException) => err.syscall === 'setns' && err.code === 'EINVAL');
});

test('SpawnNetExec runs a pid target\'s tools in its namespace, and names the namespace when it is gone', async () => {
  const exec = new SpawnNetExec();
  assert.deepEqual(exec.argvFor(pidTarget(pid), ['ip', 'link']), ['ip', 'link']);
  assert.deepEqual(links((await exec.run(pidTarget(pid), ['ip', '-o', 'link', 'show'])).stdout), ['lo']);
  assert.notDeepEqual(links((await exec.run(HOST, ['ip', '-o', 'link', 'show'])).stdout), ['lo']);
  await assert.rejects(exec.run(pidTarget(999_999_999), ['ip', 'link'], { containerId: 'c1' }), (err: unknown) =>
    err instanceof DobbyError && err.code === 'INTERNAL' && /'ip link' failed in the network namespace of pid 999999999: cannot enter/.test(err.message));
});
