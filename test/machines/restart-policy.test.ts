// The restart-on-crash policy: clean exits never restart, delays double up to the cap, at most
// maxAttempts in a row, and the count starts afresh once the last attempt is older than the window.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  backoffDelay,
  decideRestart,
  DEFAULT_RESTART_POLICY,
  NO_RESTARTS,
  restartPolicyProblem,
  type RestartHistory,
  type RestartPolicy,
} from '../../src/machines/restart-policy.ts';

const policyArb: fc.Arbitrary<RestartPolicy> = fc
  .record({
    maxAttempts: fc.integer({ min: 0, max: 20 }),
    resetAfterMs: fc.integer({ min: 0, max: 600_000 }),
    initialDelayMs: fc.integer({ min: 0, max: 5_000 }),
    extra: fc.integer({ min: 0, max: 100_000 }),
  })
  .map(({ extra, ...p }) => ({ ...p, maxDelayMs: p.initialDelayMs + extra }));

/** A run of crashes: each gap is the time since the previous crash. */
const crashesArb = fc.array(fc.record({ gapMs: fc.integer({ min: 0, max: 900_000 }), status: fc.integer({ min: 1, max: 0xffff }) }), { maxLength: 40 });

test('Dobby defaults: 10 attempts, 5 minute window; a valid policy', () => {
  assert.equal(DEFAULT_RESTART_POLICY.maxAttempts, 10);
  assert.equal(DEFAULT_RESTART_POLICY.resetAfterMs, 300_000);
  assert.equal(restartPolicyProblem(DEFAULT_RESTART_POLICY), null);
  assert.match(restartPolicyProblem({ ...DEFAULT_RESTART_POLICY, maxDelayMs: 1, initialDelayMs: 2 }) ?? '', /maxDelayMs/);
  assert.match(restartPolicyProblem({ ...DEFAULT_RESTART_POLICY, maxAttempts: -1 }) ?? '', /maxAttempts/);
});

test('a clean exit (status 0) is never restarted and leaves the history alone', () => {
  fc.assert(
    fc.property(policyArb, fc.nat({ max: 30 }), fc.option(fc.nat()), fc.nat(), (policy, attempts, last, now) => {
      const history: RestartHistory = { attempts, lastAttemptAt: last };
      const d = decideRestart(policy, history, 0, now);
      assert.equal(d.restart, false);
      assert.equal(d.restart === false && d.reason, 'clean-exit');
      assert.deepEqual(d.history, history);
    }),
  );
});

test('crashes close together: delays grow (doubling), never pass the cap, and stop after maxAttempts', () => {
  fc.assert(
    fc.property(policyArb, fc.integer({ min: 1, max: 0xffff }), fc.integer({ min: 0, max: 10 ** 12 }), (policy, status, start) => {
      let history = NO_RESTARTS;
      let previous = -1;
      let now = start;
      const delays: number[] = [];
      for (let i = 0; i < policy.maxAttempts; i++) {
        const d = decideRestart(policy, history, status, now);
        assert.ok(d.restart, `attempt ${i + 1} of ${policy.maxAttempts} refused`);
        if (!d.restart) return;
        assert.equal(d.attempt, i + 1);
        assert.ok(d.delayMs <= policy.maxDelayMs);
        assert.ok(d.delayMs >= previous, `delays must not shrink: ${delays.join(',')}, ${d.delayMs}`);
        if (previous >= 0 && previous * 2 <= policy.maxDelayMs) assert.equal(d.delayMs, previous * 2);
        delays.push(d.delayMs);
        previous = d.delayMs;
        history = d.history;
        // The next crash comes within the window (the restart plus a short run).
        now += Math.min(policy.resetAfterMs, d.delayMs);
      }
      const last = decideRestart(policy, history, status, now);
      assert.equal(last.restart, false);
      assert.equal(last.restart === false && last.reason, 'attempts-exhausted');
      assert.equal(delays[0] ?? policy.initialDelayMs, Math.min(policy.initialDelayMs, policy.maxDelayMs));
    }),
  );
});

test('the count starts afresh when the previous attempt is older than the window', () => {
  fc.assert(
    fc.property(policyArb, fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 10 ** 9 }), fc.integer({ min: 0, max: 10 ** 12 }), (policy, attempts, beyond, at) => {
      const history: RestartHistory = { attempts, lastAttemptAt: at };
      const d = decideRestart(policy, history, 139, at + policy.resetAfterMs + beyond);
      if (policy.maxAttempts === 0) {
        assert.equal(d.restart, false);
        return;
      }
      assert.ok(d.restart);
      assert.equal(d.restart && d.attempt, 1);
      assert.equal(d.restart && d.delayMs, backoffDelay(policy, 1));
      // Exactly at the window's edge the attempt still counts.
      const edge = decideRestart(policy, history, 139, at + policy.resetAfterMs);
      assert.equal(edge.restart ? edge.attempt : 'refused', attempts < policy.maxAttempts ? attempts + 1 : 'refused');
    }),
  );
});

test('any sequence of crashes: never more than maxAttempts restarts within one window chain', () => {
  fc.assert(
    fc.property(policyArb, crashesArb, (policy, crashes) => {
      let history = NO_RESTARTS;
      let now = 0;
      let streak = 0;
      for (const crash of crashes) {
        now += crash.gapMs;
        const stale = history.lastAttemptAt !== null && now - history.lastAttemptAt > policy.resetAfterMs;
        if (stale) streak = 0;
        const d = decideRestart(policy, history, crash.status, now);
        if (d.restart) {
          streak++;
          assert.ok(streak <= policy.maxAttempts);
          assert.equal(d.attempt, streak);
        } else {
          assert.equal(streak, policy.maxAttempts);
        }
        history = d.history;
      }
    }),
  );
});

test('backoffDelay stays finite and capped for huge attempt numbers', () => {
  const policy = { ...DEFAULT_RESTART_POLICY, initialDelayMs: 1, maxDelayMs: 1000 };
  assert.deepEqual([1, 2, 3, 4, 11, 12, 5000].map((n) => backoffDelay(policy, n)), [1, 2, 4, 8, 1000, 1000, 1000]);
});
