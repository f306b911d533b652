import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { medianInPlace, middlesInPlace } from './median.js';

test('medianInPlace equals the median of the sorted list', { timeout: 30_000 }, () => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 60 }), (xs) => {
      const sorted = [...xs].sort((a, b) => a - b);
      const n = sorted.length;
      const expected = n % 2 === 1 ? sorted[n >> 1]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
      assert.equal(medianInPlace([...xs], n), expected);
    }),
    { seed: 42, numRuns: 500 },
  );
  assert.throws(() => medianInPlace([], 0), /count must be >= 1/);
});

test('middlesInPlace gives the lower and upper middle of the sorted list', { timeout: 30_000 }, () => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 60 }), (xs) => {
      const sorted = [...xs].sort((a, b) => a - b);
      const n = sorted.length;
      const m = middlesInPlace([...xs], n, { lower: Number.NaN, upper: Number.NaN });
      assert.equal(m.lower, sorted[(n - 1) >> 1]!);
      assert.equal(m.upper, sorted[n >> 1]!);
    }),
    { seed: 7, numRuns: 500 },
  );
  assert.throws(() => middlesInPlace([], 0, { lower: 0, upper: 0 }), /count must be >= 1/);
});
