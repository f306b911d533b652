import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createFakeClock } from '@fairway/testing';
import { createRetryBudget } from './retry-budget.js';

describe('retry budget (ratio x calls + minPerSecond x window)', () => {
  test('with no reserve, retries are capped at ratio x calls in the window', () => {
    const clock = createFakeClock(1_000_000);
    const budget = createRetryBudget({ ratio: 0.2, minPerSecond: 0, windowMs: 10_000 });
    for (let i = 0; i < 100; i++) budget.recordCall(clock.now());
    let granted = 0;
    for (let i = 0; i < 100; i++) if (budget.tryWithdraw(clock.now())) granted++;
    assert.equal(granted, 20);
    assert.deepEqual(budget.state(clock.now()), { calls: 100, retries: 20, allowed: 20 });
    assert.match(budget.describe(clock.now()), /^20 retries for 100 calls in the last 10000ms; allowed 20% of calls \+ 0\/s$/);
  });

  test('the reserve allows minPerSecond x window seconds of retries with no calls at all', () => {
    const clock = createFakeClock(0);
    const budget = createRetryBudget({ ratio: 0.2, minPerSecond: 10, windowMs: 10_000 });
    let granted = 0;
    for (let i = 0; i < 500; i++) if (budget.tryWithdraw(clock.now())) granted++;
    assert.equal(granted, 100);
  });

  test('a storm is capped at 20% + 10/s, and the budget refills as the window slides', () => {
    const clock = createFakeClock(0);
    const budget = createRetryBudget({ ratio: 0.2, minPerSecond: 10, windowMs: 10_000 });
    let granted = 0;
    let wanted = 0;
    // 10 s of 100 calls/s, every call wanting 4 retries.
    for (let ms = 0; ms < 10_000; ms += 10) {
      budget.recordCall(clock.now());
      for (let r = 0; r < 4; r++) {
        wanted++;
        if (budget.tryWithdraw(clock.now())) granted++;
      }
      clock.advance(10);
    }
    assert.equal(wanted, 4000);
    assert.ok(granted <= 0.2 * 1000 + 100, `granted ${granted}`);
    assert.ok(granted >= 0.2 * 1000, `granted ${granted}`);
    // 20 s later, everything has aged out: a fresh reserve.
    clock.advance(20_000);
    assert.deepEqual(budget.state(clock.now()), { calls: 0, retries: 0, allowed: 100 });
    assert.equal(budget.tryWithdraw(clock.now()), true);
  });

  test('counts age out bucket by bucket (a tenth of the window)', () => {
    const clock = createFakeClock(0);
    const budget = createRetryBudget({ ratio: 1, minPerSecond: 0, windowMs: 1000 });
    budget.recordCall(clock.now());
    assert.equal(budget.tryWithdraw(clock.now()), true);
    assert.equal(budget.tryWithdraw(clock.now()), false);
    clock.advance(950);
    assert.equal(budget.state(clock.now()).calls, 1);
    clock.advance(100);
    assert.deepEqual(budget.state(clock.now()), { calls: 0, retries: 0, allowed: 0 });
    assert.equal(budget.tryWithdraw(clock.now()), false);
  });
});
