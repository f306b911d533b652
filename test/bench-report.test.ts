// The benchmark report's paired ratio (B4's goals against round_robin): judged on the median of per-round
// ratios, so a drift of the machine that both variants of a round share cancels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { drawsGatedRelativeFigure, gatedRelativeFigure, pairedRelativeFigure } from '../bench/lib/report.js';
import { RoundValues } from '../bench/lib/rounds.js';

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

test('paired ratio: the note says how close in time a round\'s variants ran (B8: seven variants in turn)', () => {
  const perRound = { fairway: [120, 130, 118], fairway_untraced: [100, 100, 100] };
  const f = pairedRelativeFigure('client CPU per call', 'us', { fairway: 120, fairway_untraced: 100 }, perRound, '<=', 1.15, 'fairway_untraced', undefined, 'each round runs all 7 variants in turn, ~40 s');
  assert.equal(f.ratio, 1.2);
  assert.equal(f.verdict, 'MISS');
  assert.match(f.note ?? '', /\(1\.200, 1\.300, 1\.180\), each round runs all 7 variants in turn, ~40 s$/);
});

test('paired ratio: no round with both values falls back to the ratio of the medians', () => {
  const f = pairedRelativeFigure('x', 'us', { fairway: 100, round_robin: 100 }, { fairway: [null], round_robin: [100] }, '<=', 1.05, 'round_robin');
  assert.equal(f.ratio, 1);
  assert.equal(f.note, undefined);
});

// B9's p99 goals over several draws of the pods' service times: the ratio within each draw, the median over
// draws; the spread is the noise between rounds of the same draw, not the draws' differences.
function drawValues(rounds: Record<string, number[]>): RoundValues {
  const rv = new RoundValues();
  for (const [variant, xs] of Object.entries(rounds)) for (const x of xs) rv.put('p99 latency', variant, x);
  return rv;
}

test('draws: the median of per-draw ratios; a draw that is hard on round_robin is not noise', () => {
  const variants = ['fairway', 'round_robin', 'haproxy_leastconn'];
  const draws = [
    // round_robin's busiest pod at 89 %: it queues little, and Fairway is 0.9x it.
    drawValues({ fairway: [79, 81], round_robin: [88, 90], haproxy_leastconn: [62, 64] }),
    // At 91.4 %: round_robin queues, 0.65x.
    drawValues({ fairway: [85, 86], round_robin: [130, 132], haproxy_leastconn: [64, 66] }),
    drawValues({ fairway: [77, 78], round_robin: [110, 112], haproxy_leastconn: [63, 63] }),
  ];
  const f = drawsGatedRelativeFigure('p99 latency', 'ms', draws, variants, '<=', 0.7, 'round_robin', ['round_robin', 'haproxy_leastconn']);
  // Per draw 80/89 = 0.899, 85.5/131 = 0.653, 77.5/111 = 0.698: the median is the third draw's.
  assert.equal(f.ratio, 0.698);
  assert.equal(f.verdict, 'PASS');
  assert.match(f.note ?? '', /median over 3 draws .* \(0\.899, 0\.653, 0\.698\)/);
  // Values: medians over draws of each draw's mean.
  assert.equal(f.values['round_robin'], 111);
  assert.equal(f.values['fairway'], 80);
  // Spread: 2 ms, the largest difference between two rounds of one draw (round_robin's 130 vs 88 is not in it).
  assert.equal(f.gap?.spread, 2);
  // Gap: the median over draws of round_robin - leastconn: 26, 66, 48 -> 48.
  assert.equal(f.gap?.gap, 48);
  assert.equal(f.gap?.counts, true);
  assert.equal(f.rounds, 6);
  // The same six rounds as one pool: the draws' differences become the spread (round_robin 88-132 ms), and the
  // goal could never count.
  const pooled = gatedRelativeFigure('p99 latency', 'ms', drawValues({ fairway: [79, 81, 85, 86, 77, 78], round_robin: [88, 90, 130, 132, 110, 112], haproxy_leastconn: [62, 64, 64, 66, 63, 63] }), variants, '<=', 0.7, 'round_robin', ['round_robin', 'haproxy_leastconn']);
  assert.equal(pooled.verdict, 'NOISE');
  assert.equal(pooled.gap?.spread, 44);
});

test('draws: timing noise within a draw makes the goal not count; a miss is a miss', () => {
  const variants = ['fairway', 'round_robin', 'haproxy_leastconn'];
  const noisy = [
    drawValues({ fairway: [60, 100], round_robin: [100, 104], haproxy_leastconn: [70, 72] }),
    drawValues({ fairway: [80, 82], round_robin: [100, 101], haproxy_leastconn: [70, 71] }),
  ];
  const n = drawsGatedRelativeFigure('p99 latency', 'ms', noisy, variants, '<=', 0.7, 'round_robin', ['round_robin', 'haproxy_leastconn']);
  assert.equal(n.verdict, 'NOISE');
  assert.equal(n.gap?.spread, 40);
  assert.match(n.note ?? '', /^does not count: the gap round_robin - haproxy_leastconn \(30\.\d+ ms, median over draws\) is 0\.\d+x the run-to-run spread \(40\.0 ms\)/);
  const quiet = [drawValues({ fairway: [80, 81], round_robin: [100, 101], haproxy_leastconn: [70, 71] })];
  const q = drawsGatedRelativeFigure('p99 latency', 'ms', quiet, variants, '<=', 0.7, 'round_robin', ['round_robin', 'haproxy_leastconn']);
  assert.equal(q.verdict, 'MISS');
  assert.equal(q.ratio, 0.801);
  assert.match(q.note ?? '', /median over 1 draw of/);
  // One round per draw: no spread, so it cannot count.
  const single = drawsGatedRelativeFigure('p99 latency', 'ms', [drawValues({ fairway: [60], round_robin: [100], haproxy_leastconn: [70] })], variants, '<=', 0.7, 'round_robin', ['round_robin', 'haproxy_leastconn']);
  assert.equal(single.verdict, 'NOISE');
  assert.match(single.note ?? '', /spread needs 2 or more rounds of each draw/);
});
