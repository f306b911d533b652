/**
 * B10 a pod that fails fast: 6 equal pods at 50 % utilization, open loop; when the measured run starts one of
 * them answers every call with UNAVAILABLE after 1 ms (its dependency is gone) instead of serving it. Such a
 * pod looks *fast*: a balancer that only weighs latency sends it more calls, not fewer. Outlier ejection
 * takes it out after a few failures in a row.
 * Goal (benchmarks.md): its share of the calls sent from 1 s after the failure started <= 1 %; failed calls
 * <= those it answered before it was ejected (no retries here: every error it answers is a failed call).
 * Baselines, interleaved in rounds: round_robin (grpc-js) and Fairway without outlier ejection.
 */
import * as grpc from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import { address, killEndpoints, podCapacityPerSec, startEndpoints, staticTarget, type Endpoint } from '../lib/backends.js';
import { builtinClient } from '../lib/baselines.js';
import { callOnce, EchoClient } from '../lib/echo.js';
import type { BenchContext } from '../lib/context.js';
import { loadFairway, PickRecorder, type BenchFairwayOptions } from '../lib/fairway.js';
import type { EjectionEvent } from '@fairway/core';
import { podStats, rateForUtilization, resetPodStats } from '../lib/fleet.js';
import { openLoop } from '../lib/load.js';
import { newScenario, roundsAbsoluteFigure, roundsInfoFigure, type ScenarioResult } from '../lib/report.js';
import { RoundValues } from '../lib/rounds.js';
import { interleaveClients } from '../lib/client-rounds.js';
import { failures, latency } from '../lib/stats.js';
import { B1_POD } from './b1-slow-endpoint.js';

const PODS = 6;
const UTILIZATION = 0.5;
const DEADLINE_MS = 5_000;
/** The goal's window starts this long after the failure started. */
const SETTLE_MS = 1_000;
const FAILURE = { code: 'UNAVAILABLE', afterMs: 1 } as const;

const F = {
  shareAfter: `failing pod's share from ${SETTLE_MS / 1000} s after the failure`,
  shareFirst: `failing pod's share in the first ${SETTLE_MS / 1000} s`,
  failed: 'failed calls',
  answered: 'errors the failing pod answered',
  p99: 'p99 latency of answered calls',
  ejections: 'ejections of the failing pod',
  firstEjection: 'first ejection, after the failure started',
} as const;

/** Counts the balancer's ejection events (the factory's `onEndpointEvent` hook) for one client. */
class EjectionRecorder extends PickRecorder {
  readonly events: Array<EjectionEvent & { atMs: number }> = [];
  onEndpointEvent(e: EjectionEvent): void {
    this.events.push({ ...e, atMs: performance.now() - this.t0 });
  }
}

export async function runB10(ctx: BenchContext): Promise<ScenarioResult> {
  const s = newScenario('B10', 'a pod that fails fast: one of 6 answers UNAVAILABLE in 1 ms');
  const pod = B1_POD;
  const ratePerSec = rateForUtilization(pod, PODS, UTILIZATION);
  const rounds = ctx.quick ? 2 : 3;
  const durationMs = ctx.quick ? 3_000 : 12_000;
  const warmupMs = ctx.quick ? 300 : 1_000;
  s.params = { pods: PODS, pod, podCapacityPerSec: podCapacityPerSec(pod), utilization: UTILIZATION, ratePerSec, durationMs, warmupMs, rounds, failure: FAILURE, settleMs: SETTLE_MS, callDeadlineMs: DEADLINE_MS, retries: 'none (no attempt timeout)', load: 'open loop' };
  let endpoints: Endpoint[] = [];
  try {
    ctx.log(`B10: starting ${PODS} pod processes`);
    endpoints = await startEndpoints(Array.from({ length: PODS }, (_, i) => ({ id: `b10-p${i}`, zone: 'a', pod })));
    const victim = endpoints[3]!;
    const all = endpoints.map(address);
    const fairway = await loadFairway();
    let recorder = new EjectionRecorder();
    const withFairway = (options: BenchFairwayOptions) => (): grpc.Client | string => {
      recorder = new EjectionRecorder();
      return typeof fairway === 'string' ? fairway : fairway.createClient(EchoClient, staticTarget(endpoints), grpc.credentials.createInsecure(), { ...options, observers: [recorder] });
    };
    const makers: Array<{ name: string; make: () => grpc.Client | string }> = [
      { name: 'fairway', make: withFairway({}) },
      { name: 'fairway_no_ejection', make: withFairway({ outlierEjection: false }) },
      { name: 'round_robin', make: () => builtinClient('round_robin', all) },
    ];
    s.variants = makers.map((m) => m.name);
    const rv = new RoundValues();
    await interleaveClients(
      s,
      makers,
      rounds,
      async (m, client, roundNo) => {
        const call = (): ReturnType<typeof callOnce> => callOnce(client, undefined, DEADLINE_MS);
        await openLoop({ ratePerSec, durationMs: warmupMs, call });
        await resetPodStats(endpoints);
        await victim.proc.setFailing(FAILURE, victim.id);
        let failedAtSettle: number | null = null;
        recorder.events.length = 0;
        const r = await openLoop({
          ratePerSec,
          durationMs,
          call,
          onProgress: ctx.progress.phase(`B10 ${m.name} round ${roundNo + 1}`),
          onStart: (t0) => recorder.reset(t0),
          events: [
            {
              atMs: SETTLE_MS,
              run: async () => {
                failedAtSettle = (await victim.proc.stats(victim.id))[victim.id]?.failed ?? null;
              },
            },
          ],
        });
        await victim.proc.setFailing(undefined, victim.id);
        ctx.progress.end();
        const stats = await podStats(endpoints);
        const failedEnd = stats.get(victim.id)?.failed ?? null;
        const sentFirst = r.records.filter((x) => x.intendedMs < SETTLE_MS).length;
        const sentAfter = r.records.length - sentFirst;
        const atSettle = failedAtSettle as number | null;
        rv.put(F.shareFirst, m.name, atSettle === null || sentFirst === 0 ? null : (100 * atSettle) / sentFirst);
        rv.put(F.shareAfter, m.name, atSettle === null || failedEnd === null || sentAfter === 0 ? null : (100 * (failedEnd - atSettle)) / sentAfter);
        rv.put(F.failed, m.name, failures(r.records));
        rv.put(F.answered, m.name, failedEnd);
        rv.put(F.p99, m.name, latency(r.records).p99);
        if (m.name.startsWith('fairway')) {
          const mine = recorder.events.filter((e) => e.kind === 'ejected' && e.address === address(victim));
          rv.put(F.ejections, m.name, mine.length);
          rv.put(F.firstEjection, m.name, mine[0]?.atMs ?? null);
        }
      },
      {
        after: async () => {
          await victim.proc.setFailing(undefined, victim.id).catch(() => undefined);
          ctx.progress.end();
        },
      },
    );
    const v = s.variants;
    s.figures.push(roundsAbsoluteFigure(F.shareAfter, '%', rv, v, '<=', 1, `fair share ${(100 / PODS).toFixed(1)} %; counted from the pod's own count of the errors it answered`));
    s.figures.push(roundsInfoFigure(F.shareFirst, '%', rv, v));
    s.figures.push(roundsInfoFigure(F.failed, 'calls', rv, v, 'no retries: each error the pod answered is a failed call (goal: no more than it answered)'));
    s.figures.push(roundsInfoFigure(F.answered, 'calls', rv, v));
    s.figures.push(roundsInfoFigure(F.p99, 'ms', rv, v));
    s.figures.push(roundsInfoFigure(F.ejections, 'ejections', rv, v, "from the balancer's endpoint events (onEndpointEvent)"));
    s.figures.push(roundsInfoFigure(F.firstEjection, 'ms', rv, v));
    s.details['rounds'] = rv.toJSON();
    s.notes.push(`the failing pod answers ${FAILURE.code} ${FAILURE.afterMs} ms after a call arrives, from the start of each measured run; a fresh client per round (ejection state starts empty)`);
    if (rv.medians(F.ejections, ['fairway'])['fairway'] === 0) s.notes.push("0 ejections: peak-EWMA's failure penalty (a failure counts as a slow answer, and no recovery probe follows a failure) kept the pod out before its 5th failure in a row; the ejection rule is the backstop when many clients each see only a few of its errors");
    s.notes.push("Fairway's defaults: ejection after 5 failures in a row, for 10 s (then one probe call), so a run of 12 s sees at most two");
    return s;
  } finally {
    await killEndpoints(endpoints);
  }
}
