// A seeded simulation of hedging on a fake clock (Finagle-style): calls whose first attempt lands on a slow
// endpoint, the CallMachine deciding, latencies drawn from a seeded random. What it shows: the tail with and
// without hedging at the default percentile, and that the extra attempts stay within the 5 % budget.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSeededRandom } from '@fairway/testing';
import { createRetryBudget } from '../retry-budget.js';
import { DEFAULT_HEDGE_BUDGET, DEFAULT_HEDGE_PERCENTILE } from '../retry-config.js';
import { CallMachine } from './call-machine.js';
import type { CallCommand, HedgePlan } from './call-machine.js';
import { LatencyWindow } from './latency-window.js';
import { StatusCode } from './status.js';

interface Result {
  readonly p50: number;
  readonly p99: number;
  readonly extraAttempts: number;
}

/**
 * `calls` sequential calls, one every 5 ms. Endpoint 0 is slow (a noisy neighbour: 40 + up to 20 ms); the
 * others answer in 8 + up to 4 ms. A first attempt lands on the slow one with probability `slowShare`, a
 * hedge never does (it goes to an endpoint not tried, and the balancer keeps the slow one's share small).
 */
function simulate(seed: string, calls: number, slowShare: number, percentile: number | undefined): Result {
  const random = createSeededRandom(seed);
  const latency = new LatencyWindow((percentile ?? 95) / 100);
  const hedgeBudget = createRetryBudget(DEFAULT_HEDGE_BUDGET);
  const plan: HedgePlan | undefined =
    percentile === undefined ? undefined : { delayMs: undefined, maxHedges: 1, latency, budget: hedgeBudget };
  const retryBudget = createRetryBudget({ ratio: 0.2, minPerSecond: 10, windowMs: 10_000 });
  const durations: number[] = [];
  let attempts = 0;
  let now = 0;
  for (let i = 0; i < calls; i++) {
    now += 5;
    const m = new CallMachine({ kind: 'unary', settings: { attemptTimeoutMs: undefined, maxAttempts: 5, retryIntervalMs: 50 }, budget: retryBudget, hedge: plan });
    const events: Array<{ at: number; fire: () => readonly CallCommand[] }> = [];
    const start = now;
    let finishedAt: number | undefined;
    const apply = (at: number, commands: readonly CallCommand[]) => {
      for (const c of commands) {
        if (c.type === 'open') {
          attempts++;
          const slow = c.reason === 'first' && random() < slowShare;
          m.picked(c.attempt, slow ? 'ep0' : `ep${1 + c.attempt}`);
          const serviceMs = slow ? 40 + random() * 20 : 8 + random() * 4;
          const n = c.attempt;
          events.push({ at: at + serviceMs, fire: () => m.status(n, StatusCode.OK, 'OK', true, at + serviceMs) });
        } else if (c.type === 'arm') {
          const timer = c.timer;
          events.push({ at: at + c.delayMs, fire: () => m.timerFired(timer, at + c.delayMs) });
        } else if (c.type === 'finish') {
          finishedAt = at;
        }
      }
    };
    apply(now, m.start(now, Infinity));
    while (finishedAt === undefined && events.length > 0) {
      events.sort((a, b) => a.at - b.at);
      const next = events.shift()!;
      apply(next.at, next.fire());
    }
    durations.push(finishedAt! - start);
  }
  durations.sort((a, b) => a - b);
  const q = (p: number) => durations[Math.min(durations.length - 1, Math.ceil(p * durations.length) - 1)]!;
  return { p50: q(0.5), p99: q(0.99), extraAttempts: attempts - calls };
}

describe('hedging simulation (seeded, fake clock)', () => {
  test('a slow endpoint taking 3 % of first attempts: hedging at the default percentile brings p99 near the healthy tail, within the budget', () => {
    const calls = 20_000;
    const plain = simulate('hedging-sim', calls, 0.03, undefined);
    const hedged = simulate('hedging-sim', calls, 0.03, DEFAULT_HEDGE_PERCENTILE);
    console.log(
      `# hedging sim, ${calls} calls, slow endpoint on 3 % of first attempts: p50/p99 without ${plain.p50.toFixed(1)}/${plain.p99.toFixed(1)} ms, ` +
        `with p${DEFAULT_HEDGE_PERCENTILE} hedging ${hedged.p50.toFixed(1)}/${hedged.p99.toFixed(1)} ms, ${hedged.extraAttempts} extra attempts ` +
        `(${((100 * hedged.extraAttempts) / calls).toFixed(1)} %)`,
    );
    assert.equal(plain.extraAttempts, 0);
    assert.ok(plain.p99 >= 40, 'without hedging the slow endpoint sets p99');
    // Healthy answers take 8-12 ms; a hedged call takes the delay (about the healthy p95) plus one of them.
    assert.ok(hedged.p99 <= 2 * 12 + 1, `p99 with hedging ${hedged.p99} ms`);
    assert.ok(hedged.extraAttempts <= calls * DEFAULT_HEDGE_BUDGET.ratio, `${hedged.extraAttempts} extra attempts`);
  });
});
