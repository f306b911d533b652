/**
 * How B1's two goals on the slow pod bound each other: its share of calls within 0.8-1.2x its capacity share,
 * and p99 during the event <= 1.2x the oracle (round_robin over the 8 healthy pods). A seeded queueing model of
 * B1's event, no network: 9 pods of 2 FIFO slots, log-normal service times (mean 20 ms, sigma 0.5, as
 * `B1_POD`), the slow pod's stretched 3x (its capacity cut to 1/3, as the pod model does it), 630 calls/s
 * evenly spaced (70 % of the fleet's capacity). Dispatchers with perfect knowledge and no noise:
 * - the slow pod gets an exact share `s` of the calls, spread evenly (its own best case: no bursts);
 * - the other calls go round robin over the 8 healthy pods (the oracle's own way); to the healthy slot that
 *   frees first (join-the-shortest-queue with exact service times: better than any real balancer); or by two
 *   choices on exact queue lengths, the first candidate in turn and the second at random (Fairway's p2c draw
 *   with perfect estimates).
 * Prints p99 against `s` as a multiple of the capacity share (4 %), and the p99 over the oracle's.
 *
 * Run: `FAIRWAY_PROBE=b1-share-bound node bench/probes/run.mjs` (add `-- --calls 400000 --seeds 3`).
 */
import { parseArgs } from 'node:util';
import { createSeededRandom } from '@fairway/testing';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '400000' }, seeds: { type: 'string', default: '3' } } });
const CALLS = Number(values.calls);
const SEEDS = Number(values.seeds);
const RATE_PER_SEC = 630;
const MEAN_MS = 20;
const SIGMA = 0.5;
const SLOW_FACTOR = 3;
const HEALTHY = 8;
/** The slow pod's capacity over the fleet's during the event: (100 / 3) / (8 x 100 + 100 / 3) calls/s. */
const CAPACITY_SHARE = 100 / SLOW_FACTOR / (HEALTHY * 100 + 100 / SLOW_FACTOR);

type Healthy = 'round_robin' | 'earliest_free_slot' | 'two_choices';

function p99(share: number, seed: number, healthy: Healthy): number {
  const random = createSeededRandom(`b1-share-bound-${seed}`);
  // Log-normal with the given mean: mu = ln(mean) - sigma^2 / 2; a normal draw by Box-Muller.
  const mu = Math.log(MEAN_MS) - (SIGMA * SIGMA) / 2;
  const serviceMs = (): number => Math.exp(mu + SIGMA * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()));
  const gapMs = 1000 / RATE_PER_SEC;
  const freeAt = Array.from({ length: HEALTHY + 1 }, () => [0, 0]); // each pod's two slots; the last pod is the slow one
  // Per healthy pod, the start times of calls still waiting for a slot (for `two_choices`' queue lengths).
  const waiting = Array.from({ length: HEALTHY }, (): number[] => []);
  const latencies = new Float64Array(CALLS);
  let owed = 0;
  let turn = 0;
  for (let i = 0; i < CALLS; i++) {
    const t = i * gapMs;
    let pod: number;
    let stretch = 1;
    owed += share;
    if (owed >= 1) {
      owed -= 1;
      pod = HEALTHY;
      stretch = SLOW_FACTOR;
    } else if (healthy === 'round_robin') {
      pod = turn++ % HEALTHY;
    } else if (healthy === 'earliest_free_slot') {
      pod = 0;
      for (let p = 1; p < HEALTHY; p++) if (Math.min(...freeAt[p]!) < Math.min(...freeAt[pod]!)) pod = p;
    } else {
      const a = turn++ % HEALTHY;
      let b = Math.floor(random() * (HEALTHY - 1));
      if (b >= a) b++;
      const queued = (p: number): number => (freeAt[p]![0]! > t ? 1 : 0) + (freeAt[p]![1]! > t ? 1 : 0) + (waiting[p] = waiting[p]!.filter((end) => end > t)).length;
      const qa = queued(a);
      const qb = queued(b);
      pod = qa < qb || (qa === qb && random() < 0.5) ? a : b;
    }
    const slots = freeAt[pod]!;
    const slot = slots[0]! <= slots[1]! ? 0 : 1; // FIFO: the call takes the slot that frees first
    const start = Math.max(t, slots[slot]!);
    if (pod < HEALTHY && start > t) waiting[pod]!.push(start);
    slots[slot] = start + serviceMs() * stretch;
    latencies[i] = slots[slot]! - t;
  }
  latencies.sort();
  return latencies[Math.floor(0.99 * CALLS)]!;
}

const mean = (f: (seed: number) => number): number => {
  let sum = 0;
  for (let seed = 1; seed <= SEEDS; seed++) sum += f(seed);
  return sum / SEEDS;
};

const oracle = mean((seed) => p99(0, seed, 'round_robin'));
console.log(`B1's event, ${CALLS} calls x ${SEEDS} seeds: the oracle (round robin over the 8 healthy pods) p99 ${oracle.toFixed(1)} ms; capacity share ${(CAPACITY_SHARE * 100).toFixed(2)} %`);
console.log('share / capacity share   healthy calls          p99 (ms)   p99 / oracle');
for (const healthy of ['round_robin', 'earliest_free_slot', 'two_choices'] as const) {
  for (const x of [0, 0.5, 0.7, 0.8, 0.85, 0.9, 1, 1.2]) {
    const p = mean((seed) => p99(x * CAPACITY_SHARE, seed, healthy));
    console.log(`${x.toFixed(2).padStart(22)}   ${healthy.padEnd(20)} ${p.toFixed(1).padStart(9)}   ${(p / oracle).toFixed(3).padStart(12)}`);
  }
}
