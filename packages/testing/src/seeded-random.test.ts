import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSeededRandom } from './seeded-random.js';

test('the same seed gives the same sequence; different seeds differ', () => {
  const take = (seed: number | string): number[] => {
    const r = createSeededRandom(seed);
    return Array.from({ length: 8 }, () => r());
  };
  assert.deepEqual(take(42), take(42));
  assert.deepEqual(take('abc'), take('abc'));
  assert.notDeepEqual(take(1), take(2));
  assert.notDeepEqual(take('a'), take('b'));
  assert.throws(() => createSeededRandom(Number.NaN), /seed must be a finite number or a string/);
});

test('values are in [0, 1) and close to uniform (chi-square over 20 bins, 200,000 draws)', () => {
  const r = createSeededRandom(7);
  const bins = new Array<number>(20).fill(0);
  const n = 200_000;
  for (let i = 0; i < n; i++) {
    const x = r();
    assert.ok(x >= 0 && x < 1);
    bins[Math.floor(x * 20)]!++;
  }
  const expected = n / 20;
  const chi2 = bins.reduce((s, b) => s + (b - expected) ** 2 / expected, 0);
  // 19 degrees of freedom: the 99.9th percentile is 43.8.
  assert.ok(chi2 < 43.8, `chi-square ${chi2.toFixed(1)}`);
});
