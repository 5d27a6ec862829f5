// The collection after a burst of lifecycle events: once per burst, only after the quiet period,
// never after stop().

import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { Subject } from 'rxjs';
import { collectWhenIdle } from '../../src/idle-collector.ts';

test('one collection per burst, once the events have stopped for the quiet period; none after stop()', () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const events = new Subject<number>();
    let collected = 0;
    const collector = collectWhenIdle(events, 1000, () => collected++);
    mock.timers.tick(5000);
    assert.equal(collected, 0, 'nothing happened: nothing to collect');
    for (let i = 0; i < 20; i++) {
      events.next(i);
      mock.timers.tick(900);
    }
    assert.equal(collected, 0, 'events kept coming within the quiet period');
    mock.timers.tick(100);
    assert.equal(collected, 1);
    mock.timers.tick(10_000);
    assert.equal(collected, 1, 'once per burst');
    events.next(0);
    mock.timers.tick(1000);
    assert.equal(collected, 2);
    events.next(1);
    collector.stop();
    mock.timers.tick(5000);
    events.next(2);
    mock.timers.tick(5000);
    assert.equal(collected, 2, 'nothing after stop()');
  } finally {
    mock.timers.reset();
  }
});
