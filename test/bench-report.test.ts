// The benchmark report's paired ratio (B4's goals against round_robin): judged on the median of per-round
// ratios, so a drift of the machine that both variants of a round share cancels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pairedRelativeFigure } from '../bench/lib/report.js';

test('paired ratio: the median of per-round ratios, not the ratio of medians', () => {
  // The machine slows down in rounds 2-3 for both variants; fairway is 4 % above round_robin in every round.
  const perRound = { fairway: [104, 156, 208], round_robin: [100, 150, 200] };
  // The medians (156 against 150) give 1.04 too, but pair them differently and the medians' ratio moves:
  const values = { fairway: 104, round_robin: 150 };
  const f = pairedRelativeFigure('client CPU per call vs round_robin', 'us', values, perRound, '<=', 1.05, 'round_robin');
  assert.equal(f.ratio, 1.04);
  assert.equal(f.verdict, 'PASS');
  assert.match(f.note ?? '', /median of the 3 per-round ratios fairway \/ round_robin \(1\.040, 1\.040, 1\.040\)/);
});

test('paired ratio: a miss is a miss, rounds without both values are skipped', () => {
  const perRound = { fairway: [110, null, 120, 111], round_robin: [100, 90, 100, 100] };
  const f = pairedRelativeFigure('client CPU per call vs round_robin', 'us', { fairway: 111, round_robin: 100 }, perRound, '<=', 1.05, 'round_robin');
  assert.equal(f.ratio, 1.11);
  assert.equal(f.verdict, 'MISS');
  assert.match(f.note ?? '', /3 per-round ratios/);
  const t = pairedRelativeFigure('throughput vs round_robin', 'calls/s', { fairway: 9_800, round_robin: 10_000 }, { fairway: [9_800, 7_000], round_robin: [10_000, 7_300] }, '>=', 0.97, 'round_robin');
  // Per round 0.980 and 0.959: their median 0.969 misses 0.97, although the ratio of the medians (0.98) would pass.
  assert.equal(t.ratio, 0.969);
  assert.equal(t.verdict, 'MISS');
});

test('paired ratio: no round with both values falls back to the ratio of the medians', () => {
  const f = pairedRelativeFigure('x', 'us', { fairway: 100, round_robin: 100 }, { fairway: [null], round_robin: [100] }, '<=', 1.05, 'round_robin');
  assert.equal(f.ratio, 1);
  assert.equal(f.note, undefined);
});
