import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createFakeClock } from '@fairway/testing';
import { AGREE_WEIGHT, PROBE_PENDING_COST_MS, createLoadState, decayFactor, decayedRttMs, loadCost, recordSample } from './peak-ewma.js';

const DECAY = 10_000;
const close = (actual: number, expected: number, eps = 1e-9): void =>
  assert.ok(Math.abs(actual - expected) <= eps * Math.max(1, Math.abs(expected)), `${actual} != ${expected}`);

describe('peak-EWMA load (exact values on a fake clock)', { timeout: 30_000 }, () => {
  test('decayFactor is exp(-x) to 1e-8 relative, on both sides of where its series gives way to Math.exp', () => {
    const xs = [0, 1e-9, 1e-6, 1e-4, 1e-3, 0.01, 0.0155, 1 / 64 - 1e-12, 1 / 64, 0.0157, 0.02, 0.1, 1, 5, 40];
    for (let i = 0; i <= 1000; i++) xs.push((i / 1000) * 0.03);
    for (const x of xs) {
      const want = Math.exp(-x);
      assert.ok(Math.abs(decayFactor(x) - want) <= 1e-8 * want, `decayFactor(${x}) = ${decayFactor(x)}, exp = ${want}`);
    }
    // Monotone across the switch: a later moment never decays an estimate less.
    for (let i = 1; i < 1000; i++) assert.ok(decayFactor((i / 1000) * 0.03) <= decayFactor(((i - 1) / 1000) * 0.03));
  });

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

  test('minWeight: a faster sample moves the estimate at least that share of the way; a slower one is still a peak', () => {
    const young = createLoadState(10, 1, 0);
    const old = createLoadState(10, 1, 0);
    for (const s of [young, old]) recordSample(s, 30, false, Infinity, 0, DECAY); // first answer: 30 (a cold start)
    recordSample(young, 10, false, Infinity, 2, DECAY, false, 0.02);
    recordSample(old, 10, false, Infinity, 2, DECAY);
    close(young.rttMs, 10 + 20 * 0.98);
    close(old.rttMs, 10 + 20 * Math.exp(-2 / DECAY));
    // When the time-based weight is the larger, it applies: 5 s later, 1 - exp(-0.5) = 39 % > 2 %.
    recordSample(young, 10, false, Infinity, 5_002, DECAY, false, 0.02);
    close(young.rttMs, 10 + 20 * 0.98 * Math.exp(-0.5));
    // A slower sample replaces the estimate whatever minWeight is.
    recordSample(young, 40, false, Infinity, 5_003, DECAY, false, 0.02);
    close(young.rttMs, 40);
  });

  test('a faster sample blends with weight 1 - exp(-elapsed/decay) (tower), also when it is close to the one before', () => {
    const s = createLoadState(10, 1, 0);
    recordSample(s, 100, false, Infinity, 0, DECAY); // first answer: 100
    recordSample(s, 10, false, Infinity, 5_000, DECAY);
    close(s.rttMs, 10 + (100 - 10) * Math.exp(-0.5));
    // Ordinary answers get no shortcut when they agree with each other (see the held-spike test below): one moved
    // every estimate 25 % of the way to the last answer, so equal pods' estimates followed their last few answers
    // and p2c chased that noise into queues (p50 +9 % against round robin in balancer-simulation.test.ts).
    const t = createLoadState(10, 1, 0);
    recordSample(t, 40, false, Infinity, 0, DECAY);
    recordSample(t, 30, false, Infinity, 10, DECAY);
    close(t.rttMs, 30 + (40 - 30) * Math.exp(-10 / DECAY));
    assert.equal(t.spikeHeld, false);
  });

  test('while the estimate holds a lone capped spike, a faster answer agreeing with the previous one moves it 25 % of the way', () => {
    const s = createLoadState(10, 1, 0);
    recordSample(s, 10, false, 30, 0, DECAY);
    recordSample(s, 1_000, true, 30, 10, DECAY); // lone high: capped at 30, held
    assert.equal(s.spikeHeld, true);
    recordSample(s, 10, false, 30, 20, DECAY); // follows a high outcome: tower's blend only
    const tower = 10 + (30 - 10) * Math.exp(-10 / DECAY);
    close(s.rttMs, tower);
    recordSample(s, 12, false, 30, 30, DECAY); // agrees with 10
    const decayed = tower * Math.exp(-10 / DECAY);
    close(s.rttMs, 12 + (decayed - 12) * (1 - AGREE_WEIGHT));
    // Within 2x of the answers: the spike is over, later answers blend as in tower.
    for (let i = 0; i < 3; i++) recordSample(s, 10, false, 30, 40 + 10 * i, DECAY);
    assert.equal(s.spikeHeld, false);
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
