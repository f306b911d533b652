/**
 * B3 zones: 3 zones x 3 endpoints, the client in zone a, 1 ms extra for cross-zone calls. Open loop.
 * Phase 1 healthy; phase 2 zone a 5x slower; phase 3 zone a killed, then back (new processes, same ports).
 * Goals: phase 1 in-zone >= 95 %; phase 2 p99 <= 1.2 x zone-blind Fairway; phase 3 no failed call beyond
 * those in flight at the kill; back in zone within 5 s of the return; no flapping (at most 2 zone-mode
 * changes in any 2 s window).
 */
import * as grpc from '@grpc/grpc-js';
import { address, killEndpoints, restartEndpoint, startEndpoints, staticTarget, type Endpoint } from '../lib/backends.js';
import { builtinClient, waitReady } from '../lib/baselines.js';
import { callOnce, EchoClient } from '../lib/echo.js';
import type { BenchContext } from '../lib/context.js';
import { loadFairway, PickRecorder } from '../lib/fairway.js';
import { openLoop, type CallRecord } from '../lib/load.js';
import { absoluteFigure, figureTable, infoFigure, newScenario, noteBroken, relativeFigure, type ScenarioResult } from '../lib/report.js';
import { failureCodes, failures, latency } from '../lib/stats.js';
import { sleep } from '../lib/procs.js';

const SERVICE_MS = 2;
const JITTER_MS = 0.5;
const SLOW_FACTOR = 5;
const CROSS_ZONE_MS = 1;

interface Phases {
  p1: number;
  p2: number;
  /** Kill at p2 end; return (restart begins) after returnAfterMs; the run ends tailMs after the return begins. */
  returnAfterMs: number;
  tailMs: number;
}

export async function runB3(ctx: BenchContext): Promise<ScenarioResult> {
  const s = newScenario('B3', 'zones: 3 x 3 endpoints, client in zone a; healthy, zone a 5x slower, zone a killed and back');
  const ratePerSec = ctx.quick ? 300 : 600;
  const ph: Phases = ctx.quick ? { p1: 2_000, p2: 2_000, returnAfterMs: 1_000, tailMs: 5_000 } : { p1: 6_000, p2: 6_000, returnAfterMs: 3_000, tailMs: 7_000 };
  const total = ph.p1 + ph.p2 + ph.returnAfterMs + ph.tailMs;
  s.params = { endpoints: 9, zones: 3, clientZone: 'a', serviceMs: SERVICE_MS, jitterMs: JITTER_MS, crossZoneMs: CROSS_ZONE_MS, slowFactor: SLOW_FACTOR, ratePerSec, phasesMs: ph, load: 'open loop' };
  const zones = ['a', 'b', 'c'];
  let endpoints: Endpoint[] = [];
  try {
    ctx.log('B3: starting 9 backend processes');
    endpoints = await startEndpoints(
      Array.from({ length: 9 }, (_, i) => ({ id: `b3-e${i}`, zone: zones[Math.floor(i / 3)]!, baseMs: SERVICE_MS, jitterMs: JITTER_MS, crossZoneMs: CROSS_ZONE_MS })),
    );
    const zoneOf = new Map(endpoints.map((e) => [e.id, e.zone]));
    const local = endpoints.filter((e) => e.zone === 'a');
    const fairway = await loadFairway();

    const variants: Array<{ name: string; make: (rec: PickRecorder) => grpc.Client | string }> = [
      {
        name: 'fairway',
        make: (rec) => (typeof fairway === 'string' ? fairway : fairway.createClient(EchoClient, staticTarget(endpoints), grpc.credentials.createInsecure(), { zone: 'a', observers: [rec] })),
      },
      {
        name: 'fairway_zone_blind',
        make: (rec) => (typeof fairway === 'string' ? fairway : fairway.createClient(EchoClient, staticTarget(endpoints), grpc.credentials.createInsecure(), { observers: [rec] })),
      },
      { name: 'round_robin', make: () => builtinClient('round_robin', endpoints.map(address)) },
      { name: 'pick_first', make: () => builtinClient('pick_first', endpoints.map(address)) },
    ];
    const fig = figureTable();
    for (const v of variants) {
      s.variants.push(v.name);
      const rec = new PickRecorder();
      const client = v.make(rec);
      if (typeof client === 'string') {
        s.notes.push(`${v.name} skipped: ${client}`);
        continue;
      }
      let killAt = ph.p1 + ph.p2;
      let returnedAt = Number.NaN;
      try {
        await waitReady(client);
        const call = (): ReturnType<typeof callOnce> => callOnce(client, 'a', 5_000);
        await openLoop({ ratePerSec, durationMs: 500, call });
        const r = await openLoop({
          ratePerSec,
          durationMs: total,
          call,
          onStart: (t0) => rec.reset(t0),
          onProgress: ctx.progress.phase(`B3 ${v.name}`),
          events: [
            { atMs: ph.p1, run: () => Promise.all(local.map((e) => e.proc.set({ baseMs: SERVICE_MS * SLOW_FACTOR, jitterMs: JITTER_MS * SLOW_FACTOR }))).then(() => undefined) },
            {
              atMs: ph.p1 + ph.p2,
              run: async (now) => {
                killAt = now();
                await Promise.all(local.map((e) => e.proc.kill()));
              },
            },
            {
              atMs: ph.p1 + ph.p2 + ph.returnAfterMs,
              run: async (now) => {
                await Promise.all(local.map((e) => restartEndpoint(e)));
                returnedAt = now();
              },
            },
          ],
        });
        ctx.progress.end();
        analyse(v.name, r.records, rec, v.name.startsWith('fairway'));
      } catch (e) {
        ctx.progress.end();
        noteBroken(s, v.name, e);
      } finally {
        client.close();
        // Make sure zone a is back and healthy (same ports) for the next variant.
        await restoreLocal(local);
        await sleep(300);
      }

      function analyse(name: string, records: CallRecord[], recorder: PickRecorder, hasModes: boolean): void {
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
        // Back in zone: the first 250 ms bin after the return with >= 95 % of its calls served in zone a.
        let back: number | null = null;
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
        if (hasModes) {
          fig.put('zone-mode changes, phase 1', name, recorder.modeChanges(...p1));
          fig.put('zone-mode changes, phase 2', name, recorder.modeChanges(...p2));
          fig.put('zone-mode changes, phase 3', name, recorder.modeChanges(p3[0], p3[1]));
          fig.put('most zone-mode changes in any 2 s', name, maxChangesInWindow(recorder, 2_000));
        } else {
          for (const f of ['zone-mode changes, phase 1', 'zone-mode changes, phase 2', 'zone-mode changes, phase 3', 'most zone-mode changes in any 2 s']) fig.put(f, name, null);
        }
        const modes: Record<string, number> = {};
        for (const p of recorder.picks) modes[p.zoneMode] = (modes[p.zoneMode] ?? 0) + 1;
        s.details[name] = {
          killAtMs: killAt,
          returnedAtMs: returnedAt,
          runEndMs: total,
          picksRecorded: recorder.picks.length,
          picksByZoneMode: modes,
          failureCodesSentAfterKill: failureCodes(records.filter((x) => x.sentMs >= killAt)),
          failureCodesBeforeKill: failureCodes(records.filter((x) => x.sentMs < killAt)),
          ...(hasModes ? { attemptsTimedOut: recorder.attemptsTimedOut } : {}),
        };
      }
    }
    s.figures.push(absoluteFigure('phase 1 in-zone share', '%', fig.get('phase 1 in-zone share'), '>=', 95));
    s.figures.push(infoFigure('phase 1 p99', 'ms', fig.get('phase 1 p99')));
    s.figures.push(infoFigure('phase 2 in-zone share', '%', fig.get('phase 2 in-zone share')));
    s.figures.push(relativeFigure('phase 2 p99', 'ms', fig.get('phase 2 p99'), '<=', 1.2, 'fairway_zone_blind'));
    s.figures.push(infoFigure('phase 3 p99', 'ms', fig.get('phase 3 p99')));
    s.figures.push(infoFigure('failed calls in flight at the kill', 'calls', fig.get('failed calls in flight at the kill')));
    s.figures.push(absoluteFigure('failed calls sent after the kill', 'calls', fig.get('failed calls sent after the kill'), '<=', 0));
    s.figures.push(absoluteFigure('time back in zone after the return', 'ms', fig.get('time back in zone after the return'), '<=', 5_000, 'first 250 ms bin after all 3 zone-a processes listen again with >= 95 % in zone; - = never within the run'));
    s.figures.push(infoFigure('phase 3 in-zone share after the return', '%', fig.get('phase 3 in-zone share after the return')));
    s.figures.push(infoFigure('zone-mode changes, phase 1', 'changes', fig.get('zone-mode changes, phase 1')));
    s.figures.push(infoFigure('zone-mode changes, phase 2', 'changes', fig.get('zone-mode changes, phase 2')));
    s.figures.push(infoFigure('zone-mode changes, phase 3', 'changes', fig.get('zone-mode changes, phase 3')));
    s.figures.push(absoluteFigure('most zone-mode changes in any 2 s', 'changes', fig.get('most zone-mode changes in any 2 s'), '<=', 2, 'flapping check (zone modes come from Fairway\'s pick explanations)'));
    s.notes.push('haproxy is not run in B3 (a sidecar with random(2) and no health checks is zone-blind like round_robin)');
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
    await e.proc.set({ baseMs: SERVICE_MS, jitterMs: JITTER_MS });
  }
}
