import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createSeededRandom } from '@fairway/testing';
import type { EndpointState } from './endpoint-state.js';
import { drawCandidates, poolSize } from './p2c.js';

const fakeEndpoint = (key: string): EndpointState => ({ key }) as EndpointState;
const makePool = (sizes: number[]): EndpointState[][] =>
  sizes.map((n, z) => Array.from({ length: n }, (_, i) => fakeEndpoint(`z${z}-${i}`)));

test('two candidates are distinct members of the pool, across several zone arrays', { timeout: 30_000 }, () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 4 }), fc.integer(), (sizes, seed) => {
      const pool = makePool(sizes);
      const n = poolSize(pool);
      fc.pre(n > 0);
      const members = new Set(pool.flat());
      const random = createSeededRandom(seed);
      for (let i = 0; i < 20; i++) {
        const c = drawCandidates(pool, n, random, undefined)!;
        assert.ok(members.has(c.first));
        if (n === 1) assert.equal(c.second, undefined);
        else {
          assert.ok(c.second !== undefined && members.has(c.second));
          assert.notEqual(c.first, c.second);
        }
      }
    }),
    { seed: 3, numRuns: 300 },
  );
});

test('every endpoint of a multi-array pool is drawn equally often (within 5%)', { timeout: 30_000 }, () => {
  const pool = makePool([3, 5, 2]);
  const random = createSeededRandom(17);
  const counts = new Map<string, number>();
  const draws = 100_000;
  for (let i = 0; i < draws; i++) {
    const c = drawCandidates(pool, 10, random, undefined)!;
    for (const e of [c.first, c.second!]) counts.set(e.key, (counts.get(e.key) ?? 0) + 1);
  }
  const expected = (2 * draws) / 10;
  for (const [k, v] of counts) assert.ok(Math.abs(v - expected) < 0.05 * expected, `${k}: ${v} vs ${expected}`);
  assert.equal(counts.size, 10);
});

test('with a rotation the first candidate walks the pool once per pass; the second is any other, uniformly', () => {
  const pool = makePool([3, 5, 2]);
  const random = createSeededRandom(23);
  const order = pool.flat();
  const passes = 10_000;
  const seconds = new Map<string, number>();
  for (let r = 7; r < 7 + 10 * passes; r++) {
    const c = drawCandidates(pool, 10, random, undefined, r)!;
    assert.equal(c.first, order[r % 10], `pick ${r}`);
    assert.ok(c.second !== undefined && c.second !== c.first);
    seconds.set(`${c.first.key}>${c.second.key}`, (seconds.get(`${c.first.key}>${c.second.key}`) ?? 0) + 1);
  }
  // Each first candidate met each of the 9 others about equally often.
  assert.equal(seconds.size, 90);
  const expected = passes / 9;
  for (const [pair, v] of seconds) assert.ok(Math.abs(v - expected) < 0.1 * expected, `${pair}: ${v} vs ${expected}`);
});

test('a rotation is ignored with an avoid set, and a rotation that is no counter draws at random', () => {
  const pool = makePool([6]);
  const avoid = new Set([pool[0]![0]!.key]);
  for (let r = 0; r < 60; r++) assert.notEqual(drawCandidates(pool, 6, createSeededRandom(r), avoid, 0)!.first, pool[0]![0]);
  for (const rotation of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
    const firsts = new Set<EndpointState>();
    const random = createSeededRandom(29);
    for (let i = 0; i < 200; i++) firsts.add(drawCandidates(pool, 6, random, undefined, rotation)!.first);
    assert.equal(firsts.size, 6, `rotation ${rotation}`);
  }
});

test('avoid: never an avoided key while another exists; undefined when all are avoided', { timeout: 30_000 }, () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 0, max: 30 }), fc.integer(), (n, avoidCount, seed) => {
      const pool = makePool([n]);
      const avoid = new Set(pool[0]!.slice(0, Math.min(avoidCount, n)).map((e) => e.key));
      const c = drawCandidates(pool, n, createSeededRandom(seed), avoid);
      const left = n - avoid.size;
      if (left === 0) return assert.equal(c, undefined);
      assert.ok(c && !avoid.has(c.first.key));
      if (left === 1) assert.equal(c.second, undefined);
      else assert.ok(c.second && !avoid.has(c.second.key) && c.second !== c.first);
    }),
    { seed: 5, numRuns: 500 },
  );
});

test('a random source outside [0, 1) does not break a draw', () => {
  const pool = makePool([4]);
  for (const value of [1, 1.5, -0.2, Number.NaN]) {
    const c = drawCandidates(pool, 4, () => value, undefined)!;
    assert.ok(pool[0]!.includes(c.first));
  }
});

test('the candidates are written into the object passed in, which is returned (no object per pick)', () => {
  const pool = makePool([3, 2]);
  const out = { first: pool[0]![0]!, second: undefined as EndpointState | undefined };
  const random = createSeededRandom(11);
  for (let i = 0; i < 20; i++) {
    const c = drawCandidates(pool, 5, random, undefined, i, out);
    assert.equal(c, out);
    assert.notEqual(out.first, out.second);
    assert.equal(out.first, pool.flat()[i % 5]);
  }
  // One endpoint: the second candidate left by the previous draw is cleared.
  assert.equal(drawCandidates([[pool[0]![0]!]], 1, random, undefined, 0, out), out);
  assert.equal(out.second, undefined);
  // Nothing drawable: undefined (the caller's object is not a result).
  assert.equal(drawCandidates(pool, 5, random, new Set(pool.flat().map((e) => e.key)), -1, out), undefined);
});
