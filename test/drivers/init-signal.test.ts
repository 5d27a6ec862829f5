// The init's signal state from /proc, and the resend of a signal a pid-namespace init dropped, on real processes.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { readInitSignalState, signalInit, takesSignal, type InitSignalState } from '../../src/drivers/runtime/init-signal.ts';
import { BUSYBOX, TINI } from '../helpers/bundle.ts';
import { makeScratch } from '../helpers/scratch.ts';

const scratch = makeScratch();
const SIGTERM = 15;
const started: ChildProcess[] = [];
after(() => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

function run(args: readonly string[]): ChildProcess {
  const child = spawn(args[0]!, args.slice(1), { stdio: 'ignore' });
  started.push(child);
  return child;
}

async function eventually<T>(probe: () => T | null | undefined, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== null && value !== undefined) return value;
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(10);
  }
}

/** A busybox shell that runs `script` once its marker file says the traps before it are set. */
async function shellWithTraps(script: string): Promise<number> {
  const ready = join(scratch.dir, `ready-${scratch.id()}`);
  const child = run([BUSYBOX, 'sh', '-c', `${script}; touch ${ready}; while :; do sleep 0.05; done`]);
  await eventually(() => existsSync(ready) || null);
  return child.pid!;
}

test('a handler or a block takes the signal; ignoring it, the default, or the runtime before exec do not', async () => {
  const caught = readInitSignalState(await shellWithTraps('trap "exit 0" TERM'));
  const ignored = readInitSignalState(await shellWithTraps('trap "" TERM'));
  const plain = readInitSignalState(await shellWithTraps('true'));
  const tini = run([TINI, '-s', '--', BUSYBOX, 'sleep', '1000']);
  // tini blocks every signal and waits for them in sigtimedwait, where the kernel shows them unblocked.
  const waiting = await eventually(() => {
    const state = readInitSignalState(tini.pid!);
    return state?.waiting === true ? state : null;
  });
  assert.ok(caught !== null && ignored !== null && plain !== null);
  assert.deepEqual([caught, ignored, plain, waiting].map((s) => takesSignal(s, SIGTERM)), [true, false, false, true]);
  assert.equal(takesSignal(caught, 10), false, 'only TERM is trapped');
  const none = { startTime: '1', parentPid: 1, name: 'app', blocked: 0n, ignored: 0n, caught: 0n, waiting: false };
  assert.equal(takesSignal({ ...none, blocked: 1n << 14n }, SIGTERM), true, 'blocked');
  assert.equal(takesSignal({ ...none, blocked: 1n << 14n, ignored: 1n << 14n }, SIGTERM), true, 'blocked, though ignored');
  const everything: Omit<InitSignalState, 'name'> = { ...none, caught: (1n << 64n) - 1n };
  for (const name of ['crun', 'runc:[2:INIT]']) assert.equal(takesSignal({ ...everything, name }, SIGTERM), false, name);
  assert.equal(takesSignal({ ...everything, name: 'app' }, SIGTERM), true);
});

test('a gone process has no state, and an uncatchable signal is left to the runtime', async () => {
  const child = run([BUSYBOX, 'true']);
  await once(child, 'exit');
  assert.equal(readInitSignalState(child.pid!), null);
  assert.equal(signalInit(child.pid!, SIGTERM, 1_000), false);
  const alive = await shellWithTraps('true');
  assert.equal(signalInit(alive, 9, 1_000), false);
  assert.notEqual(readInitSignalState(alive), null, 'SIGKILL was not sent');
});

// A pid-namespace init (unshare --pid --fork) drops SIGTERM until its trap is set.
async function namespaceInit(script: string): Promise<{ outer: ChildProcess; pid: number; out: string }> {
  const out = join(scratch.dir, `terms-${scratch.id()}`);
  const outer = run(['unshare', '--pid', '--fork', '--kill-child', BUSYBOX, 'sh', '-c', script.replaceAll('OUT', out)]);
  const pid = await eventually(() => {
    const children = readFileSync(`/proc/${outer.pid}/task/${outer.pid}/children`, 'utf8').trim();
    return children === '' ? null : Number(children.split(' ')[0]);
  });
  // Until its exec, unshare's child blocks SIGTERM, and a signal kept that way is dropped once unblocked.
  await eventually(() => readInitSignalState(pid)?.name === 'busybox' || null);
  return { outer, pid, out };
}

test('a pid-namespace init that sets its handler late hears the signal once it has', async () => {
  const { outer, pid, out } = await namespaceInit('sleep 0.3; trap "echo term >> OUT; exit 3" TERM; while :; do sleep 0.05; done');
  const exit = once(outer, 'exit');
  assert.equal(signalInit(pid, SIGTERM, 5_000), true);
  // Without the resend the init never exits: end it so the test fails rather than hangs.
  const bound = setTimeout(() => outer.kill('SIGKILL'), 20_000);
  const [code] = await exit;
  clearTimeout(bound);
  assert.equal(code, 3, 'the trap ran');
  assert.equal(readFileSync(out, 'utf8'), 'term\n');
});

test('a pid-namespace init that had its handler hears the signal once', async () => {
  const ready = join(scratch.dir, `ready-${scratch.id()}`);
  const { outer, pid, out } = await namespaceInit(`trap "echo term >> OUT" TERM; touch ${ready}; i=0; while [ $i -lt 40 ]; do sleep 0.05; i=$((i+1)); done`);
  await eventually(() => existsSync(ready) || null);
  const exit = once(outer, 'exit');
  assert.equal(signalInit(pid, SIGTERM, 5_000), true);
  // The loop ends by itself after about 2 s, long after any resend would have come.
  await exit;
  assert.equal(readFileSync(out, 'utf8'), 'term\n');
});

test('with a parent pid, only a process whose parent that is gets the signal', async () => {
  const pid = await shellWithTraps('trap "exit 4" TERM');
  const state = readInitSignalState(pid);
  assert.equal(state?.parentPid, process.pid);
  assert.equal(signalInit(pid, SIGTERM, 1_000, undefined, process.pid + 1), false, 'another parent: nothing sent');
  await sleep(200);
  assert.notEqual(readInitSignalState(pid), null, 'still running');
  const child = started.find((c) => c.pid === pid)!;
  const exit = once(child, 'exit');
  assert.equal(signalInit(pid, SIGTERM, 1_000, undefined, process.pid), true);
  assert.deepEqual(await exit, [4, null]);
});
