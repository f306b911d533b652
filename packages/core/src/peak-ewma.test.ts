import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createFakeClock } from '@fairway/testing';
import { AGREE_WEIGHT, PROBE_PENDING_COST_MS, createLoadState, decayedRttMs, loadCost, recordSample } from './peak-ewma.js';

const DECAY = 10_000;
const close = (actual: number, expected: number, eps = 1e-9): void =>
  assert.ok(Math.abs(actual - expected) <= eps * Math.max(1, Math.abs(expected)), `${actual} != ${expected}`);

describe('peak-EWMA load (exact values on a fake clock)', { timeout: 30_000 }, () => {
  test('a seeded estimate decays toward 0 as rtt x exp(-idle/decay)', () => {
    const clock = createFakeClock(1_000);
    const s = createLoadState(30, 1, clock.now());
    close(decayedRttMs(s, clock.now(), DECAY), 30);
    clock.advance(10_000);
    close(decayedRttMs(s, clock.now(), DECAY), 30 * Math.exp(-1));
    clock.advance(10_000);
    close(loadCost(s, clock.now(), DECAY), 30 * Math.exp(-2));
  });

  test('cost = rtt x (inFlight + 1) / weight', () => {
    const s = createLoadState(20, 2, 0);
    recordSample(s, 20, false, Infinity, 0, DECAY);
    s.inFlight = 3;
    close(loadCost(s, 0, DECAY), (20 * 4) / 2);
  });

  test('no history and one call in flight: probe-pending cost; the first answer replaces the seed', () => {
    const s = createLoadState(30, 1, 0);
    s.inFlight = 1;
    assert.equal(loadCost(s, 0, DECAY), PROBE_PENDING_COST_MS + 1);
    recordSample(s, 2, false, 90, 5, DECAY);
    s.inFlight = 0;
    assert.equal(s.answered, true);
    close(loadCost(s, 5, DECAY), 2);
  });

  test('a slower sample replaces the estimate at once (peak)', () => {
    const s = createLoadState(10, 1, 0);
    recordSample(s, 10, false, 30, 0, DECAY);
    recordSample(s, 25, false, 30, 100, DECAY);
    close(decayedRttMs(s, 100, DECAY), 25);
  });

  test('a faster, unagreeing sample blends with weight 1 - exp(-elapsed/decay) (tower)', () => {
    const s = createLoadState(10, 1, 0);
    recordSample(s, 100, false, Infinity, 0, DECAY); // first answer: 100
    recordSample(s, 10, false, Infinity, 5_000, DECAY); // 10 vs previous 100: not within 2x
    close(s.rttMs, 10 + (100 - 10) * Math.exp(-0.5));
  });

  test('a faster sample agreeing with the previous one moves at least 25% of the way', () => {
    const s = createLoadState(10, 1, 0);
    recordSample(s, 40, false, Infinity, 0, DECAY);
    recordSample(s, 30, false, Infinity, 10, DECAY); // 30 agrees with 40 (within 2x)
    const decayed = 40 * Math.exp(-10 / DECAY);
    const tower = 30 + (40 - 30) * Math.exp(-10 / DECAY);
    const expected = Math.min(tower, 30 + (decayed - 30) * (1 - AGREE_WEIGHT));
    close(s.rttMs, expected);
    assert.ok(s.rttMs < tower);
  });

  test('a lone high sample is capped; a second high sample in a row is taken in full', () => {
    const s = createLoadState(10, 1, 0);
    recordSample(s, 10, false, 30, 0, DECAY);
    recordSample(s, 1_000, true, 30, 100, DECAY);
    close(s.rttMs, 30);
    recordSample(s, 900, true, 30, 200, DECAY);
    close(s.rttMs, 900);
  });

  test('lone 1 s spike on a 10 ms endpoint: under 20 ms after 4 fast answers, or by idle decay within 6.9 s', () => {
    // Through fast answers (cap 3 x median 10 ms).
    const s = createLoadState(10, 1, 0);
    recordSample(s, 10, false, 30, 0, DECAY);
    recordSample(s, 1_000, true, 30, 1_000, DECAY);
    const after: number[] = [];
    for (let i = 1; i <= 4; i++) {
      recordSample(s, 10, false, 30, 1_000 + 10 * i, DECAY);
      after.push(s.rttMs);
    }
    assert.ok(after[2]! >= 20, `3 answers are not enough by the stated arithmetic: ${after}`);
    assert.ok(after[3]! < 20, `4 fast answers bring it under 20 ms: ${after}`);
    // With no traffic at all: 30 x exp(-t/10 s) < 20 after 4.05 s, inside the 6.9 s bound.
    const idle = createLoadState(10, 1, 0);
    recordSample(idle, 10, false, 30, 0, DECAY);
    recordSample(idle, 1_000, true, 30, 0, DECAY);
    assert.ok(decayedRttMs(idle, 4_000, DECAY) > 20);
    assert.ok(decayedRttMs(idle, 4_100, DECAY) < 20);
    // Tower's rule (no cap, no agreement) on the same 10 ms answers, one every 10 ms, needs ~46 s.
    const tower = createLoadState(10, 1, 0);
    recordSample(tower, 1_000, false, Infinity, 0, DECAY);
    let t = 0;
    tower.lastHigh = true; // keep the agreement rule out of it: tower has none
    while (tower.rttMs >= 20 && t < 100_000) {
      t += 10;
      recordSample(tower, 10, false, Infinity, t, DECAY);
      tower.lastHigh = true;
    }
    assert.ok(t > 45_000 && t < 47_000, `tower-style recovery took ${t} ms`);
  });

  test('the estimate is never below the 1 us floor, so in-flight still orders idle endpoints', () => {
    const s = createLoadState(10, 1, 0);
    const far = 10_000_000;
    s.inFlight = 1;
    recordSample(s, 10, false, Infinity, 0, DECAY);
    assert.ok(loadCost(s, far, DECAY) > 0);
    const idle = createLoadState(10, 1, 0);
    recordSample(idle, 10, false, Infinity, 0, DECAY);
    assert.ok(loadCost(s, far, DECAY) > loadCost(idle, far, DECAY));
  });
});
