// The launch gate lets one create at a time through to its monitor's launch, in the order they came;
// a holder that does not let go in time no longer holds the next one back; letting go twice is harmless.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LaunchGate } from '../../src/launch-gate.ts';

test('one at a time, in the order they came', async () => {
  const gate = new LaunchGate(10_000);
  const order: string[] = [];
  const task = async (name: string, ms: number): Promise<void> => {
    const leave = await gate.enter();
    order.push(`in ${name}`);
    await sleep(ms);
    order.push(`out ${name}`);
    leave();
  };
  await Promise.all([task('a', 20), task('b', 1), task('c', 5)]);
  assert.deepEqual(order, ['in a', 'out a', 'in b', 'out b', 'in c', 'out c']);
});

test('a holder past maxHoldMs no longer holds the next one back; its late leave changes nothing', async () => {
  const gate = new LaunchGate(30);
  const first = await gate.enter();
  const entered = Date.now();
  const second = await gate.enter();
  assert.ok(Date.now() - entered >= 25, 'the second waited for the first one\'s time');
  first();
  first();
  // The third waits for the second (which holds the gate now), not for the first.
  let third = false;
  const waiting = gate.enter().then((leave) => {
    third = true;
    return leave;
  });
  await sleep(5);
  assert.equal(third, false);
  second();
  (await waiting)();
  assert.equal(third, true);
});
