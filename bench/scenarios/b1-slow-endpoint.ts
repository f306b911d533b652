/**
 * B1 slow endpoint: 9 endpoints in 3 zones, 2 ms service time, one at 20 ms; open loop, 1,000 calls/s for
 * 15 s. Goal: Fairway p99 <= 1.25 x the oracle (round_robin over the 8 healthy); share sent to the slow one
 * <= 3 %. The client has no zone here (zone-blind, like every baseline): zones are B3's subject.
 */
import * as grpc from '@grpc/grpc-js';
import { address, killEndpoints, startEndpoints, staticTarget, type Endpoint } from '../lib/backends.js';
import { builtinClient, proxyClient, waitReady } from '../lib/baselines.js';
import { callOnce, EchoClient } from '../lib/echo.js';
import type { BenchContext } from '../lib/context.js';
import { loadFairway } from '../lib/fairway.js';
import { startHaproxy, type Haproxy } from '../lib/haproxy.js';
import { openLoop } from '../lib/load.js';
import { absoluteFigure, infoFigure, newScenario, noteBroken, relativeFigure, type ScenarioResult } from '../lib/report.js';
import { failures, latency, shares } from '../lib/stats.js';
import { sleep } from '../lib/procs.js';

export async function runB1(ctx: BenchContext): Promise<ScenarioResult> {
  const s = newScenario('B1', 'slow endpoint: 9 endpoints in 3 zones, one 10x slower');
  const ratePerSec = ctx.quick ? 300 : 1000;
  const durationMs = ctx.quick ? 3_000 : 15_000;
  const warmupMs = ctx.quick ? 500 : 1_000;
  // Before any variant: freshly started backends (and this process's grpc-js) run slow for a few seconds while
  // V8 compiles them, and whichever variant ran first paid for it (Fairway, first in the list, had a p99 2-3x
  // the oracle's, last, in one run and 1.25x in the next). A shared round_robin warm-up over every backend
  // gives each variant the same warm start; each still has its own warm-up below.
  const sharedWarmupMs = ctx.quick ? 1_000 : 4_000;
  const slowIndex = 4;
  s.params = { endpoints: 9, zones: 3, serviceMs: 2, slowMs: 20, ratePerSec, durationMs, warmupMs, sharedWarmupMs, load: 'open loop' };
  const zones = ['a', 'b', 'c'];
  let endpoints: Endpoint[] = [];
  let haproxy: Haproxy | undefined;
  try {
    ctx.log('B1: starting 9 backend processes');
    endpoints = await startEndpoints(
      Array.from({ length: 9 }, (_, i) => ({
        id: `b1-e${i}`,
        zone: zones[Math.floor(i / 3)]!,
        baseMs: i === slowIndex ? 20 : 2,
        jitterMs: 0,
        crossZoneMs: 0,
      })),
    );
    const slowId = endpoints[slowIndex]!.id;
    const all = endpoints.map(address);
    const healthy = endpoints.filter((_, i) => i !== slowIndex).map(address);

    type Maker = () => Promise<grpc.Client | string>;
    const makers: Array<[string, Maker]> = [];
    makers.push([
      'fairway',
      async () => {
        const f = await loadFairway();
        if (typeof f === 'string') return f;
        return f.createClient(EchoClient, staticTarget(endpoints), grpc.credentials.createInsecure(), {});
      },
    ]);
    makers.push(['pick_first', async () => builtinClient('pick_first', all)]);
    makers.push(['round_robin', async () => builtinClient('round_robin', all)]);
    makers.push([
      'haproxy',
      async () => {
        const hp = await startHaproxy(all);
        if (typeof hp === 'string') return hp;
        haproxy = hp;
        return proxyClient(hp.target);
      },
    ]);
    makers.push(['oracle', async () => builtinClient('round_robin', healthy)]);

    const values = {
      p50: {} as Record<string, number | null>,
      p99: {} as Record<string, number | null>,
      p999: {} as Record<string, number | null>,
      max: {} as Record<string, number | null>,
      slowShare: {} as Record<string, number | null>,
      failed: {} as Record<string, number | null>,
      topShare: {} as Record<string, number | null>,
    };
    const warm = builtinClient('round_robin', all);
    try {
      await waitReady(warm);
      await openLoop({ ratePerSec, durationMs: sharedWarmupMs, call: () => callOnce(warm, undefined, 5_000), onProgress: ctx.progress.phase('B1 shared warm-up') });
    } finally {
      ctx.progress.end();
      warm.close();
    }
    for (const [name, make] of makers) {
      const client = await make();
      s.variants.push(name);
      if (typeof client === 'string') {
        s.notes.push(`${name} skipped: ${client}`);
        for (const v of Object.values(values)) v[name] = null;
        continue;
      }
      try {
        await waitReady(client);
        const call = (): ReturnType<typeof callOnce> => callOnce(client, undefined, 5_000);
        await openLoop({ ratePerSec, durationMs: warmupMs, call, onProgress: ctx.progress.phase(`B1 ${name} warm-up`) });
        const r = await openLoop({ ratePerSec, durationMs, call, onProgress: ctx.progress.phase(`B1 ${name}`) });
        ctx.progress.end();
        const lat = latency(r.records);
        const sh = shares(r.records);
        values.p50[name] = lat.p50;
        values.p99[name] = lat.p99;
        values.p999[name] = lat.p999;
        values.max[name] = lat.max;
        values.slowShare[name] = (sh.get(slowId) ?? 0) * 100;
        values.failed[name] = failures(r.records);
        values.topShare[name] = Math.max(0, ...sh.values()) * 100;
        s.details[name] = { latency: lat, shares: Object.fromEntries([...sh].map(([k, v]) => [k, Math.round(v * 10000) / 100])), calls: r.records.length };
      } catch (e) {
        ctx.progress.end();
        noteBroken(s, name, e);
      } finally {
        client.close();
        if (name === 'haproxy' && haproxy) {
          await haproxy.stop();
          haproxy = undefined;
        }
        await sleep(200);
      }
    }
    s.figures.push(infoFigure('p50 latency', 'ms', values.p50));
    s.figures.push(relativeFigure('p99 latency', 'ms', values.p99, '<=', 1.25, 'oracle'));
    s.figures.push(infoFigure('p99.9 latency', 'ms', values.p999));
    s.figures.push(infoFigure('max latency', 'ms', values.max));
    s.figures.push(absoluteFigure('share sent to the slow one', '%', values.slowShare, '<=', 3));
    s.figures.push(infoFigure('busiest endpoint share', '%', values.topShare));
    s.figures.push(infoFigure('failed calls', 'calls', values.failed));
    s.notes.push(
      'latency is measured from each call\'s intended send time (open loop); pick_first sends every call to the first address, which here is a healthy one',
    );
    return s;
  } finally {
    await haproxy?.stop();
    await killEndpoints(endpoints);
  }
}
