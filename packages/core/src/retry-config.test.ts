import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseRetryOptions,
  retrySettingsFor,
  RetryOptionsError,
  DEFAULT_RETRY_BUDGET,
} from './retry-config.js';

describe('parseRetryOptions', () => {
  test('defaults: no attempt timer, 5 attempts, 50 ms interval, 20% + 10/s over 10 s', () => {
    const c = parseRetryOptions(undefined);
    assert.deepEqual(c.defaults, { attemptTimeoutMs: undefined, maxAttempts: 5, retryIntervalMs: 50 });
    assert.deepEqual(c.budget, { ratio: 0.2, minPerSecond: 10, windowMs: 10_000 });
    assert.equal(c.methods.size, 0);
    assert.deepEqual(parseRetryOptions({}).defaults, c.defaults);
  });

  test('per-method settings inherit unset fields from the top level', () => {
    const c = parseRetryOptions({
      attemptTimeoutMs: 200,
      maxAttempts: 4,
      budget: { ratio: 0.1 },
      methods: { 'trading.Pricer/Quote': { attemptTimeoutMs: 80 }, '/trading.Book/Get': { maxAttempts: 1 } },
    });
    assert.deepEqual(retrySettingsFor(c, '/trading.Pricer/Quote'), { attemptTimeoutMs: 80, maxAttempts: 4, retryIntervalMs: 50 });
    assert.deepEqual(retrySettingsFor(c, 'trading.Book/Get'), { attemptTimeoutMs: 200, maxAttempts: 1, retryIntervalMs: 50 });
    assert.deepEqual(retrySettingsFor(c, '/other.S/M'), { attemptTimeoutMs: 200, maxAttempts: 4, retryIntervalMs: 50 });
    assert.deepEqual(c.budget, { ...DEFAULT_RETRY_BUDGET, ratio: 0.1 });
  });

  test('maxAttempts outside 1..6 is an error naming the method and the field', () => {
    assert.throws(
      () => parseRetryOptions({ methods: { 'trading.Pricer/Quote': { maxAttempts: 7 } } }),
      (e: unknown) =>
        e instanceof RetryOptionsError &&
        e.message === "retry.methods['trading.Pricer/Quote'].maxAttempts: 7 is outside 1..6" &&
        e.field === "retry.methods['trading.Pricer/Quote'].maxAttempts",
    );
    assert.throws(() => parseRetryOptions({ maxAttempts: 0 }), /^RetryOptionsError: retry\.maxAttempts: 0 is outside 1\.\.6$/);
    assert.throws(() => parseRetryOptions({ maxAttempts: 2.5 }), /retry\.maxAttempts: 2\.5 is not a whole number/);
    for (const n of [1, 2, 3, 4, 5, 6]) assert.equal(parseRetryOptions({ maxAttempts: n }).defaults.maxAttempts, n);
  });

  test('other bad values are errors that name the field', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ attemptTimeoutMs: 0 }, /retry\.attemptTimeoutMs: 0 must be a finite number of milliseconds > 0/],
      [{ attemptTimeoutMs: '100' }, /retry\.attemptTimeoutMs: "100" is not a number/],
      [{ retryIntervalMs: -1 }, /retry\.retryIntervalMs: -1 must be/],
      [{ attemptTimeout: 100 }, /retry\.attemptTimeout: unknown option \(allowed: attemptTimeoutMs/],
      [{ budget: { ratio: -0.1 } }, /retry\.budget\.ratio: -0\.1 must be between 0 and 1000/],
      [{ budget: { windowMs: 10 } }, /retry\.budget\.windowMs: 10 must be/],
      [{ budget: { perSecond: 1 } }, /retry\.budget\.perSecond: unknown option/],
      [{ methods: { Quote: {} } }, /retry\.methods\['Quote'\]: the method name must look like 'package\.Service\/Method'/],
      [{ methods: { 'a.B/C': { budget: {} } } }, /retry\.methods\['a\.B\/C'\]\.budget: unknown option/],
      [{ methods: { 'a.B/C': 5 } }, /retry\.methods\['a\.B\/C'\]: expected an object, got 5/],
      [{ methods: { '/a.B/C': { maxAttempts: 2 }, 'a.B/C': { maxAttempts: 6 } } }, /retry\.methods\['a\.B\/C'\]: names the same method as another key/],
      [5, /^RetryOptionsError: retry: expected an object, got 5$/],
    ];
    for (const [raw, re] of cases) assert.throws(() => parseRetryOptions(raw), re, JSON.stringify(raw));
  });
});

describe('retry.hedging', () => {
  test('off by default; defaults when given', () => {
    assert.equal(parseRetryOptions(undefined).hedging, undefined);
    assert.equal(parseRetryOptions({ attemptTimeoutMs: 100 }).hedging, undefined);
    const h = parseRetryOptions({ hedging: { methods: ['/a.B/C', 'a.B/D'] } }).hedging!;
    assert.deepEqual([...h.methods], ['a.B/C', 'a.B/D']);
    assert.deepEqual({ ...h, methods: undefined }, { methods: undefined, idempotent: false, delayMs: undefined, percentile: 98, maxHedges: 1, budget: { ratio: 0.05, minPerSecond: 0, windowMs: 10_000 } });
    const fixed = parseRetryOptions({ hedging: { idempotent: true, delayMs: 20, budgetRatio: 0.1, maxHedges: 2, percentile: 99 } }).hedging!;
    assert.deepEqual({ ...fixed, methods: [...fixed.methods] }, { methods: [], idempotent: true, delayMs: 20, percentile: 99, maxHedges: 2, budget: { ratio: 0.1, minPerSecond: 0, windowMs: 10_000 } });
  });

  test('bad values name the field', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ hedging: true }, /retry\.hedging: expected an object/],
      [{ hedging: { methods: 'a.B/C' } }, /retry\.hedging\.methods: expected an array/],
      [{ hedging: { methods: ['nope'] } }, /retry\.hedging\.methods\[0\]: "nope": the method name must look like/],
      [{ hedging: { delayMs: 0 } }, /retry\.hedging\.delayMs: 0 must be/],
      [{ hedging: { percentile: 10 } }, /retry\.hedging\.percentile: 10 is outside 50\.\.99\.9/],
      [{ hedging: { maxHedges: 6 } }, /retry\.hedging\.maxHedges: 6 is not a whole number in 1\.\.5/],
      [{ hedging: { budgetRatio: 2 } }, /retry\.hedging\.budgetRatio: 2 is outside 0\.\.1/],
      [{ hedging: { idempotent: 'yes' } }, /retry\.hedging\.idempotent: "yes" is not a boolean/],
      [{ hedging: { delay: 1 } }, /retry\.hedging\.delay: unknown option/],
    ];
    for (const [raw, re] of cases) assert.throws(() => parseRetryOptions(raw), re);
  });

  test('a hedged method with maxAttempts 1 is refused, naming the method and the maxAttempts field (a hedge is a second attempt)', () => {
    const cases: Array<[unknown, string, RegExp]> = [
      [{ maxAttempts: 1, hedging: { methods: ['a.B/C'] } }, 'retry.maxAttempts', /^retry\.maxAttempts: 1 leaves no attempt for a hedge of 'a\.B\/C'.*hedgingPolicy\.maxAttempts must be >= 2/],
      [{ methods: { '/a.B/C': { maxAttempts: 1 } }, hedging: { methods: ['a.B/C'] } }, "retry.methods['/a.B/C'].maxAttempts", /^retry\.methods\['\/a\.B\/C'\]\.maxAttempts: 1 leaves no attempt for a hedge of 'a\.B\/C'/],
      // The method's own setting inherits the top-level 1.
      [{ maxAttempts: 1, methods: { 'a.B/C': { attemptTimeoutMs: 50 } }, hedging: { methods: ['a.B/C'] } }, 'retry.maxAttempts', /'a\.B\/C'/],
      [{ maxAttempts: 1, hedging: { idempotent: true } }, 'retry.maxAttempts', /no attempt for a hedge of any method, and retry\.hedging\.idempotent is true/],
    ];
    for (const [raw, field, re] of cases) {
      assert.throws(() => parseRetryOptions(raw), (e: unknown) => {
        assert.ok(e instanceof RetryOptionsError, String(e));
        assert.equal(e.field, field);
        assert.match(e.message, re);
        return true;
      }, JSON.stringify(raw));
    }
  });

  test('hedging with 2 or more attempts where it applies is accepted', () => {
    // The hedged method has its own 2 attempts; the others keep 1 (no retries).
    assert.equal(parseRetryOptions({ maxAttempts: 1, methods: { 'a.B/C': { maxAttempts: 2 } }, hedging: { methods: ['a.B/C'] } }).hedging?.methods.has('a.B/C'), true);
    // Only the method named in hedging needs the attempts.
    assert.ok(parseRetryOptions({ methods: { 'a.B/D': { maxAttempts: 1 } }, hedging: { methods: ['a.B/C'] } }).hedging);
    // idempotent: some method can be hedged (which ones are idempotent is known only from the proto).
    assert.ok(parseRetryOptions({ maxAttempts: 1, methods: { 'a.B/C': { maxAttempts: 3 } }, hedging: { idempotent: true } }).hedging);
  });
});
