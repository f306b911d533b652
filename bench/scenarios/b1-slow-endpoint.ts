/**
 * B1 noisy neighbour: 9 pods of equal capacity in 3 zones (2 slots each, log-normal service time around
 * 20 ms), the fleet at 70 % utilization (open loop); one pod's capacity is cut to 1/3 for the middle of the
 * run (a noisy neighbour takes two thirds of its CPU), then restored.
 * Goals: p99 during the event <= 1.2 x the oracle (round_robin over the 8 healthy pods) and <= 0.5 x
 * round_robin and the HAProxy sidecar (random(2)); the slow pod's share within 20 % of its capacity share.
 * The client sets no zone (zone-blind, like every baseline): zones are B3's subject.
 * Variants run in interleaved rounds; latency goals count only when the gap they measure is >= 5x the spread.
 * `fairway_hedged` is Fairway with hedging on for the echo method (delay from the live latency distribution,
 * 5 % budget): goal (issue 16) p99 during the event <= 1.1 x the oracle at <= 5 % extra calls.
 */
import * as grpc from '@grpc/grpc-js';
import { address, killEndpoints, podCapacityPerSec, startEndpoints, staticTarget, type Endpoint, type PodSpec } from '../lib/backends.js';
import { builtinClient, proxyClient, waitReady } from '../lib/baselines.js';
import { callOnce, ECHO_PATH, EchoClient } from '../lib/echo.js';
import type { BenchContext } from '../lib/context.js';
import { loadFairway, PickRecorder } from '../lib/fairway.js';
import { podStats, rateForUtilization, resetPodStats, seedPods } from '../lib/fleet.js';
import { startHaproxy, type Haproxy } from '../lib/haproxy.js';
import { openLoop, type CallRecord } from '../lib/load.js';
import {
  bandFigure,
  gatedRelativeFigure,
  newScenario,
  noteBroken,
  roundsAbsoluteFigure,
  roundsInfoFigure,
  type Figure,
  type ScenarioResult,
} from '../lib/report.js';
import { RoundValues } from '../lib/rounds.js';
import { interleaveClients } from '../lib/client-rounds.js';
import { failures, latency, round } from '../lib/stats.js';

/** Every pod: 2 slots, ~20 ms per call with a tail; 100 calls/s each at full capacity. */
export const B1_POD: PodSpec = { slots: 2, serviceTime: { kind: 'lognormal', meanMs: 20, sigma: 0.5 }, queueBound: 64 };
const UTILIZATION = 0.7;
const CUT_TO = 1 / 3;
const DEADLINE_MS = 20_000;

const F = {
  p99Event: 'p99 during the event',
  p999Event: 'p99.9 during the event',
  p50Event: 'p50 during the event',
  p50: 'p50 whole run',
  p99: 'p99 whole run',
  share: "slow pod's share during the event",
  shareVsCap: "slow pod's share / its capacity share",
  slowUtil: "slow pod's utilization during the event",
  slowQueueP99: "slow pod's queueing delay p99 during the event",
  slowQueueMax: "slow pod's queueing delay max during the event",
  hottestHealthyUtil: 'busiest healthy pod utilization during the event',
  failed: 'failed calls',
  hedgeExtra: 'extra calls from hedging, % of calls',
} as const;

/** The variant whose goal a figure judges (report.ts judges the `fairway` column): moves its value there. */
function judgedAs(subject: string, rv: RoundValues, figure: string, variants: readonly string[], make: (rv: RoundValues, variants: readonly string[]) => Figure): Figure {
  const others = variants.filter((v) => v !== subject && v !== 'fairway');
  const view = new RoundValues();
  for (const x of rv.values(figure, subject)) view.put(figure, 'fairway', x);
  for (const v of others) for (const x of rv.values(figure, v)) view.put(figure, v, x);
  const f = make(view, ['fairway', ...others]);
  const move = <T>(r: Record<string, T> | undefined): Record<string, T> | undefined => {
    if (!r) return r;
    const out: Record<string, T> = {};
    for (const [k, val] of Object.entries(r)) out[k === 'fairway' ? subject : k] = val;
    return out;
  };
  return { ...f, values: move(f.values)!, ...(f.spreads ? { spreads: move(f.spreads) } : {}) };
}

export async function runB1(ctx: BenchContext): Promise<ScenarioResult> {
  const s = newScenario('B1', 'noisy neighbour: 9 pods in 3 zones at 70 % utilization, one cut to 1/3 capacity mid-run');
  const pods = 9;
  const ratePerSec = rateForUtilization(B1_POD, pods, UTILIZATION);
  const rounds = ctx.quick ? 2 : 3;
  const beforeMs = ctx.quick ? 500 : 2_000;
  const eventMs = ctx.quick ? 1_500 : 4_000;
  const afterMs = ctx.quick ? 500 : 2_000;
  const warmupMs = ctx.quick ? 300 : 1_000;
  const sharedWarmupMs = ctx.quick ? 1_000 : 3_000;
  const slowIndex = 4;
  const capShare = (podCapacityPerSec(B1_POD) * CUT_TO) / (podCapacityPerSec(B1_POD) * (pods - 1 + CUT_TO));
  s.params = {
    seed: ctx.seed,
    pods,
    zones: 3,
    pod: B1_POD,
    podCapacityPerSec: podCapacityPerSec(B1_POD),
    utilization: UTILIZATION,
    ratePerSec,
    capacityCutTo: round(CUT_TO),
    slowPodCapacitySharePct: round(capShare * 100, 2),
    timelineMs: { before: beforeMs, event: eventMs, after: afterMs },
    rounds,
    warmupMs,
    callDeadlineMs: DEADLINE_MS,
    load: 'open loop',
  };
  const zones = ['a', 'b', 'c'];
  let endpoints: Endpoint[] = [];
  const proxies: Haproxy[] = [];
  try {
    ctx.log('B1: starting 9 pod processes');
    endpoints = await startEndpoints(Array.from({ length: pods }, (_, i) => ({ id: `b1-p${i}`, zone: zones[Math.floor(i / 3)]!, pod: B1_POD })));
    const slow = endpoints[slowIndex]!;
    const all = endpoints.map(address);
    const healthy = endpoints.filter((_, i) => i !== slowIndex).map(address);
    const fairway = await loadFairway();
    const hpRandom = await startHaproxy(all, 'random(2)');
    const hpLeast = await startHaproxy(all, 'leastconn');
    for (const hp of [hpRandom, hpLeast]) if (typeof hp !== 'string') proxies.push(hp);

    let hedgeRecorder = new PickRecorder();
    const makers: Array<{ name: string; make: () => grpc.Client | string }> = [
      { name: 'fairway', make: () => (typeof fairway === 'string' ? fairway : fairway.createClient(EchoClient, staticTarget(endpoints), grpc.credentials.createInsecure(), {})) },
      {
        name: 'fairway_hedged',
        make: () => {
          hedgeRecorder = new PickRecorder();
          return typeof fairway === 'string'
            ? fairway
            : fairway.createClient(EchoClient, staticTarget(endpoints), grpc.credentials.createInsecure(), { retry: { hedging: { methods: [ECHO_PATH] } }, observers: [hedgeRecorder] });
        },
      },
      { name: 'round_robin', make: () => builtinClient('round_robin', all) },
      { name: 'haproxy', make: () => (typeof hpRandom === 'string' ? hpRandom : proxyClient(hpRandom.target)) },
      { name: 'haproxy_leastconn', make: () => (typeof hpLeast === 'string' ? hpLeast : proxyClient(hpLeast.target)) },
      { name: 'oracle', make: () => builtinClient('round_robin', healthy) },
    ];
    s.variants = makers.map((m) => m.name);
    const rv = new RoundValues();

    // Freshly started pods (and this process's grpc-js) run slow for a few seconds while V8 compiles them;
    // a shared warm-up gives every variant the same warm start.
    const warm = builtinClient('round_robin', all);
    try {
      await waitReady(warm);
      await openLoop({ ratePerSec, durationMs: sharedWarmupMs, call: () => callOnce(warm, undefined, DEADLINE_MS), onProgress: ctx.progress.phase('B1 shared warm-up') });
    } finally {
      ctx.progress.end();
      warm.close();
    }

    await interleaveClients(
      s,
      makers,
      rounds,
      async (m, client, roundNo) => {
        const call = (): ReturnType<typeof callOnce> => callOnce(client, undefined, DEADLINE_MS);
        await seedPods(endpoints, `${ctx.seed}/B1/warm-up`);
        await openLoop({ ratePerSec, durationMs: warmupMs, call });
        await seedPods(endpoints, `${ctx.seed}/B1`);
        let eventStats: Awaited<ReturnType<typeof podStats>> | undefined;
        const r = await openLoop({
          ratePerSec,
          durationMs: beforeMs + eventMs + afterMs,
          call,
          onProgress: ctx.progress.phase(`B1 ${m.name} round ${roundNo + 1}`),
          onStart: (t0) => hedgeRecorder.reset(t0),
          events: [
            {
              atMs: beforeMs,
              run: async () => {
                await slow.proc.setCapacity(CUT_TO);
                await resetPodStats(endpoints);
              },
            },
            {
              atMs: beforeMs + eventMs,
              run: async () => {
                eventStats = await podStats(endpoints);
                await slow.proc.setCapacity(1);
              },
            },
          ],
        });
        ctx.progress.end();
        const during = (x: CallRecord): boolean => x.intendedMs >= beforeMs && x.intendedMs < beforeMs + eventMs;
        const ev = latency(r.records, during);
        const whole = latency(r.records);
        rv.put(F.p50Event, m.name, ev.p50);
        rv.put(F.p99Event, m.name, ev.p99);
        rv.put(F.p999Event, m.name, ev.p999);
        rv.put(F.p50, m.name, whole.p50);
        rv.put(F.p99, m.name, whole.p99);
        let n = 0;
        let toSlow = 0;
        for (const x of r.records) {
          if (x.code !== 0 || !during(x)) continue;
          n++;
          if (x.backend === slow.id) toSlow++;
        }
        const share = n === 0 ? null : toSlow / n;
        rv.put(F.share, m.name, share === null ? null : share * 100);
        rv.put(F.shareVsCap, m.name, share === null ? null : share / capShare);
        const st = eventStats?.get(slow.id);
        rv.put(F.slowUtil, m.name, st ? st.utilization * 100 : null);
        rv.put(F.slowQueueP99, m.name, st ? st.queueDelayMs.p99 : null);
        rv.put(F.slowQueueMax, m.name, st ? st.queueDelayMs.max : null);
        let hottest: number | null = null;
        for (const e of endpoints) {
          if (e === slow) continue;
          const u = eventStats?.get(e.id)?.utilization;
          if (u !== undefined) hottest = Math.max(hottest ?? 0, u * 100);
        }
        rv.put(F.hottestHealthyUtil, m.name, hottest);
        rv.put(F.failed, m.name, failures(r.records));
        if (m.name === 'fairway_hedged' && r.records.length > 0) {
          rv.put(F.hedgeExtra, m.name, (100 * hedgeRecorder.picks.filter((p) => p.attempt > 1).length) / r.records.length);
        }
      },
      {
        after: async () => {
          ctx.progress.end();
          await slow.proc.setCapacity(1).catch(() => undefined);
        },
      },
    );

    const v = s.variants;
    // One figure, three goals: each row names its reference.
    s.figures.push({ ...gatedRelativeFigure(F.p99Event, 'ms', rv, v, '<=', 1.2, 'oracle', ['round_robin', 'oracle']), name: `${F.p99Event} vs oracle` });
    s.figures.push({ ...gatedRelativeFigure(F.p99Event, 'ms', rv, v, '<=', 0.5, 'round_robin', ['round_robin', 'oracle']), name: `${F.p99Event} vs round_robin` });
    s.figures.push({ ...gatedRelativeFigure(F.p99Event, 'ms', rv, v, '<=', 0.5, 'haproxy', ['haproxy', 'oracle']), name: `${F.p99Event} vs haproxy` });
    s.figures.push({
      ...judgedAs('fairway_hedged', rv, F.p99Event, v, (view, vs) => gatedRelativeFigure(F.p99Event, 'ms', view, vs, '<=', 1.1, 'oracle', ['round_robin', 'oracle'])),
      name: `${F.p99Event}, hedged, vs oracle`,
    });
    s.figures.push(judgedAs('fairway_hedged', rv, F.hedgeExtra, v, (view, vs) => roundsAbsoluteFigure(F.hedgeExtra, '%', view, vs, '<=', 5, 'hedge attempts (attempt > 1) per call; the hedge budget is 5 % of hedged calls over 10 s')));
    s.figures.push(roundsInfoFigure(F.p999Event, 'ms', rv, v));
    s.figures.push(roundsInfoFigure(F.p50Event, 'ms', rv, v));
    s.figures.push(roundsInfoFigure(F.p50, 'ms', rv, v));
    s.figures.push(roundsInfoFigure(F.p99, 'ms', rv, v));
    s.figures.push(roundsInfoFigure(F.share, '%', rv, v, `its capacity share during the event is ${round(capShare * 100, 2)} %`));
    s.figures.push(bandFigure(F.shareVsCap, 'x', rv, v, 0.8, 1.2, 'within 20 % of its capacity share'));
    s.figures.push(roundsInfoFigure(F.slowUtil, '%', rv, v));
    s.figures.push(roundsInfoFigure(F.slowQueueP99, 'ms', rv, v));
    s.figures.push(roundsInfoFigure(F.slowQueueMax, 'ms', rv, v));
    s.figures.push(roundsInfoFigure(F.hottestHealthyUtil, '%', rv, v));
    s.figures.push(roundsInfoFigure(F.failed, 'calls', rv, v, 'a pod answers RESOURCE_EXHAUSTED beyond 64 waiting calls'));
    s.details['rounds'] = rv.toJSON();
    s.notes.push(
      `the event: pod ${slow.id} (zone ${slow.zone}) keeps 1/3 of its capacity for ${eventMs} ms; the oracle is round_robin over the 8 other pods for the whole run`,
    );
    s.notes.push('pick_first is not run: at 70 % fleet utilization its one pod would get 6.3x its capacity (B2 and B4 show it)');
    s.notes.push("latency from each call's intended send time (open loop); pod figures from the pods themselves (utilization = busy slot-time / slots x time)");
    return s;
  } finally {
    for (const hp of proxies) await hp.stop();
    await killEndpoints(endpoints);
  }
}
