/**
 * B3 zones: 3 zones x 3 pods (2 slots, log-normal service time around 4 ms), the client in zone a, 1 ms extra
 * for cross-zone calls. Open loop at a rate zone a alone serves at 16 % utilization.
 * Phase 1 healthy; phase 2 zone a 5x slower (its pods keep 1/5 of their capacity: a zone that keeps all the
 * traffic runs at 80 % utilization with a 20 ms service time, while a remote pod answers in 4 + 1 ms);
 * phase 3 zone a killed, then back (new processes on the same ports: a `static:` target knows only those).
 * Goals: phase 1 in-zone >= 95 %; phase 2 p99 <= 1.2 x zone-blind Fairway (counted when the gap between a
 * client pinned to zone a and zone-blind Fairway is >= 5x the spread); phase 3 no failed call beyond those
 * in flight at the kill; >= 95 % back in zone within 5 s of the return; no flapping (at most 2 zone-mode
 * changes in any 2 s window). Variants run in interleaved rounds.
 */
import * as grpc from '@grpc/grpc-js';
import { address, killEndpoints, podCapacityPerSec, restartEndpoint, startEndpoints, staticTarget, type Endpoint, type PodSpec } from '../lib/backends.js';
import { builtinClient, waitReady } from '../lib/baselines.js';
import { callOnce, EchoClient } from '../lib/echo.js';
import type { BenchContext } from '../lib/context.js';
import { loadFairway, PickRecorder } from '../lib/fairway.js';
import { openLoop, type CallRecord } from '../lib/load.js';
import { gatedRelativeFigure, newScenario, noteBroken, roundsAbsoluteFigure, roundsInfoFigure, type ScenarioResult } from '../lib/report.js';
import { interleave, RoundValues } from '../lib/rounds.js';
import { failureCodes, failures, latency } from '../lib/stats.js';
import { podStats, resetPodStats, seedPods } from '../lib/fleet.js';
import { sleep } from '../lib/procs.js';

const POD: PodSpec = { slots: 2, serviceTime: { kind: 'lognormal', meanMs: 4, sigma: 0.5 }, queueBound: 64 };
const SLOW_FACTOR = 5;
const CROSS_ZONE_MS = 1;
/** Zone a's three pods serve 1,500 calls/s; at 1/5 capacity 300/s, so this rate is 80 % of the slowed zone. */
const RATE_PER_SEC = 240;

interface Phases {
  p1: number;
  p2: number;
  /** Kill at p2 end; return (restart begins) after returnAfterMs; the run ends tailMs after the return begins. */
  returnAfterMs: number;
  tailMs: number;
}

export async function runB3(ctx: BenchContext): Promise<ScenarioResult> {
  const s = newScenario('B3', 'zones: 3 x 3 endpoints, client in zone a; healthy, zone a 5x slower, zone a killed and back');
  const ratePerSec = RATE_PER_SEC;
  const rounds = ctx.quick ? 2 : 3;
  // Phase 2 lasts 20 s (4,800 calls): its p99 is the ~48th slowest call, and the calls sent to zone a before
  // Fairway leaves it (0.27-0.63 s of them, ~65-150 calls at the slowed zone's latency) decide it. At 3.5 s
  // (~8 calls above the p99) the rounds' spread was a third of the gap the goal needs; at 10 s (~24) a round
  // that left at 0.63 s instead of 0.27 still put the spread at a quarter of the gap (4.43x, full run of
  // 2026-12-06 03:24): over a longer phase the same late exit moves the p99 less.
  const ph: Phases = ctx.quick ? { p1: 1_000, p2: 1_500, returnAfterMs: 1_000, tailMs: 2_500 } : { p1: 3_000, p2: 20_000, returnAfterMs: 2_000, tailMs: 5_500 };
  const total = ph.p1 + ph.p2 + ph.returnAfterMs + ph.tailMs;
  const localCapacity = 3 * podCapacityPerSec(POD);
  s.params = {
    seed: ctx.seed,
    pods: 9,
    zones: 3,
    clientZone: 'a',
    pod: POD,
    crossZoneMs: CROSS_ZONE_MS,
    slowFactor: SLOW_FACTOR,
    ratePerSec,
    zoneAUtilizationIfAllLocal: { healthy: Math.round((ratePerSec / localCapacity) * 100) / 100, slowed: Math.round((ratePerSec / (localCapacity / SLOW_FACTOR)) * 100) / 100 },
    phasesMs: ph,
    rounds,
    sharedWarmUp: ctx.quick ? '0.5 s round_robin over all 9 pods at 3x the rate' : '2 s round_robin over all 9 pods at 3x the rate',
    load: 'open loop',
  };
  const zones = ['a', 'b', 'c'];
  let endpoints: Endpoint[] = [];
  try {
    ctx.log('B3: starting 9 backend processes');
    endpoints = await startEndpoints(
      Array.from({ length: 9 }, (_, i) => ({ id: `b3-p${i}`, zone: zones[Math.floor(i / 3)]!, pod: POD, crossZoneMs: CROSS_ZONE_MS })),
    );
    const zoneOf = new Map(endpoints.map((e) => [e.id, e.zone]));
    const local = endpoints.filter((e) => e.zone === 'a');
    const fairway = await loadFairway();

    const variants: Array<{ name: string; make: (rec: PickRecorder) => grpc.Client | string }> = [
      {
        name: 'fairway',
        make: (rec) => (typeof fairway === 'string' ? fairway : fairway.createClient(EchoClient, staticTarget(endpoints), grpc.credentials.createInsecure(), { zone: 'a', observers: [rec], logger: rec.logger })),
      },
      {
        name: 'fairway_zone_blind',
        make: (rec) => (typeof fairway === 'string' ? fairway : fairway.createClient(EchoClient, staticTarget(endpoints), grpc.credentials.createInsecure(), { observers: [rec], logger: rec.logger })),
      },
      { name: 'round_robin', make: () => builtinClient('round_robin', endpoints.map(address)) },
      // What a client pinned to its own zone does (topology-aware routing without a cost check).
      { name: 'round_robin_zone_a', make: () => builtinClient('round_robin', local.map(address)) },
    ];
    s.variants = variants.map((v) => v.name);
    // Freshly started pods run slow for a few seconds while V8 compiles them. The first variant of round 1
    // used to meet them cold: a zone-aware client knows zones b and c only from its zone probes, one a second,
    // so their first answers (8-10 ms against 4.6-5.9 warm) kept its estimate of them inflated for seconds and
    // it left the slowed zone a 4.5 s late (measured). A shared warm-up gives every variant warm pods.
    const warm = builtinClient('round_robin', endpoints.map(address));
    try {
      await waitReady(warm);
      await openLoop({ ratePerSec: 3 * ratePerSec, durationMs: ctx.quick ? 500 : 2_000, call: () => callOnce(warm, 'a', 5_000), onProgress: ctx.progress.phase('B3 shared warm-up') });
    } finally {
      ctx.progress.end();
      warm.close();
    }
    const fig = new RoundValues();
    const skipped = new Set<string>();
    await interleave(variants, rounds, async (v, roundNo) => {
      if (skipped.has(v.name)) return;
      const rec = new PickRecorder();
      const client = v.make(rec);
      if (typeof client === 'string') {
        skipped.add(v.name);
        s.notes.push(`${v.name} skipped: ${client}`);
        return;
      }
      let killAt = ph.p1 + ph.p2;
      let slowedAt = ph.p1;
      let returnedAt = Number.NaN;
      let zoneAUtil: number | null = null;
      try {
        await waitReady(client);
        const call = (): ReturnType<typeof callOnce> => callOnce(client, 'a', 5_000);
        await seedPods(endpoints, `${ctx.seed}/B3/warm-up`);
        await openLoop({ ratePerSec, durationMs: 500, call });
        await seedPods(endpoints, `${ctx.seed}/B3`);
        const r = await openLoop({
          ratePerSec,
          durationMs: total,
          call,
          onStart: (t0) => rec.reset(t0),
          onProgress: ctx.progress.phase(`B3 ${v.name} round ${roundNo + 1}`),
          events: [
            {
              atMs: ph.p1,
              run: async (now) => {
                await Promise.all(local.map((e) => e.proc.setCapacity(1 / SLOW_FACTOR)));
                slowedAt = now(); // every zone-a pod is slow from here
                await resetPodStats(local);
              },
            },
            {
              atMs: ph.p1 + ph.p2,
              run: async (now) => {
                const st = await podStats(local).catch(() => undefined);
                const utils = st ? [...st.values()].map((x) => x.utilization * 100) : [];
                zoneAUtil = utils.length === 3 ? utils.reduce((a, b) => a + b, 0) / 3 : null;
                killAt = now();
                await Promise.all(local.map((e) => e.proc.kill()));
              },
            },
            {
              atMs: ph.p1 + ph.p2 + ph.returnAfterMs,
              run: async (now) => {
                await Promise.all(local.map((e) => restartEndpoint(e)));
                returnedAt = now();
                await seedPods(local, `${ctx.seed}/B3/return`);
              },
            },
          ],
        });
        ctx.progress.end();
        analyse(v.name, r.records, rec, v.name.startsWith('fairway'), roundNo);
      } finally {
        client.close();
        // Make sure zone a is back and healthy (same ports) for the next variant.
        await restoreLocal(local);
        await sleep(300);
      }

      function analyse(name: string, records: CallRecord[], recorder: PickRecorder, hasModes: boolean, roundNo: number): void {
        const inZone = (r: CallRecord): boolean => zoneOf.get(r.backend) === 'a';
        const share = (from: number, to: number): number | null => {
          let n = 0;
          let z = 0;
          for (const x of records) {
            if (x.code !== 0 || x.intendedMs < from || x.intendedMs >= to) continue;
            n++;
            if (inZone(x)) z++;
          }
          return n === 0 ? null : (z / n) * 100;
        };
        const p1 = [0, ph.p1] as const;
        const p2 = [ph.p1, ph.p1 + ph.p2] as const;
        const p3 = [killAt, total + 1] as const;
        fig.put('phase 1 in-zone share', name, share(...p1));
        fig.put('phase 2 in-zone share', name, share(...p2));
        fig.put('phase 3 in-zone share after the return', name, Number.isNaN(returnedAt) ? null : share(returnedAt, total + 1));
        const p99 = (from: number, to: number): number | null => {
          const l = latency(records, (x) => x.intendedMs >= from && x.intendedMs < to);
          return l.count === 0 ? null : l.p99;
        };
        fig.put('phase 1 p99', name, p99(...p1));
        fig.put('phase 2 p99', name, p99(...p2));
        fig.put('phase 3 p99', name, p99(...p3));
        fig.put('failed calls sent after the kill', name, failures(records, (x) => x.sentMs >= killAt));
        fig.put('failed calls in flight at the kill', name, failures(records, (x) => x.sentMs < killAt));
        // When the failed calls sent after the kill left: within the few ms between SIGKILL and the client reading
        // the connections' end, a call is written to a pod that is dying or dead (see the README, "Transparent
        // re-picks"); later than that, a failure would be a routing fault.
        let lastFailedSendMs: number | null = null;
        for (const x of records) if (x.code !== 0 && x.sentMs >= killAt) lastFailedSendMs = Math.max(lastFailedSendMs ?? 0, x.sentMs - killAt);
        fig.put('latest send of a failed call, after the kill', name, lastFailedSendMs ?? 0);
        fig.put('phase 2 zone a utilization', name, zoneAUtil);
        // Back in zone: the first 250 ms bin after the return with >= 95 % of its calls served in zone a;
        // never within the run: infinite (the goal is missed), and counted in its own row.
        let back: number | null = Number.isNaN(returnedAt) ? null : Number.POSITIVE_INFINITY;
        if (!Number.isNaN(returnedAt)) {
          for (let t = returnedAt; t + 250 <= total; t += 250) {
            const sh = share(t, t + 250);
            if (sh !== null && sh >= 95) {
              back = t + 250 - returnedAt;
              break;
            }
          }
        }
        fig.put('time back in zone after the return', name, back);
        fig.put('rounds not back in zone by the end', name, back === Number.POSITIVE_INFINITY ? 1 : 0);
        if (hasModes) {
          fig.put('zone-mode changes, phase 1', name, recorder.modeChanges(...p1));
          fig.put('zone-mode changes, phase 2', name, recorder.modeChanges(...p2));
          fig.put('zone-mode changes, phase 3', name, recorder.modeChanges(p3[0], p3[1]));
          fig.put('most zone-mode changes in any 2 s', name, maxChangesInWindow(recorder, 2_000));
          // How long the slowed zone kept every call: Fairway's own log says when it spilled, and why.
          const left = recorder.zoneModeLog.find((l) => l.atMs >= slowedAt && l.atMs < killAt && l.line.includes('-> spill'));
          fig.put('phase 2 time to leave zone a', name, name === 'fairway' ? (left === undefined ? Number.POSITIVE_INFINITY : left.atMs - slowedAt) : null);
        } else {
          for (const f of ['phase 2 time to leave zone a', 'zone-mode changes, phase 1', 'zone-mode changes, phase 2', 'zone-mode changes, phase 3', 'most zone-mode changes in any 2 s']) fig.put(f, name, null);
        }
        const modes: Record<string, number> = {};
        for (const p of recorder.picks) modes[p.zoneMode] = (modes[p.zoneMode] ?? 0) + 1;
        s.details[`${name} round ${roundNo + 1}`] = {
          killAtMs: killAt,
          returnedAtMs: returnedAt,
          runEndMs: total,
          picksRecorded: recorder.picks.length,
          picksByZoneMode: modes,
          failureCodesSentAfterKill: failureCodes(records.filter((x) => x.sentMs >= killAt)),
          failureCodesBeforeKill: failureCodes(records.filter((x) => x.sentMs < killAt)),
          ...(hasModes ? { attemptsTimedOut: recorder.attemptsTimedOut, slowedAtMs: slowedAt, zoneModeLog: recorder.zoneModeLog.map((l) => `${l.atMs.toFixed(0)} ms: ${l.line}`) } : {}),
        };
      }
    }, (v, roundNo, e) => {
      ctx.progress.end();
      noteBroken(s, `${v.name} (round ${roundNo + 1})`, e);
    });
    const vs = s.variants;
    s.figures.push(roundsAbsoluteFigure('phase 1 in-zone share', '%', fig, vs, '>=', 95));
    s.figures.push(roundsInfoFigure('phase 1 p99', 'ms', fig, vs));
    s.figures.push(roundsInfoFigure('phase 2 in-zone share', '%', fig, vs));
    s.figures.push(gatedRelativeFigure('phase 2 p99', 'ms', fig, vs, '<=', 1.2, 'fairway_zone_blind', ['round_robin_zone_a', 'fairway_zone_blind']));
    s.figures.push(roundsInfoFigure('phase 2 time to leave zone a', 'ms', fig, vs, 'from the moment every zone-a pod is slow to Fairway\'s switch to spill (its log line; the reason is in the details)'));
    s.figures.push(roundsInfoFigure('phase 2 zone a utilization', '%', fig, vs, 'mean of the 3 zone-a pods over phase 2 (their capacity is 1/5 then)'));
    s.figures.push(roundsInfoFigure('phase 3 p99', 'ms', fig, vs));
    s.figures.push(roundsInfoFigure('failed calls in flight at the kill', 'calls', fig, vs));
    s.figures.push(roundsAbsoluteFigure('failed calls sent after the kill', 'calls', fig, vs, '<=', 0));
    s.figures.push(roundsInfoFigure('latest send of a failed call, after the kill', 'ms', fig, vs, '0 when none failed; the time from the SIGKILL to the last send of a call that failed'));
    s.figures.push(roundsAbsoluteFigure('time back in zone after the return', 'ms', fig, vs, '<=', 5_000, 'first 250 ms bin after all 3 zone-a processes listen again with >= 95 % in zone; never = not within the run'));
    s.figures.push(roundsInfoFigure('rounds not back in zone by the end', 'rounds', fig, vs));
    s.figures.push(roundsInfoFigure('phase 3 in-zone share after the return', '%', fig, vs));
    s.figures.push(roundsInfoFigure('zone-mode changes, phase 1', 'changes', fig, vs));
    s.figures.push(roundsInfoFigure('zone-mode changes, phase 2', 'changes', fig, vs));
    s.figures.push(roundsInfoFigure('zone-mode changes, phase 3', 'changes', fig, vs));
    s.figures.push(roundsAbsoluteFigure('most zone-mode changes in any 2 s', 'changes', fig, vs, '<=', 2, 'flapping check (zone modes come from Fairway\'s pick explanations)'));
    s.details['rounds'] = fig.toJSON();
    s.notes.push('haproxy is not run in B3 (a sidecar with random(2) and no health checks is zone-blind like round_robin); round_robin_zone_a is a client pinned to its zone (it fails every call while zone a is down)');
    s.notes.push('every variant\'s calls come from zone a (cross-zone calls pay 1 ms); latency from the intended send time; phase boundaries by intended send time');
    return s;
  } finally {
    await killEndpoints(endpoints);
  }
}

/** Most zone-mode changes inside any window of `windowMs`. */
function maxChangesInWindow(rec: PickRecorder, windowMs: number): number {
  const changes: number[] = [];
  let last: string | undefined;
  for (const p of rec.picks) {
    if (last !== undefined && p.zoneMode !== last) changes.push(p.atMs);
    last = p.zoneMode;
  }
  let best = 0;
  let j = 0;
  for (let i = 0; i < changes.length; i++) {
    while (changes[i]! - changes[j]! > windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

/** Zone a healthy again (restarted if killed, service time back to normal). */
async function restoreLocal(local: Endpoint[]): Promise<void> {
  for (const e of local) {
    if (!e.proc.alive) await restartEndpoint(e);
    await e.proc.setCapacity(1);
  }
}
