// Hook runs on the bus reach D-Bus only as events1.Event signals: Dobby's ctrl1 signals are exactly
// what they are without plugins.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { DobbySignals } from '../../src/api/dbus/signals.ts';
import type { LifecycleEvent } from '../../src/bus.ts';
import { silentLogger } from '../../src/log.ts';
import { HOOK_POINTS } from '../../src/plugins/types.ts';

function record(events: readonly LifecycleEvent[]) {
  const ctrl: string[] = [];
  const hookSignals: unknown[][] = [];
  const signals = new DobbySignals((iface, member, _signature, body) => {
    if (iface === 'org.rdk.dobby.ctrl1') ctrl.push(`${member}(${body.map(String).join(',')})`);
    else if (body[2] === 'hook') hookSignals.push([...body]);
  }, silentLogger());
  for (const e of events) signals.onEvent(e);
  return { ctrl, hookSignals };
}

const base = { id: 'c', descriptor: 7, at: 1_000 };
const lifecycle: LifecycleEvent[] = [
  { ...base, type: 'created' },
  { ...base, type: 'started' },
  { ...base, type: 'exited', exitCode: 3, signal: null, oomKilled: false, status: 768 },
  { ...base, type: 'deleted' },
];
const hookEvent = fc.record({
  plugin: fc.constantFrom('probe', 'networking'),
  hook: fc.constantFrom(...HOOK_POINTS),
  mode: fc.constantFrom<'sync' | 'async'>('sync', 'async'),
  ok: fc.boolean(),
  durationMs: fc.integer({ min: 0, max: 5000 }),
}).map((h): LifecycleEvent => ({ ...base, type: 'hook', ...h, ...(h.ok ? {} : { error: 'threw: x' }) }));

test('property: hook events anywhere among the lifecycle events leave the ctrl1 signals unchanged', () => {
  const plain = record(lifecycle).ctrl;
  assert.deepEqual(plain, ['Started(7,c)', 'StoppedWithStatus(7,c,768)', 'Stopped(7,c)']);
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(lifecycle.length), hookEvent), { maxLength: 12 }), (inserts) => {
      const events = [...lifecycle];
      for (const [at, e] of inserts) events.splice(Math.min(at, events.length), 0, e);
      const { ctrl, hookSignals } = record(events);
      assert.deepEqual(ctrl, plain);
      assert.equal(hookSignals.length, inserts.length);
    }),
  );
});

test('a hook run travels as events1.Event: plugin in the code field, hook, outcome, duration and reason in the message', () => {
  const { hookSignals } = record([{ ...base, type: 'hook', plugin: 'probe', hook: 'preStart', mode: 'sync', ok: false, durationMs: 12.5, error: 'returned false' }]);
  assert.deepEqual(hookSignals, [[7, 'c', 'hook', 1000n, -1, 0, -1, false, 'probe', 'preStart failed in 12.5 ms: returned false']]);
});
