import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createFakeClock, createSeededRandom } from '@fairway/testing';
import { YOUNG_ESTIMATE_MIN_WEIGHT, createBalancer, rampLift, resolveSlowStartOptions, slowStartFactor, type EndpointInfo } from './index.js';

const ep = (i: number): EndpointInfo => ({ address: `10.0.0.${i}:50051` });

describe('slow start', () => {
  const o = resolveSlowStartOptions({})!;

  test('the factor ramps linearly from 10 % over the window against an old set', () => {
    assert.deepEqual(
      [0, 2_500, 5_000, 9_999, 10_000, 60_000].map((age) => Number(slowStartFactor(age, 3_600_000, o).toFixed(4))),
      [0.1, 0.325, 0.55, 0.9999, 1, 1],
    );
  });

  test('ranked by age: the ramp runs over the age of the oldest endpoint when that is shorter than the window', () => {
    // Every endpoint new (a full rollout, or a client that just started): the oldest always has weight 1 ...
    assert.equal(slowStartFactor(2_000, 2_000, o), 1);
    // ... and a younger one ramps against it: half the oldest's age is half-way up.
    assert.equal(slowStartFactor(1_000, 2_000, o), 0.55);
    // Endpoints that became READY milliseconds apart at start-up are all near 1 within a few hundred ms (and in
    // a balancer they do not ramp at all: see the next test).
    assert.ok(slowStartFactor(297, 300, o) > 0.99);
  });

  test('a client\'s first connections started together: READY within 1 s of the first, none ramps; a later one does', () => {
    // The ramp's shape alone (a set this small lifts a lone ramp: see the lift's tests below).
    const b = createBalancer({ ejection: false, slowStart: { maxExtraLoadPercent: Infinity } });
    const keys = b.update([ep(1), ep(2), ep(3), ep(4)], 0).added;
    // Connections up 3 ms, 40 ms and 900 ms after the first (a slow handshake): all started together.
    [1_000, 1_003, 1_040, 1_900].forEach((t, i) => b.setReady(keys[i]!, true, t));
    for (const at of [1_950, 5_000]) assert.deepEqual(b.snapshot(at).map((r) => r.slowStartFactor), [1, 1, 1, 1], `at ${at} ms`);
    const random = createSeededRandom(3);
    for (let i = 0; i < 50; i++) {
      const h = b.pick(2_000, random)!;
      assert.doesNotMatch(h.explanation.reason, /slow start/);
      h.release({ kind: 'success', latencyMs: 5 }, 2_000);
    }
    // One that becomes READY 1.5 s after the first is new to the set: it ramps against the oldest (age 2.5 s).
    const late = b.update([ep(1), ep(2), ep(3), ep(4), ep(5)], 2_500).added[0]!;
    b.setReady(late, true, 2_500);
    const row = (at: number) => b.snapshot(at).find((r) => r.key === late)!.slowStartFactor;
    assert.equal(row(2_500), 0.1);
    assert.ok(row(4_000) > 0.1 && row(4_000) < 1, `${row(4_000)}`);
    assert.equal(row(12_500), 1);
  });

  test('bad options name the field; false turns it off', () => {
    assert.throws(() => resolveSlowStartOptions({ windowMs: 0 }), /slowStart\.windowMs must be a positive finite number of ms, got 0/);
    assert.throws(() => resolveSlowStartOptions({ minWeightPercent: 0 }), /slowStart\.minWeightPercent must be in \(0, 100\], got 0/);
    assert.equal(resolveSlowStartOptions(false), undefined);
  });

  test('in the balancer: a newcomer to a warm set is chosen less while young, equally once warm; the snapshot shows the factor', () => {
    // 12 warm endpoints: one newcomer at 10 % weight puts 7.5 % more on each of them, within the default bound of
    // 10 % (see the lift's tests below), so its ramp is not lifted.
    const clock = createFakeClock();
    const b = createBalancer({ ejection: false });
    const warmSet = Array.from({ length: 12 }, (_, i) => ep(i + 1));
    const keys = b.update(warmSet, 0).added;
    for (const k of keys) b.setReady(k, true, 0);
    const random = createSeededRandom(5);
    // 60 s of warm traffic, every call 10 ms, released at once.
    for (let t = 0; t < 60_000; t += 5) b.pick(clock.advance(5), random)!.release({ kind: 'success', latencyMs: 10 }, clock.now());
    const added = b.update([...warmSet, ep(13)], clock.now()).added[0]!;
    b.setReady(added, true, clock.now());
    // Concurrency 13 held per step: each step picks 13 calls, then releases them, so in-flight counts matter.
    const shareOver = (ms: number): number => {
      let mine = 0;
      let all = 0;
      for (let t = 0; t < ms; t += 10) {
        clock.advance(10);
        const hs = Array.from({ length: 13 }, () => b.pick(clock.now(), random)!);
        for (const h of hs) ((all += 1), (mine += h.key === added ? 1 : 0), h.release({ kind: 'success', latencyMs: 10 }, clock.now()));
      }
      return mine / all;
    };
    const row = () => b.snapshot(clock.now()).find((r) => r.key === added)!;
    assert.equal(row().slowStartFactor, 0.1);
    const first = shareOver(1_000);
    let explained = '';
    for (let i = 0; i < 400 && explained === ''; i++) {
      const h = b.pick(clock.now(), random)!;
      if (/slow start/.test(h.explanation.reason)) explained = h.explanation.reason;
      h.release({ kind: 'success', latencyMs: 10 }, clock.now());
    }
    assert.match(explained, /slow start \(cost \/ weight\): 10\.0\.0\.13:50051 at 19 % weight/);
    clock.advance(9_000);
    assert.equal(row().slowStartFactor, 1);
    const warm = shareOver(2_000);
    const fair = 1 / 13;
    console.log(`newcomer share: first second ${(100 * first).toFixed(1)} %, warm ${(100 * warm).toFixed(1)} % (fair ${(100 * fair).toFixed(1)} %)`);
    assert.ok(first > 0 && first < fair / 3, `first second: ${first} (its probe, then a small share)`);
    assert.ok(warm > fair * 0.8, `warm: ${warm}`);
  });

  test('the lift: ramps together never load the full-weight endpoints beyond 1 + maxExtraLoad of a fair share', () => {
    // No lift when the bound holds: 12 endpoints, one at 0.1 (sum 11.1 >= 12 / 1.1 = 10.9).
    assert.equal(rampLift(12, 11.1, 0.1), 0);
    // One newcomer at 0.1 among 6: lifted 39 % of its gap, to 0.445, so that the sum is 6 / 1.1.
    const t = rampLift(6, 5.1, 0.1);
    assert.ok(Math.abs(5 + 0.1 + 0.9 * t - 6 / 1.1) < 1e-12, `t ${t}`);
    // A rolling deploy's four ramps (0.1, 0.28, 0.46, 0.64) among 6: the two old ones would carry 1.72x a fair
    // share; lifted, the whole set's weights sum to 6 / 1.1 and each old one carries 1.1x.
    const ramps = [0.1, 0.28, 0.46, 0.64];
    const sum = 2 + ramps.reduce((a, f) => a + f, 0);
    assert.ok(6 / sum > 1.7);
    const u = rampLift(6, sum, 0.1);
    const lifted = 2 + ramps.reduce((a, f) => a + f + (1 - f) * u, 0);
    assert.ok(Math.abs(6 / lifted - 1.1) < 1e-12, `old share ${6 / lifted}`);
    // Never more than full weight; nothing to lift when all are at full weight; a bound of 0 lifts to full.
    assert.equal(rampLift(2, 1.01, 0), 1);
    assert.equal(rampLift(6, 6, 0.1), 0);
    assert.equal(rampLift(0, 0, 0.1), 0);
  });

  test('in the balancer: a rolling deploy\'s ramps are lifted together; maxExtraLoadPercent bounds them; a bad value names the field', () => {
    const factorsAt = (maxExtraLoadPercent: number | undefined) => {
      const b = createBalancer({ ejection: false, slowStart: maxExtraLoadPercent === undefined ? {} : { maxExtraLoadPercent } });
      const old = b.update([ep(1), ep(2), ep(3), ep(4), ep(5), ep(6)], 0).added;
      for (const k of old) b.setReady(k, true, 0);
      // Pods 1-4 replaced by 11-14, READY at 60, 62, 64 and 66 s, each answering once; at 66 s pods 5 and 6 are the old ones.
      let live = [ep(1), ep(2), ep(3), ep(4), ep(5), ep(6)];
      for (let i = 0; i < 4; i++) {
        const at = 60_000 + 2_000 * i;
        live = [...live.slice(1), ep(11 + i)];
        const k = b.update(live, at).added[0]!;
        b.setReady(k, true, at);
        const h = b.pick(at, createSeededRandom(i), new Set(b.snapshot(at).map((r) => r.key).filter((x) => x !== k)))!;
        assert.equal(h.key, k);
        h.release({ kind: 'success', latencyMs: 10 }, at);
      }
      return b
        .snapshot(66_000)
        .sort((x, y) => x.address.localeCompare(y.address, 'en', { numeric: true }))
        .map((r) => r.slowStartFactor);
    };
    const unlifted = factorsAt(Infinity);
    assert.deepEqual(unlifted.map((f) => Number(f.toFixed(2))), [1, 1, 0.64, 0.46, 0.28, 0.1]);
    const lifted = factorsAt(undefined); // default 10 %
    const sum = lifted.reduce((a, f) => a + f, 0);
    assert.ok(Math.abs(6 / sum - 1.1) < 1e-9, `full-weight share ${6 / sum}`);
    // Each ramp keeps its place: the youngest is still the lightest.
    for (let i = 2; i < 5; i++) assert.ok(lifted[i]! > lifted[i + 1]! && lifted[i + 1]! > unlifted[i + 1]!, JSON.stringify(lifted));
    const loose = factorsAt(30);
    assert.ok(Math.abs(6 / loose.reduce((a, f) => a + f, 0) - 1.3) < 1e-9);
    assert.throws(() => resolveSlowStartOptions({ maxExtraLoadPercent: -1 }), /slowStart\.maxExtraLoadPercent must be a number >= 0 \(Infinity: never lift\), got -1/);
    assert.throws(() => createBalancer({ slowStart: { maxExtraLoadPercent: Number.NaN } }), /slowStart\.maxExtraLoadPercent/);
  });

  test('a ramping endpoint\'s estimate follows its warming answers; an old one keeps tower\'s 10-s memory', () => {
    const b = createBalancer({ ejection: false });
    const old = b.update([ep(1), ep(2), ep(3), ep(4), ep(5), ep(6), ep(7), ep(8), ep(9), ep(10), ep(11), ep(12)], 0).added;
    for (const k of old) b.setReady(k, true, 0);
    const young = b.update([...Array.from({ length: 12 }, (_, i) => ep(i + 1)), ep(13)], 60_000).added[0]!;
    b.setReady(young, true, 60_000);
    // Drive answers straight to two endpoints: the young one and an old one, both first 30 ms (cold), then 10 ms
    // answers every 2 ms for 100 ms (50 answers).
    const rtt = (key: string) => b.snapshot(60_300).find((r) => r.key === key)!.rttEstimateMs;
    const everyone = [...old, young];
    const random = createSeededRandom(9);
    const answer = (key: string, latencyMs: number, at: number) => {
      const h = b.pick(at, random, new Set(everyone.filter((k) => k !== key)))!;
      assert.equal(h.key, key);
      h.release({ kind: 'success', latencyMs }, at);
    };
    for (const k of [young, old[0]!]) {
      answer(k, 30, 60_100);
      answer(k, 30, 60_101);
      for (let i = 0; i < 50; i++) answer(k, 10, 60_102 + 2 * i);
    }
    const y = rtt(young);
    const o = rtt(old[0]!);
    console.log(`after 50 answers of 10 ms following a 30-ms start: young ${y.toFixed(2)} ms, old ${o.toFixed(2)} ms`);
    // Young: the gap of 20 ms shrinks by at least 1 - 0.98^50 = 64 %; old: by about 1 - exp(-0.1 s / 10 s) = 1 %.
    assert.ok(y < 10 + 20 * Math.pow(1 - YOUNG_ESTIMATE_MIN_WEIGHT, 50) + 0.01, `young ${y}`);
    assert.ok(o > 29, `old ${o}`);
  });

  test('a full rollout (every endpoint replaced): the ramp runs against the new oldest, not against the window alone', () => {
    const b = createBalancer({ ejection: false, slowStart: { maxExtraLoadPercent: Infinity } }); // the ramps' shape alone
    const old = b.update([ep(1), ep(2), ep(3)], 0).added;
    for (const k of old) b.setReady(k, true, 0);
    // All three replaced, the new ones READY at 60, 62 and 64 s; the old ones leave at 64 s.
    const all = [ep(1), ep(2), ep(3), ep(11), ep(12), ep(13)];
    const added = b.update(all, 60_000).added;
    added.forEach((k, i) => b.setReady(k, true, 60_000 + 2_000 * i));
    b.update([ep(11), ep(12), ep(13)], 64_000);
    const factors = () =>
      b
        .snapshot(66_000)
        .sort((x, y) => x.address.localeCompare(y.address))
        .map((r) => Number(r.slowStartFactor.toFixed(3)));
    // Oldest READY for 6 s: weight 1; the others ramp over 6 s (4/6 and 2/6 of it done), not over 10 s.
    assert.deepEqual(factors(), [1, 0.7, 0.4]);
  });
});
