/**
 * Deterministic subsetting: exact small cases, and a seeded simulation of 300 clients x 1,000 endpoints with
 * the goals of the scale issue (connections per client <= 25, max/mean clients per endpoint <= 1.15, <= 2 % of
 * all connections moved per endpoint added or removed, <= 20 % of one client's connections moved per client
 * more or fewer), against random subsets of the same size for contrast.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSeededRandom } from '@fairway/testing';
import { deterministicAperture, nextApertureSize } from './index.js';

const subsetsOf = (keys: readonly string[], n: number, size: number): string[][] =>
  Array.from({ length: n }, (_, i) => deterministicAperture({ clientIndex: i, clientCount: n, endpointKeys: keys, size }));

/** Clients per endpoint, max over mean. */
function maxOverMean(keys: readonly string[], subsets: readonly string[][]): { ratio: number; min: number; max: number } {
  const count = new Map<string, number>(keys.map((k) => [k, 0]));
  for (const s of subsets) for (const k of s) count.set(k, count.get(k)! + 1);
  const v = [...count.values()];
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  return { ratio: Math.max(...v) / mean, min: Math.min(...v), max: Math.max(...v) };
}

/** Connections that are new in `after` (per client, same index), over all connections before. */
function movedShare(before: readonly string[][], after: readonly string[][]): number {
  let moved = 0;
  let total = 0;
  for (let i = 0; i < Math.min(before.length, after.length); i++) {
    const old = new Set(before[i]);
    total += old.size;
    for (const k of after[i]!) if (!old.has(k)) moved++;
  }
  return moved / total;
}

describe('deterministicAperture', () => {
  test('rejects out-of-range inputs, naming the field', () => {
    const keys = ['a', 'b', 'c'];
    assert.throws(() => deterministicAperture({ clientIndex: 0, clientCount: 0, endpointKeys: keys, size: 2 }), /clientCount/);
    assert.throws(() => deterministicAperture({ clientIndex: 3, clientCount: 3, endpointKeys: keys, size: 2 }), /clientIndex must be an integer in \[0, 2\], got 3/);
    assert.throws(() => deterministicAperture({ clientIndex: 0, clientCount: 1, endpointKeys: keys, size: 0 }), /size/);
  });

  test('a set no larger than the window is taken whole', () => {
    assert.deepEqual(deterministicAperture({ clientIndex: 1, clientCount: 5, endpointKeys: ['x', 'y'], size: 3 }).sort(), ['x', 'y']);
  });

  test('windows tile the ring: 4 clients x 2 of 8 endpoints cover each endpoint exactly once, in any input order', () => {
    const keys = Array.from({ length: 8 }, (_, j) => `ep-${j}`);
    const a = subsetsOf(keys, 4, 2);
    const b = subsetsOf([...keys].reverse(), 4, 2);
    assert.deepEqual(a, b, 'every client sees the same ring whatever the order it learnt the set in');
    const all = a.flat().sort();
    assert.deepEqual(all, [...keys].sort());
  });

  test('300 clients x 1,000 endpoints: <= 25 connections, max/mean <= 1.15 (random subsets: > 1.8), few moves', () => {
    const random = createSeededRandom(18);
    const keys = Array.from({ length: 1_000 }, (_, j) => `pricer-${Math.floor(random() * 1e9).toString(36)}-${j}`);
    const n = 300;
    const size = 24;
    const base = subsetsOf(keys, n, size);
    assert.ok(base.every((s) => s.length === size && new Set(s).size === size), 'each client: 24 distinct endpoints');
    const det = maxOverMean(keys, base);

    const randomSubsets = Array.from({ length: n }, () => {
      const pool = [...keys];
      for (let t = 0; t < size; t++) {
        const j = t + Math.floor(random() * (pool.length - t));
        [pool[t], pool[j]] = [pool[j]!, pool[t]!];
      }
      return pool.slice(0, size);
    });
    const rnd = maxOverMean(keys, randomSubsets);

    let worstAdd = 0;
    let worstRemove = 0;
    for (let t = 0; t < 40; t++) {
      const j = Math.floor(random() * keys.length);
      worstAdd = Math.max(worstAdd, movedShare(base, subsetsOf([...keys, `pricer-new-${t}`], n, size)));
      worstRemove = Math.max(worstRemove, movedShare(base, subsetsOf(keys.filter((_, q) => q !== j), n, size)));
    }
    const perClient = (after: string[][]): number =>
      Math.max(...after.slice(0, Math.min(n, after.length)).map((s, i) => s.filter((k) => !base[i]!.includes(k)).length / size));
    const oneMore = perClient(subsetsOf(keys, n + 1, size));
    const oneFewer = perClient(subsetsOf(keys, n - 1, size));
    console.log(
      `aperture 300x1000, 24 each: clients per endpoint ${det.min}..${det.max} (max/mean ${det.ratio.toFixed(3)}; random subsets ${rnd.min}..${rnd.max}, ${rnd.ratio.toFixed(2)}); ` +
        `moved per endpoint added <= ${(worstAdd * 100).toFixed(2)} %, removed <= ${(worstRemove * 100).toFixed(2)} %; ` +
        `one client more: <= ${(oneMore * 100).toFixed(1)} % of a client's connections, one fewer: <= ${(oneFewer * 100).toFixed(1)} %`,
    );
    assert.ok(det.ratio <= 1.15, `deterministic max/mean ${det.ratio}`);
    assert.ok(rnd.ratio > 1.8, `random subsets should be visibly worse, got ${rnd.ratio}`);
    assert.ok(worstAdd <= 0.02, `added endpoint moved ${worstAdd}`);
    assert.ok(worstRemove <= 0.02, `removed endpoint moved ${worstRemove}`);
    assert.ok(oneMore <= 0.2 && oneFewer <= 0.2, `client count change moved ${oneMore} / ${oneFewer}`);
  });
});

describe('nextApertureSize', () => {
  test('grows above the band, shrinks below it only when the smaller window stays under high, holds inside', () => {
    assert.equal(nextApertureSize(24, 2.5, 1000), 36);
    assert.equal(nextApertureSize(36, 1.2, 1000), 36, 'inside the band: unchanged');
    assert.equal(nextApertureSize(36, 0.5, 1000), 24);
    assert.equal(nextApertureSize(24, 0.1, 1000), 24, 'never below min');
    assert.equal(nextApertureSize(48, 0.79, 60, { min: 12, high: 1 }), 42, 'load after shrinking 0.79 x 48 / 42 = 0.90 <= high 1');
    assert.equal(nextApertureSize(48, 0.79, 60, { min: 12, low: 0.8, high: 0.85 }), 48, '0.90 would be above high 0.85: kept, or the next evaluation would grow it back');
    assert.equal(nextApertureSize(990, 5, 1000), 1000, 'never above the set');
    assert.throws(() => nextApertureSize(24, 1, 100, { low: 2, high: 1 }), /0 < low < high/);
  });

  test('a steady load never flaps: 1,000 evaluations at any constant offered load change the size at most until it settles', () => {
    for (const offered of [5, 20, 48, 100, 400]) {
      let size = 24;
      const sizes: number[] = [];
      for (let t = 0; t < 1_000; t++) {
        size = nextApertureSize(size, offered / size, 1_000);
        sizes.push(size);
      }
      const tail = sizes.slice(100);
      assert.equal(new Set(tail).size, 1, `offered ${offered}: sizes kept changing ${[...new Set(tail)].join(',')}`);
    }
  });
});
