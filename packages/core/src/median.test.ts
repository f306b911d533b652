import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { medianInPlace } from './median.js';

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
