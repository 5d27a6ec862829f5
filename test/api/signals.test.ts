// Dobby's signal order from lifecycle events: Started once and before the start reply; StoppedWithStatus then Stopped at teardown.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LifecycleEvent } from '../../src/bus.ts';
import { DobbySignals } from '../../src/api/dbus/signals.ts';
import { silentLogger } from '../../src/log.ts';

function setUp() {
  const sent: string[] = [];
  const signals = new DobbySignals((iface, member, signature, body) => {
    if (iface === 'org.rdk.dobby.ctrl1') sent.push(`${member}(${body.map(String).join(',')})`);
    else sent.push(`${member}:${String(body[2])}`);
    assert.equal(signature.length > 0, true);
  }, silentLogger());
  const at = Date.now();
  const ev = (type: LifecycleEvent['type'], extra: Record<string, unknown> = {}): LifecycleEvent =>
    ({ id: 'c', descriptor: 7, at, type, ...extra }) as LifecycleEvent;
  const ctrl = () => sent.filter((s) => !s.startsWith('Event:'));
  return { signals, sent, ev, ctrl };
}

const EXIT_3 = { exitCode: 3, signal: null, oomKilled: false, status: 768 };

test('normal run: Started at the started event, StoppedWithStatus then Stopped at deleted with the exited status', () => {
  const { signals, ev, ctrl, sent } = setUp();
  for (const e of [ev('created'), ev('started'), ev('exited', EXIT_3), ev('deleted')]) signals.onEvent(e);
  assert.deepEqual(ctrl(), ['Started(7,c)', 'StoppedWithStatus(7,c,768)', 'Stopped(7,c)']);
  assert.deepEqual(sent.filter((s) => s.startsWith('Event:')), ['Event:created', 'Event:started', 'Event:exited', 'Event:deleted']);
});

test('Started is sent once per run, at the started event, while the start call is in flight', () => {
  const a = setUp();
  a.signals.beginStart('c');
  a.signals.onEvent(a.ev('created'));
  a.signals.onEvent(a.ev('started'));
  a.signals.onEvent(a.ev('started'));
  a.signals.endStart('c');
  assert.deepEqual(a.ctrl(), ['Started(7,c)']);
});

test('a container that exits before its start reply: the stop signals wait for the reply', () => {
  const { signals, ev, ctrl } = setUp();
  signals.beginStart('c');
  for (const e of [ev('created'), ev('started'), ev('exited', { exitCode: 0, signal: null, oomKilled: false, status: 0 }), ev('deleted')]) signals.onEvent(e);
  assert.deepEqual(ctrl(), ['Started(7,c)']);
  signals.endStart('c');
  assert.deepEqual(ctrl(), ['Started(7,c)', 'StoppedWithStatus(7,c,0)', 'Stopped(7,c)']);
});

test('the events1 signals of a container whose start is in flight follow the reply, in order; another container\'s do not wait', () => {
  const { signals, ev, sent } = setUp();
  signals.beginStart('c');
  signals.onEvent(ev('created'));
  signals.onEvent(ev('hook', { plugin: 'probe', hook: 'preStart', mode: 'sync', ok: true, durationMs: 1 }));
  signals.onEvent({ id: 'other', descriptor: 8, at: 0, type: 'created' });
  signals.onEvent(ev('started'));
  assert.deepEqual(sent, ['Event:created', 'Started(7,c)'], 'only the other container\'s Event and Dobby\'s Started before the reply');
  signals.onEvent(ev('exited', EXIT_3));
  signals.onEvent(ev('deleted'));
  signals.endStart('c');
  assert.deepEqual(sent, ['Event:created', 'Started(7,c)', 'Event:created', 'Event:hook', 'Event:started', 'Event:exited', 'Event:deleted', 'StoppedWithStatus(7,c,768)', 'Stopped(7,c)']);
  signals.onEvent(ev('created'));
  assert.equal(sent.at(-1), 'Event:created', 'no start in flight: at once');
});

test('a start that failed sends no stop signals (Dobby sends none)', () => {
  const { signals, ev, ctrl, sent } = setUp();
  signals.beginStart('c');
  signals.onEvent(ev('created'));
  signals.onEvent(ev('start-failed', { code: 'RUNTIME_FAILED', message: 'no' }));
  signals.onEvent(ev('deleted'));
  signals.endStart('c');
  assert.deepEqual(ctrl(), []);
  assert.ok(sent.includes('Event:start-failed'));
});

test('killed by SIGTERM and SIGKILL: the raw status is the signal number', () => {
  for (const sig of [15, 9]) {
    const { signals, ev, ctrl } = setUp();
    for (const e of [ev('created'), ev('started'), ev('exited', { exitCode: null, signal: sig, oomKilled: false, status: sig }), ev('deleted')]) signals.onEvent(e);
    assert.deepEqual(ctrl(), ['Started(7,c)', `StoppedWithStatus(7,c,${sig})`, 'Stopped(7,c)']);
  }
});

test('a deleted container whose exit was never seen still gets its stop signals (status 0, as Dobby)', () => {
  const { signals, ev, ctrl } = setUp();
  for (const e of [ev('created'), ev('started'), ev('deleted')]) signals.onEvent(e);
  assert.deepEqual(ctrl(), ['Started(7,c)', 'StoppedWithStatus(7,c,0)', 'Stopped(7,c)']);
});

test('a failing sink never throws into the event stream', () => {
  const signals = new DobbySignals(() => {
    throw new Error('bus gone');
  }, silentLogger());
  assert.doesNotThrow(() => signals.onEvent({ id: 'c', descriptor: 1, at: 0, type: 'started' }));
});
