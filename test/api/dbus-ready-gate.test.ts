// A daemon serves before it has adopted the containers an earlier one left: container calls made
// meanwhile wait for the adoption (and keep their order) instead of being answered as if the
// container were unknown, and in the order they came; admin1 answers at once.
// needs: bus

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { call, FakeManager, serve, TAG, testBus } from './harness.ts';

test('ctrl1 calls made before the adoption is done are answered after it, in order; admin1 at once', async () => {
  const bus = await testBus();
  after(() => bus.stop());
  const manager = new FakeManager();
  let adopted = (): void => {};
  const ready = new Promise<void>((resolve) => (adopted = resolve));
  await serve({ manager, address: bus.address, ready });

  const answers: string[] = [];
  const stop = call(bus.address, 'ctrl1', 'Stop', 'ib', '734', 'false').then((r) => answers.push(`stop ${r}`));
  await sleep(200);
  const state = call(bus.address, 'ctrl1', 'GetState', 'i', '734').then((r) => answers.push(`state ${r}`));
  assert.equal(await call(bus.address, 'admin1', 'Ping'), '', 'admin1 is not held back');
  assert.deepEqual(answers, [], 'a container call was answered before the adoption');

  // What the adoption finds: the container an earlier daemon left, under its old descriptor.
  assert.equal(await manager.start({ id: `gate-${TAG}`, bundle: '/nonexistent-bundle', fds: [] }), 734);
  adopted();
  await Promise.all([stop, state]);
  // Two busctl processes: their replies may come back in either order; the state says the Stop ran first.
  assert.deepEqual(answers.sort(), ['state i 3', 'stop b true'], 'the Stop found the adopted container and ran before the later GetState (3: stopping)');
});
