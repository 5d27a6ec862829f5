// The nat firewall's batching: the table lock (containers' iptables batches side by side, ebtables and
// read-then-write work alone, a waiting exclusive holder before later shared ones) and the group
// commit (batches that come while one is in flight go in together; one bad batch fails only its own).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import type { FirewallChange } from '../../src/drivers/network/firewall.ts';
import { BatchQueue } from '../../src/plugins/networking/batch-queue.ts';
import { TableLock } from '../../src/plugins/networking/table-lock.ts';

const rule = (n: number): FirewallChange => ({ op: 'append', table: 'filter', chain: 'C', rule: ['-s', `10.0.0.${n}`, '-j', 'DROP'] });

test('table lock: exclusive work never overlaps any other; shared work overlaps; a waiting exclusive holder goes before later shared ones', async () => {
  await fc.assert(fc.asyncProperty(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 2 })), { minLength: 1, maxLength: 12 }), async (jobs) => {
    const lock = new TableLock();
    let shared = 0;
    let exclusive = 0;
    let maxShared = 0;
    const order: number[] = [];
    await Promise.all(jobs.map(async ([isExclusive, ms, delay], i) => {
      await sleep(delay);
      const task = async (): Promise<void> => {
        order.push(i);
        if (isExclusive) {
          assert.equal(shared + exclusive, 0, 'exclusive work started beside other work');
          exclusive++;
        } else {
          assert.equal(exclusive, 0, 'shared work started beside exclusive work');
          shared++;
          maxShared = Math.max(maxShared, shared);
        }
        await sleep(ms);
        if (isExclusive) exclusive--;
        else shared--;
      };
      await (isExclusive ? lock.exclusive(task) : lock.shared(task));
    }));
    assert.equal(order.length, jobs.length);
  }), { numRuns: 60 });

  // Two shared holders overlap; an exclusive one that comes next waits for both, and a shared one after it waits for it.
  const lock = new TableLock();
  const events: string[] = [];
  const hold = (name: string, ms: number) => async (): Promise<void> => {
    events.push(`${name}+`);
    await sleep(ms);
    events.push(`${name}-`);
  };
  const a = lock.shared(hold('a', 20));
  const b = lock.shared(hold('b', 20));
  const x = lock.exclusive(hold('x', 5));
  const c = lock.shared(hold('c', 1));
  await Promise.all([a, b, x, c]);
  assert.deepEqual(events.slice(0, 2), ['a+', 'b+']);
  assert.ok(events.indexOf('x+') > events.indexOf('a-') && events.indexOf('x+') > events.indexOf('b-'), events.join(' '));
  assert.ok(events.indexOf('c+') > events.indexOf('x-'), events.join(' '));
});

test('group commit: a lone batch goes at once and alone; batches that come meanwhile go in together next', async () => {
  const calls: Array<{ changes: readonly FirewallChange[]; id: string | undefined }> = [];
  const queue = new BatchQueue(async (changes, id) => {
    calls.push({ changes, id });
    await sleep(10);
  });
  await queue.submit([rule(1)], 'a');
  assert.deepEqual(calls, [{ changes: [rule(1)], id: 'a' }]);
  // The queue is idle once its drain has seen that nothing else came.
  await sleep(1);
  calls.length = 0;
  const first = queue.submit([rule(1)], 'a');
  const rest = [queue.submit([rule(2)], 'b'), queue.submit([rule(3), rule(4)], 'c')];
  await Promise.all([first, ...rest]);
  assert.equal(calls.length, 2);
  assert.deepEqual(calls[1]?.changes, [rule(2), rule(3), rule(4)]);
  assert.equal(await queue.submit([], 'empty'), undefined);
  assert.equal(calls.length, 2, 'an empty batch ran a process');
});

test('group commit: a group with a bad batch in it fails only that batch, and the rest go in', async () => {
  const applied: FirewallChange[] = [];
  const queue = new BatchQueue(async (changes) => {
    await sleep(5);
    // All or nothing, as a restore is.
    if (changes.some((c) => c.op === 'delete')) throw new Error('Bad rule (does a matching rule exist in that chain?)');
    applied.push(...changes);
  });
  const first = queue.submit([rule(1)], 'a');
  const good = queue.submit([rule(2)], 'b');
  const bad = queue.submit([{ op: 'delete', table: 'filter', chain: 'C', rule: ['-j', 'ACCEPT'] }], 'c');
  const good2 = queue.submit([rule(3)], 'd');
  await first;
  await good;
  await assert.rejects(bad, /Bad rule/);
  await good2;
  assert.deepEqual(applied, [rule(1), rule(2), rule(3)]);
});
