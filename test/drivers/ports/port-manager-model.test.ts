// The port manager under generated concurrent call sequences (fc.scheduler) with an in-memory driver:
// calls never overlap in the driver, the registry is what the driver forwards, conflict-free, ids never reused.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FakePortDriver } from '../../../src/drivers/ports/fake-driver.ts';
import { PortError } from '../../../src/ports/port-errors.ts';
import { createPortManager } from '../../../src/drivers/ports/port-manager.ts';
import { conflicts, PORT_PROTOS } from '../../../src/ports/port-spec.ts';

const spec = fc.record({
  proto: fc.constantFrom(...PORT_PROTOS),
  parentIP: fc.constantFrom('', '0.0.0.0', '::', '127.0.0.1', '::1', '10.0.0.9'),
  parentPort: fc.integer({ min: 8000, max: 8003 }),
  childPort: fc.integer({ min: 1, max: 3 }),
  containerId: fc.constantFrom('a', 'b'),
});

type Call = { kind: 'add'; spec: Record<string, unknown>; fail: boolean } | { kind: 'remove'; pick: number } | { kind: 'removeContainer'; id: string };

const call: fc.Arbitrary<Call> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('add' as const), spec, fail: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), pick: fc.nat(10) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('removeContainer' as const), id: fc.constantFrom('a', 'b') }) },
);

describe('port manager model', () => {
  it('serialises concurrent calls and keeps registry and driver in step', async () => {
    await fc.assert(fc.asyncProperty(fc.scheduler(), fc.array(call, { minLength: 1, maxLength: 25 }), async (s, calls) => {
      const driver = new FakePortDriver();
      driver.delay = s.scheduleFunction(async () => undefined);
      const failing = new Set<number>();
      driver.failWhen = (p) => failing.has(p.id);
      let nextGuess = 1;
      const manager = createPortManager({ drivers: { nat: driver }, resolveTarget: (id) => ({ containerId: id, netnsPath: '/proc/1/ns/net', ipv4: '10.1.1.2', ipv6: 'fd00::2' }) });
      const outcomes = calls.map((c) => {
        if (c.kind === 'add') {
          // Ids are handed out in call order (the queue), so the id this add would get is known.
          if (c.fail) failing.add(nextGuess);
          nextGuess++;
          return manager.addPort(c.spec).then((p) => ({ ok: true as const, id: p.id }), (e: unknown) => ({ ok: false as const, e }));
        }
        if (c.kind === 'remove') {
          const ids = driver.history;
          return manager.removePort(ids[c.pick % Math.max(1, ids.length)] ?? 4242).then(() => ({ ok: true as const, id: 0 }), (e: unknown) => ({ ok: false as const, e }));
        }
        return manager.removeContainerPorts(c.id).then(() => ({ ok: true as const, id: 0 }));
      });
      await s.waitFor(Promise.all(outcomes));
      const results = await Promise.all(outcomes);
      for (const r of results) if (!r.ok) assert.ok(r.e instanceof PortError, String(r.e));
      assert.equal(driver.overlaps, 0, 'driver calls never overlap');
      const listed = manager.listPorts();
      assert.deepEqual(listed.map((p) => p.id), [...driver.active.keys()].sort((a, b) => a - b), 'the registry is what the driver forwards');
      for (const a of listed) for (const b of listed) if (a !== b) assert.equal(conflicts(a.spec, b.spec), false);
      // No address-in-use at "bind" ever: the validator caught every conflict first.
      for (const r of results) if (!r.ok) assert.notEqual((r.e as PortError).reason, 'address-in-use');
      const added = results.flatMap((r) => (r.ok && r.id > 0 ? [r.id] : []));
      assert.equal(new Set(added).size, added.length, 'ids are never reused');
      driver.delay = () => Promise.resolve();
      await manager.close();
      assert.equal(driver.active.size, 0);
    }), { numRuns: 150 });
  });
});
