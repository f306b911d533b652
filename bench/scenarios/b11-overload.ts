/**
 * B11 overload with timeout retries: 6 equal pods (2 slots, log-normal service time around 20 ms, 64 calls may
 * wait) offered 130 % of their capacity, open loop, every variant retrying attempts that time out (100 ms,
 * 3 attempts, 50 ms apart, 1 s call deadline). Past capacity, queues grow until attempts time out; a client
 * that retries them adds load exactly when there is none to spare (a retry storm), and the work a cancelled
 * attempt had done is lost, so goodput falls below capacity.
 * Goal (benchmarks.md): goodput >= 90 % of fleet capacity; retries within the budget (attempts per call <=
 * 1 + the budget's 20 % + its 10/s floor), no retry storm.
 * Variants, interleaved in rounds: Fairway with adaptive concurrency (`concurrencyLimit: true`), Fairway without
 * it (retry budget only), and round_robin with the same retries as a plain loop (grpc-js has no per-attempt
 * timeout, and its retryPolicy retries status codes, not time-outs): no budget, what an application writes.
 */
import * as grpc from '@grpc/grpc-js';
import { address, killEndpoints, podCapacityPerSec, startEndpoints, staticTarget, type Endpoint } from '../lib/backends.js';
import { builtinClient } from '../lib/baselines.js';
import { callOnce, EchoClient, type CallResult } from '../lib/echo.js';
import type { BenchContext } from '../lib/context.js';
import { loadFairway, PickRecorder, type BenchFairwayOptions } from '../lib/fairway.js';
import { podStats, rateForUtilization, resetPodStats } from '../lib/fleet.js';
import { openLoop } from '../lib/load.js';
import { newScenario, roundsAbsoluteFigure, roundsInfoFigure, type ScenarioResult } from '../lib/report.js';
import { RoundValues } from '../lib/rounds.js';
import { interleaveClients } from '../lib/client-rounds.js';
import { failureCodes, latency } from '../lib/stats.js';
import { sleep } from '../lib/procs.js';
import { B1_POD } from './b1-slow-endpoint.js';

const PODS = 6;
const OFFERED = 1.3;
const DEADLINE_MS = 1_000;
const RETRY = { attemptTimeoutMs: 100, maxAttempts: 3, retryIntervalMs: 50 } as const;
/** Fairway's default retry budget: 20 % of calls plus 10 retries/s, over a sliding 10 s window. */
const BUDGET = { ratio: 0.2, minPerSecond: 10, windowMs: 10_000 } as const;

const F = {
  goodput: 'goodput, % of fleet capacity',
  goodputPerSec: 'goodput (calls answered OK per s)',
  attemptsPerCall: 'attempts per call',
  p99: 'p99 latency of answered calls',
  failed: 'failed calls, % of calls',
  timedOut: 'attempts timed out',
  util: 'pod utilization, mean',
  rejected: 'calls the pods refused (queue full)',
} as const;

/** The round_robin baseline's retries: a plain loop, each attempt a call with the attempt timeout as its deadline. */
async function plainRetries(client: grpc.Client, counter: { attempts: number; timedOut: number }): Promise<CallResult> {
  const end = Date.now() + DEADLINE_MS;
  for (let n = 1; ; n++) {
    const left = end - Date.now();
    counter.attempts++;
    const r = await callOnce(client, undefined, Math.max(1, Math.min(RETRY.attemptTimeoutMs, left)));
    if (r.code !== grpc.status.DEADLINE_EXCEEDED) return r;
    counter.timedOut++;
    if (n >= RETRY.maxAttempts || end - Date.now() <= RETRY.retryIntervalMs) return r;
    await sleep(RETRY.retryIntervalMs);
  }
}

export async function runB11(ctx: BenchContext): Promise<ScenarioResult> {
  const s = newScenario('B11', 'overload: offered load 130 % of fleet capacity with timeout retries on');
  const pod = B1_POD;
  const capacityPerSec = podCapacityPerSec(pod) * PODS;
  const ratePerSec = rateForUtilization(pod, PODS, OFFERED);
  const warmupRate = rateForUtilization(pod, PODS, 0.5);
  const rounds = ctx.quick ? 2 : 3;
  const durationMs = ctx.quick ? 2_500 : 8_000;
  const warmupMs = ctx.quick ? 300 : 1_000;
  // What the budget allows over the measured run: its window also holds the warm-up's calls (they earn retries
  // too), and its floor is 10/s over the window (or the run, if longer).
  const warmupCalls = (warmupRate * warmupMs) / 1000;
  const runCalls = (ratePerSec * durationMs) / 1000;
  const floorRetries = (BUDGET.minPerSecond * Math.max(BUDGET.windowMs, warmupMs + durationMs)) / 1000;
  const attemptBound = 1 + (BUDGET.ratio * (warmupCalls + runCalls) + floorRetries) / runCalls;
  s.params = { pods: PODS, pod, capacityPerSec, offered: OFFERED, ratePerSec, durationMs, warmupMs, warmupRatePerSec: warmupRate, rounds, retry: RETRY, fairwayBudget: BUDGET, callDeadlineMs: DEADLINE_MS, load: 'open loop' };
  let endpoints: Endpoint[] = [];
  try {
    ctx.log(`B11: starting ${PODS} pod processes`);
    endpoints = await startEndpoints(Array.from({ length: PODS }, (_, i) => ({ id: `b11-p${i}`, zone: 'a', pod })));
    const all = endpoints.map(address);
    const fairway = await loadFairway();
    let recorder = new PickRecorder();
    const counter = { attempts: 0, timedOut: 0 };
    const withFairway = (options: BenchFairwayOptions) => (): grpc.Client | string => {
      recorder = new PickRecorder();
      return typeof fairway === 'string'
        ? fairway
        : fairway.createClient(EchoClient, staticTarget(endpoints), grpc.credentials.createInsecure(), { retry: { ...RETRY }, observers: [recorder], ...options });
    };
    const makers: Array<{ name: string; make: () => grpc.Client | string; plain?: boolean }> = [
      { name: 'fairway', make: withFairway({ concurrencyLimit: true }) },
      { name: 'fairway_no_limit', make: withFairway({}) },
      { name: 'round_robin', make: () => builtinClient('round_robin', all), plain: true },
    ];
    s.variants = makers.map((m) => m.name);
    const rv = new RoundValues();
    const codes: Record<string, Record<string, number>> = {};
    await interleaveClients(
      s,
      makers,
      rounds,
      async (m, client, roundNo) => {
        const call = m.plain ? (): Promise<CallResult> => plainRetries(client, counter) : (): Promise<CallResult> => callOnce(client, undefined, DEADLINE_MS);
        await openLoop({ ratePerSec: warmupRate, durationMs: warmupMs, call });
        await sleep(200);
        await resetPodStats(endpoints);
        counter.attempts = 0;
        counter.timedOut = 0;
        const r = await openLoop({
          ratePerSec,
          durationMs,
          call,
          onStart: (t0) => recorder.reset(t0),
          onProgress: ctx.progress.phase(`B11 ${m.name} round ${roundNo + 1}`),
        });
        ctx.progress.end();
        const stats = await podStats(endpoints);
        const calls = r.records.length;
        const ok = r.records.filter((x) => x.code === 0).length;
        const goodput = ok / (durationMs / 1000);
        rv.put(F.goodput, m.name, (100 * goodput) / capacityPerSec);
        rv.put(F.goodputPerSec, m.name, goodput);
        const attempts = m.plain ? counter.attempts : recorder.picks.length;
        rv.put(F.attemptsPerCall, m.name, calls > 0 ? attempts / calls : null);
        rv.put(F.timedOut, m.name, m.plain ? counter.timedOut : recorder.attemptsTimedOut);
        rv.put(F.p99, m.name, latency(r.records).p99);
        rv.put(F.failed, m.name, calls > 0 ? (100 * (calls - ok)) / calls : null);
        const utils = [...stats.values()].map((x) => x.utilization * 100);
        rv.put(F.util, m.name, utils.length ? utils.reduce((a, b) => a + b, 0) / utils.length : null);
        rv.put(F.rejected, m.name, [...stats.values()].reduce((a, x) => a + x.rejected, 0));
        codes[`${m.name} round ${roundNo + 1}`] = failureCodes(r.records);
      },
      {
        after: async () => {
          ctx.progress.end();
          // Let the pods' queues drain before the next variant.
        },
        settleMs: 1_000,
      },
    );
    const v = s.variants;
    s.figures.push(roundsAbsoluteFigure(F.goodput, '%', rv, v, '>=', 90, `capacity ${capacityPerSec} calls/s (slots / mean service time), offered ${ratePerSec} calls/s`));
    s.figures.push(roundsAbsoluteFigure(F.attemptsPerCall, 'attempts', rv, v, '<=', Math.round(attemptBound * 1000) / 1000, "1 + the retry budget (20 % of the calls in its window, warm-up included, + 10/s over the window); Fairway's attempts are its picks (a call shed by the limit sends none, so this can be below 1)"));
    s.figures.push(roundsInfoFigure(F.goodputPerSec, 'calls/s', rv, v));
    s.figures.push(roundsInfoFigure(F.p99, 'ms', rv, v));
    s.figures.push(roundsInfoFigure(F.failed, '%', rv, v, 'RESOURCE_EXHAUSTED (shed by the limit or refused by a full pod queue) or DEADLINE_EXCEEDED'));
    s.figures.push(roundsInfoFigure(F.timedOut, 'attempts', rv, v));
    s.figures.push(roundsInfoFigure(F.util, '%', rv, v));
    s.figures.push(roundsInfoFigure(F.rejected, 'calls', rv, v));
    s.details['rounds'] = rv.toJSON();
    s.details['failureCodes'] = codes;
    s.notes.push(`every variant retries time-outs: ${RETRY.attemptTimeoutMs} ms per attempt, ${RETRY.maxAttempts} attempts, ${RETRY.retryIntervalMs} ms apart, ${DEADLINE_MS} ms per call; round_robin's retries are a plain loop without a budget`);
    s.notes.push('goodput: calls answered OK per second of the run; pods are warmed at 50 % before each run and drained for 1 s after');
    return s;
  } finally {
    await killEndpoints(endpoints);
  }
}
