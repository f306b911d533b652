import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { attemptTimer, decideRetry, isRetryableKind } from './retry-decision.js';
import type { RetryDecisionInput } from './retry-decision.js';
import { createRetryBudget } from './retry-budget.js';
import type { RetryBudget } from './retry-budget.js';

const settings = { attemptTimeoutMs: 100, maxAttempts: 5, retryIntervalMs: 50 };
const base: RetryDecisionInput = {
  kind: 'unary',
  attempt: 1,
  settings,
  timedOut: true,
  byDeadline: false,
  receivedMessage: false,
  remainingMs: Infinity,
  elapsedMs: 100,
};
const roomy = (): RetryBudget => createRetryBudget({ ratio: 0, minPerSecond: 1000, windowMs: 10_000 });

describe('attemptTimer = min(attemptTimeoutMs, remaining deadline)', () => {
  test('the attempt timeout when the deadline is further away', () => {
    assert.deepEqual(attemptTimer(100, 1000), { timerMs: 100, byDeadline: false });
    assert.deepEqual(attemptTimer(100, Infinity), { timerMs: 100, byDeadline: false });
  });
  test('the remaining deadline when it is nearer, or when there is no attempt timeout', () => {
    assert.deepEqual(attemptTimer(100, 60), { timerMs: 60, byDeadline: true });
    assert.deepEqual(attemptTimer(100, 100), { timerMs: 100, byDeadline: true });
    assert.deepEqual(attemptTimer(undefined, 500), { timerMs: 500, byDeadline: true });
    assert.deepEqual(attemptTimer(undefined, Infinity), { timerMs: Infinity, byDeadline: true });
    assert.deepEqual(attemptTimer(100, -5), { timerMs: 0, byDeadline: true });
  });
});

describe('decideRetry', () => {
  test('only our own attempt timer firing is retried, at the steady interval', () => {
    const d = decideRetry(base, roomy(), 0);
    assert.equal(d.retry, true);
    assert.ok(d.retry && d.delayMs === 50);
    assert.ok(d.retry && /^attempt 1 timed out after 100ms; retrying in 50ms on another endpoint \(attempt 2 of 5\)$/.test(d.reason));
    // Any status that is not our timer: no retry, and nothing was refused (no retry was wanted).
    assert.deepEqual(decideRetry({ ...base, timedOut: false }, roomy(), 0), { retry: false });
  });

  test('the interval does not grow with the attempt number', () => {
    const delays = [1, 2, 3, 4, 5].map((attempt) => decideRetry({ ...base, attempt, settings: { ...settings, maxAttempts: 6 } }, roomy(), 0));
    assert.deepEqual(delays.map((d) => (d.retry ? d.delayMs : -1)), [50, 50, 50, 50, 50]);
  });

  test('maxAttempts bounds the attempts', () => {
    assert.equal(decideRetry({ ...base, attempt: 4 }, roomy(), 0).retry, true);
    const last = decideRetry({ ...base, attempt: 5 }, roomy(), 0);
    assert.deepEqual(last, { retry: false, refusedReason: 'attempt 5 timed out after 100ms: all 5 attempts used (maxAttempts 5)' });
    assert.equal(decideRetry({ ...base, settings: { ...settings, maxAttempts: 1 } }, roomy(), 0).retry, false);
  });

  test('client-streaming and bidi calls are never retried; server streams only before the first message', () => {
    assert.equal(isRetryableKind('unary'), true);
    assert.equal(isRetryableKind('server_stream'), true);
    assert.equal(isRetryableKind('client_stream'), false);
    assert.equal(isRetryableKind('bidi'), false);
    assert.match(String((decideRetry({ ...base, kind: 'bidi' }, roomy(), 0) as { refusedReason?: string }).refusedReason), /bidi calls are never retried/);
    assert.equal(decideRetry({ ...base, kind: 'client_stream' }, roomy(), 0).retry, false);
    assert.equal(decideRetry({ ...base, kind: 'server_stream' }, roomy(), 0).retry, true);
    const after = decideRetry({ ...base, kind: 'server_stream', receivedMessage: true }, roomy(), 0);
    assert.match(String((after as { refusedReason?: string }).refusedReason), /a response message was already received/);
  });

  test("the call's deadline ends the call: no retry when it fired or leaves no room for the interval", () => {
    assert.match(String((decideRetry({ ...base, byDeadline: true }, roomy(), 0) as { refusedReason?: string }).refusedReason), /deadline was reached/);
    const tight = decideRetry({ ...base, remainingMs: 40 }, roomy(), 0);
    assert.deepEqual(tight, {
      retry: false,
      refusedReason: "attempt 1 timed out after 100ms: the call's deadline leaves 40ms, not more than the 50ms retry interval",
    });
    assert.equal(decideRetry({ ...base, remainingMs: 51 }, roomy(), 0).retry, true);
  });

  test('the budget is asked last and its refusal is reported', () => {
    const budget = createRetryBudget({ ratio: 0, minPerSecond: 0.1, windowMs: 10_000 }); // exactly 1 retry
    assert.equal(decideRetry({ ...base, timedOut: false }, budget, 0).retry, false);
    assert.equal(decideRetry({ ...base, attempt: 5 }, budget, 0).retry, false);
    assert.equal(budget.state(0).retries, 0, 'no retry was withdrawn for refused decisions');
    assert.equal(decideRetry(base, budget, 0).retry, true);
    const refused = decideRetry(base, budget, 0);
    assert.equal(refused.retry, false);
    assert.match(String((refused as { refusedReason?: string }).refusedReason), /^attempt 1 timed out after 100ms: retry budget exhausted \(1 retries for 0 calls/);
  });
});
