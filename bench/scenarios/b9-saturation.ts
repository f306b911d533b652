/**
 * B9 saturation: 9 equal pods (2 slots, log-normal service time around 20 ms) at 90 % utilization, open
 * loop. At this load queues form on any pod that gets a little more than its share; the power of two
 * choices promises shorter queues than round_robin's blind rotation.
 * Goals: p99 <= 0.7 x round_robin, counted when round_robin's gap to HAProxy's leastconn (join the shortest
 * queue, the best a balancer can do here) is >= 5x the run-to-run spread; p50 <= 1.05 x round_robin (with
 * equal pods, Fairway's per-request balancing must not cost latency at the median).
 * Each round measures every variant twice: with evenly spaced sends (the harness's open loop: round robin then
 * hands each pod exactly every ninth call, perfectly regular arrivals, the kindest case for it) and with
 * Poisson arrivals at the same mean rate (as the calls of many independent callers arrive; the same seeded
 * arrival times for every variant). The p99 goal is judged on both.
 * Draws: the pods' service times are seeded, and at 90 % utilization one draw decides how much
 * round_robin's busiest pod queues (its p99 moved from 88 to 131 ms between two runs' seeds), so one draw's
 * ratio is that draw's alone. A full run measures 3 draws (each a seed derived from the run's), each in 2
 * rounds (draws in turn: d0 d1 d2 d0 d1 d2); the p99 goals are judged on the median over draws of the
 * per-draw ratio, and count when round_robin's gap to leastconn is >= 5x the spread between rounds of the
 * same draw (timing noise). Quick: 1 draw in 2 rounds.
 */
import * as grpc from '@grpc/grpc-js';
import { address, killEndpoints, podCapacityPerSec, startEndpoints, staticTarget, type Endpoint } from '../lib/backends.js';
import { builtinClient, proxyClient } from '../lib/baselines.js';
import { callOnce, EchoClient } from '../lib/echo.js';
import type { BenchContext } from '../lib/context.js';
import { loadFairway } from '../lib/fairway.js';
import { podStats, QueueSampler, rateForUtilization, resetPodStats, seedPods } from '../lib/fleet.js';
import { startHaproxy, type Haproxy } from '../lib/haproxy.js';
import { openLoop } from '../lib/load.js';
import { drawsGatedRelativeFigure, newScenario, roundsInfoFigure, roundsRelativeFigure, type ScenarioResult } from '../lib/report.js';
import { RoundValues } from '../lib/rounds.js';
import { interleaveClients } from '../lib/client-rounds.js';
import { failures, latency } from '../lib/stats.js';
import { B1_POD } from './b1-slow-endpoint.js';

const UTILIZATION = 0.9;
const DEADLINE_MS = 20_000;

const F = {
  p50: 'p50 latency',
  p99: 'p99 latency',
  p999: 'p99.9 latency',
  queueMean: 'queue length, mean per pod',
  queueWorst: 'queue length, mean of the hottest pod',
  queueMax: 'queue length, longest seen',
  utilMin: 'pod utilization, lowest',
  utilMax: 'pod utilization, highest',
  queueDelayP99: 'queueing delay p99, worst pod',
  failed: 'failed calls',
  p50Poisson: 'p50 latency, Poisson arrivals',
  p99Poisson: 'p99 latency, Poisson arrivals',
  p999Poisson: 'p99.9 latency, Poisson arrivals',
  failedPoisson: 'failed calls, Poisson arrivals',
} as const;

export async function runB9(ctx: BenchContext): Promise<ScenarioResult> {
  const s = newScenario('B9', 'saturation: 9 equal pods with a tailed service time at 90 % utilization');
  const pods = 9;
  const pod = B1_POD;
  const ratePerSec = rateForUtilization(pod, pods, UTILIZATION);
  const draws = ctx.quick ? 1 : 3;
  const roundsPerDraw = 2;
  const rounds = draws * roundsPerDraw;
  const durationMs = ctx.quick ? 1_500 : 8_000;
  const warmupMs = ctx.quick ? 300 : 1_000;
  s.params = { pods, pod, podCapacityPerSec: podCapacityPerSec(pod), utilization: UTILIZATION, ratePerSec, durationMs, warmupMs, rounds, draws, roundsPerDraw, callDeadlineMs: DEADLINE_MS, load: 'open loop: evenly spaced sends, then Poisson arrivals', seed: ctx.seed };
  let endpoints: Endpoint[] = [];
  const proxies: Haproxy[] = [];
  try {
    ctx.log('B9: starting 9 pod processes');
    endpoints = await startEndpoints(Array.from({ length: pods }, (_, i) => ({ id: `b9-p${i}`, zone: 'a', pod })));
    const all = endpoints.map(address);
    const fairway = await loadFairway();
    const hpRandom = await startHaproxy(all, 'random(2)');
    const hpLeast = await startHaproxy(all, 'leastconn');
    for (const hp of [hpRandom, hpLeast]) if (typeof hp !== 'string') proxies.push(hp);
    const makers: Array<{ name: string; make: () => grpc.Client | string }> = [
      { name: 'fairway', make: () => (typeof fairway === 'string' ? fairway : fairway.createClient(EchoClient, staticTarget(endpoints), grpc.credentials.createInsecure(), {})) },
      { name: 'round_robin', make: () => builtinClient('round_robin', all) },
      { name: 'haproxy', make: () => (typeof hpRandom === 'string' ? hpRandom : proxyClient(hpRandom.target)) },
      { name: 'haproxy_leastconn', make: () => (typeof hpLeast === 'string' ? hpLeast : proxyClient(hpLeast.target)) },
    ];
    s.variants = makers.map((m) => m.name);
    const rv = new RoundValues();
    /** The rounds of each draw, for the p99 goals; `rv` holds every round, for the figures without a goal. */
    const byDraw = Array.from({ length: draws }, () => new RoundValues());
    // Draw 0 is the run's own seed, so a run's first draw replays what earlier single-draw runs of that seed measured.
    const drawSeed = (d: number): string => (d === 0 ? `${ctx.seed}` : `${ctx.seed}/d${d}`);
    const sampler = new QueueSampler(endpoints, 200);
    await interleaveClients(
      s,
      makers,
      rounds,
      async (m, client, roundNo) => {
        const call = (): ReturnType<typeof callOnce> => callOnce(client, undefined, DEADLINE_MS);
        const d = roundNo % draws;
        const seed = drawSeed(d);
        const dv = byDraw[d]!;
        await seedPods(endpoints, `${seed}/B9/warm-up`);
        await openLoop({ ratePerSec, durationMs: warmupMs, call });
        await Promise.all([resetPodStats(endpoints), seedPods(endpoints, `${seed}/B9`)]);
        sampler.start();
        const r = await openLoop({ ratePerSec, durationMs, call, onProgress: ctx.progress.phase(`B9 ${m.name} round ${roundNo + 1} (draw ${d + 1})`) });
        sampler.stop();
        const stats = await podStats(endpoints);
        ctx.progress.end();
        const lat = latency(r.records);
        rv.put(F.p50, m.name, lat.p50);
        rv.put(F.p99, m.name, lat.p99);
        dv.put(F.p99, m.name, lat.p99);
        rv.put(F.p999, m.name, lat.p999);
        rv.put(F.queueMean, m.name, sampler.meanPerPod());
        rv.put(F.queueWorst, m.name, sampler.worstPodMean());
        rv.put(F.queueMax, m.name, sampler.max());
        const utils = [...stats.values()].map((x) => x.utilization * 100);
        rv.put(F.utilMin, m.name, utils.length ? Math.min(...utils) : null);
        rv.put(F.utilMax, m.name, utils.length ? Math.max(...utils) : null);
        const qd = [...stats.values()].map((x) => x.queueDelayMs.p99);
        rv.put(F.queueDelayP99, m.name, qd.length ? Math.max(...qd) : null);
        rv.put(F.failed, m.name, failures(r.records));
        // The same variant again, on Poisson arrivals (the same arrival times and service times for every variant).
        await Promise.all([resetPodStats(endpoints), seedPods(endpoints, `${seed}/B9/poisson`)]);
        const p = await openLoop({
          ratePerSec,
          durationMs,
          call,
          arrivals: { kind: 'poisson', seed: `${seed}/B9/arrivals` },
          onProgress: ctx.progress.phase(`B9 ${m.name} round ${roundNo + 1} (draw ${d + 1}), Poisson arrivals`),
        });
        ctx.progress.end();
        const pl = latency(p.records);
        rv.put(F.p50Poisson, m.name, pl.p50);
        rv.put(F.p99Poisson, m.name, pl.p99);
        dv.put(F.p99Poisson, m.name, pl.p99);
        rv.put(F.p999Poisson, m.name, pl.p999);
        rv.put(F.failedPoisson, m.name, failures(p.records));
      },
      {
        after: async () => {
          sampler.stop();
          ctx.progress.end();
        },
      },
    );
    const v = s.variants;
    s.figures.push(drawsGatedRelativeFigure(F.p99, 'ms', byDraw, v, '<=', 0.7, 'round_robin', ['round_robin', 'haproxy_leastconn']));
    // Issue 13's "the client path costs no latency": with equal pods, Fairway's p50 within 5 % of round_robin's.
    s.figures.push(roundsRelativeFigure(F.p50, 'ms', rv, v, '<=', 1.05, 'round_robin', 'equal pods: the price of per-request balancing at the median'));
    s.figures.push(roundsInfoFigure(F.p999, 'ms', rv, v));
    s.figures.push(roundsInfoFigure(F.queueMean, 'calls', rv, v, 'sampled every 200 ms from every pod'));
    s.figures.push(roundsInfoFigure(F.queueWorst, 'calls', rv, v));
    s.figures.push(roundsInfoFigure(F.queueMax, 'calls', rv, v));
    s.figures.push(roundsInfoFigure(F.utilMin, '%', rv, v));
    s.figures.push(roundsInfoFigure(F.utilMax, '%', rv, v));
    s.figures.push(roundsInfoFigure(F.queueDelayP99, 'ms', rv, v));
    s.figures.push(roundsInfoFigure(F.failed, 'calls', rv, v, 'a pod answers RESOURCE_EXHAUSTED beyond 64 waiting calls'));
    s.figures.push(drawsGatedRelativeFigure(F.p99Poisson, 'ms', byDraw, v, '<=', 0.7, 'round_robin', ['round_robin', 'haproxy_leastconn']));
    s.figures.push(roundsInfoFigure(F.p50Poisson, 'ms', rv, v));
    s.figures.push(roundsInfoFigure(F.p999Poisson, 'ms', rv, v));
    s.figures.push(roundsInfoFigure(F.failedPoisson, 'calls', rv, v));
    s.details['rounds'] = rv.toJSON();
    s.details['draws'] = byDraw.map((dv, d) => ({ seed: drawSeed(d), rounds: dv.toJSON() }));
    s.notes.push('pick_first is not run: its one pod would get 8.1x its capacity');
    s.notes.push("latency from each call's intended send time (open loop)");
    s.notes.push(`pods' service times: ${draws} draw${draws === 1 ? '' : 's'} (seeds ${byDraw.map((_, d) => drawSeed(d)).join(', ')}), ${roundsPerDraw} rounds each; figures without a goal are medians over all ${rounds} rounds, their spread includes the draws'`);
    s.notes.push('figures without "Poisson arrivals": evenly spaced sends (round robin hands each pod every ninth call: perfectly regular arrivals); with it: exponential gaps at the same mean rate, the same seeded times for every variant; queue and utilization figures are from the evenly spaced run');
    return s;
  } finally {
    for (const hp of proxies) await hp.stop();
    await killEndpoints(endpoints);
  }
}
