// The runtime-process semaphore: at most N tasks at once, the rest in order; `free` says whether a
// task given now would start at once.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Semaphore } from '../../src/semaphore.ts';

test('at most N at once, the others in the order they came; free while a permit is left', async () => {
  const sem = new Semaphore(2);
  const order: string[] = [];
  const gates = new Map<string, () => void>();
  const task = (name: string) => sem.run(() => new Promise<void>((resolve) => {
    order.push(name);
    gates.set(name, resolve);
  }));
  assert.equal(sem.free, true);
  const runs = ['a', 'b', 'c', 'd'].map(task);
  await Promise.resolve();
  assert.deepEqual(order, ['a', 'b']);
  assert.equal(sem.free, false);
  gates.get('b')!();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, ['a', 'b', 'c']);
  for (const name of ['a', 'c']) gates.get(name)!();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, ['a', 'b', 'c', 'd']);
  gates.get('d')!();
  await Promise.all(runs);
  assert.equal(sem.free, true);
});
