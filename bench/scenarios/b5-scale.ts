/**
 * B5 scale: the pure core (compiled JavaScript, in this process), no network.
 * - pick ns/op at 10, 100 and 1,000 READY endpoints (picks timed in batches of 64, releases timed apart);
 * - one-endpoint update of a 1,000 set (`update` takes the full list: one endpoint out, one in), ms/update;
 * - bytes per endpoint of balancer state (heap difference, with --expose-gc);
 * - pick by key (affinity with bounded load) and a pick with subsetting (a window of 24), at 1,000 endpoints.
 * Baseline: a plain p2c pick over an array (two distinct random indexes, cost = rtt x (inFlight + 1)).
 * Goals: pick <= 250 ns; update <= 1 ms; state <= 2 KiB per endpoint.
 */
import type { Balancer, BalancerOptions, EndpointInfo, PickHandle } from '@fairway/core';
import { performance } from 'node:perf_hooks';
import type { BenchContext } from '../lib/context.js';
import { loadExport } from '../lib/fairway.js';
import { absoluteFigure, infoFigure, newScenario, type ScenarioResult } from '../lib/report.js';
import { median } from '../lib/stats.js';

type BalancerCtor = new (options?: BalancerOptions) => Balancer;

const BATCH = 64;

const BASE_START_MS = 1_764_032_400_000;

function endpointList(n: number, zones = ['a', 'b', 'c']): EndpointInfo[] {
  return Array.from({ length: n }, (_, i) => ({
    address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:50051`,
    zone: zones[i % zones.length]!,
    instance: `pod-${i}`,
    incarnation: `${BASE_START_MS}-${i}`,
  }));
}

/** `base` with pod-0 replaced by its generation-th newer incarnation on another port. */
function withNewIncarnation(base: readonly EndpointInfo[], generation: number): EndpointInfo[] {
  const out = base.slice();
  out[0] = { address: `10.0.0.0:${50052 + (generation % 2)}`, zone: base[0]!.zone!, instance: 'pod-0', incarnation: `${BASE_START_MS + generation}-0` };
  return out;
}

/** A balancer with n READY endpoints that have all answered (warm estimates). */
function warmBalancer(Ctor: BalancerCtor, n: number, options: BalancerOptions, clock: { t: number }): Balancer {
  const b = new Ctor(options);
  const list = endpointList(n);
  b.update(list, clock.t);
  for (const r of b.snapshot(clock.t)) b.setReady(r.key, true, clock.t);
  for (let i = 0; i < n * 4; i++) {
    clock.t += 0.05;
    const h = b.pick(clock.t, Math.random);
    h?.release({ kind: 'success', latencyMs: 2 + Math.random() }, clock.t + 2);
  }
  return b;
}

interface PickTiming {
  /** CPU ns per pick (the CPU time of the run, split by the wall-time share of picks vs releases). */
  pickNs: number;
  releaseNs: number;
  /** Wall-clock ns per pick and per release (inflated when other processes share the cores). */
  pickWallNs: number;
  releaseWallNs: number;
}

/** Splits the CPU time of a run between picks and releases in proportion to their wall time. */
function split(cpu: NodeJS.CpuUsage, pickMs: number, releaseMs: number, n: number): PickTiming {
  const cpuNs = (cpu.user + cpu.system) * 1000;
  const share = pickMs + releaseMs > 0 ? pickMs / (pickMs + releaseMs) : 0.5;
  return { pickNs: (cpuNs * share) / n, releaseNs: (cpuNs * (1 - share)) / n, pickWallNs: (pickMs * 1e6) / n, releaseWallNs: (releaseMs * 1e6) / n };
}

/** Times `ops` picks (batches of 64, then their releases, timed apart). */
function timePicks(b: Balancer, ops: number, clock: { t: number }): PickTiming {
  const handles: (PickHandle | undefined)[] = new Array(BATCH);
  let pickMs = 0;
  let releaseMs = 0;
  const batches = Math.ceil(ops / BATCH);
  const random = Math.random;
  const cpu0 = process.cpuUsage();
  for (let k = 0; k < batches; k++) {
    const t0 = performance.now();
    for (let i = 0; i < BATCH; i++) {
      clock.t += 0.001;
      handles[i] = b.pick(clock.t, random);
    }
    const t1 = performance.now();
    for (let i = 0; i < BATCH; i++) handles[i]?.release({ kind: 'success', latencyMs: 2 }, clock.t);
    releaseMs += performance.now() - t1;
    pickMs += t1 - t0;
  }
  return split(process.cpuUsage(cpu0), pickMs, releaseMs, batches * BATCH);
}

/** The reference: a plain p2c over an array, nothing else. */
interface PlainEndpoint {
  inFlight: number;
  rttMs: number;
}
function timePlainP2c(n: number, ops: number): PickTiming {
  const eps: PlainEndpoint[] = Array.from({ length: n }, () => ({ inFlight: 0, rttMs: 2 + Math.random() }));
  const chosen: PlainEndpoint[] = new Array(BATCH);
  let pickMs = 0;
  let releaseMs = 0;
  const batches = Math.ceil(ops / BATCH);
  const cpu0 = process.cpuUsage();
  for (let k = 0; k < batches; k++) {
    const t0 = performance.now();
    for (let i = 0; i < BATCH; i++) {
      const a = Math.floor(Math.random() * n);
      let c = Math.floor(Math.random() * (n - 1));
      if (c >= a) c++;
      const ea = eps[a]!;
      const ec = eps[c]!;
      const e = ea.rttMs * (ea.inFlight + 1) <= ec.rttMs * (ec.inFlight + 1) ? ea : ec;
      e.inFlight++;
      chosen[i] = e;
    }
    const t1 = performance.now();
    for (let i = 0; i < BATCH; i++) {
      const e = chosen[i]!;
      e.inFlight--;
      e.rttMs = e.rttMs * 0.9 + 2 * 0.1;
    }
    releaseMs += performance.now() - t1;
    pickMs += t1 - t0;
  }
  return split(process.cpuUsage(cpu0), pickMs, releaseMs, batches * BATCH);
}

const SETS = 10;

/** Heap bytes per endpoint of SETS balancers of 1,000 endpoints, and of a plain per-endpoint record. */
function measureStateBytes(Ctor: BalancerCtor, clock: { t: number }): { fairway: number; plain: number } {
  const lists = Array.from({ length: SETS }, (_, k) => endpointList(1000).map((e) => ({ ...e, address: `${k}.${e.address}` })));
  const heap = (): number => {
    gc();
    return process.memoryUsage().heapUsed;
  };
  const h0 = heap();
  const balancers = lists.map((list) => {
    const b = new Ctor({ clientZone: 'a' });
    b.update(list, clock.t);
    for (const row of b.snapshot(clock.t)) b.setReady(row.key, true, clock.t);
    for (let i = 0; i < 5_000; i++) {
      clock.t += 0.05;
      b.pick(clock.t, Math.random)?.release({ kind: 'success', latencyMs: 2 }, clock.t + 2);
    }
    return b;
  });
  const h1 = heap();
  const plain = lists.map((list) => list.map((e) => ({ key: e.address, info: e, inFlight: 0, rttMs: 2, atMs: 0 })));
  const h2 = heap();
  if (balancers.some((b) => b.size !== 1000) || plain.length !== SETS) throw new Error('B5 memory: a balancer lost endpoints');
  return { fairway: (h1 - h0) / (SETS * 1000), plain: (h2 - h1) / (SETS * 1000) };
}

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
}

export async function runB5(ctx: BenchContext): Promise<ScenarioResult> {
  const s = newScenario('B5', 'scale: the pure core at 10, 100 and 1,000 endpoints (compiled JS)');
  const Ctor = await loadExport<BalancerCtor>('@fairway/core', 'Balancer');
  const sizes = [10, 100, 1000];
  const ops = ctx.quick ? 200_000 : 2_000_000;
  const reps = ctx.quick ? 3 : 5;
  const updates = ctx.quick ? 200 : 1_000;
  s.params = { sizes, picksPerRep: ops, reps, updatesTimed: updates, gcExposed: typeof (globalThis as { gc?: unknown }).gc === 'function' };
  if (typeof Ctor === 'string') {
    s.status = 'skipped';
    s.reason = Ctor;
    return s;
  }
  s.variants = ['fairway', 'plain_p2c'];
  const clock = { t: 1_000 };
  const progress = ctx.progress.phase('B5 picks');
  const steps = sizes.length * 2 + 2;
  let step = 0;
  for (const n of sizes) {
    const b = warmBalancer(Ctor, n, {}, clock);
    timePicks(b, Math.min(ops, 100_000), clock); // JIT warm-up
    const runs: PickTiming[] = [];
    for (let r = 0; r < reps; r++) runs.push(timePicks(b, ops, clock));
    const plain: PickTiming[] = [];
    timePlainP2c(n, 100_000);
    for (let r = 0; r < reps; r++) plain.push(timePlainP2c(n, ops));
    progress(++step / steps);
    const pick = median(runs.map((x) => x.pickNs));
    const plainPick = median(plain.map((x) => x.pickNs));
    s.figures.push(absoluteFigure(`pick, ${n} endpoints`, 'ns/op', { fairway: pick, plain_p2c: plainPick }, '<=', 250));
    s.figures.push(
      infoFigure(`release (records latency), ${n} endpoints`, 'ns/op', {
        fairway: median(runs.map((x) => x.releaseNs)),
        plain_p2c: median(plain.map((x) => x.releaseNs)),
      }),
    );
    s.details[`n${n}`] = { fairway: runs, plain_p2c: plain };
    // Zone-aware: the client in zone a of 3 zones.
    const bz = warmBalancer(Ctor, n, { clientZone: 'a' }, clock);
    timePicks(bz, Math.min(ops, 100_000), clock);
    const zr: PickTiming[] = [];
    for (let r = 0; r < reps; r++) zr.push(timePicks(bz, ops, clock));
    progress(++step / steps);
    s.figures.push(infoFigure(`pick, zone-aware (client in 1 of 3 zones), ${n} endpoints`, 'ns/op', { fairway: median(zr.map((x) => x.pickNs)), plain_p2c: null }));
  }

  // Affinity (pickByKey, consistent hashing with bounded load) and subsetting at 1,000 endpoints.
  {
    const b = warmBalancer(Ctor, 1000, {}, clock);
    const keys = Array.from({ length: 10_000 }, (_, i) => `player-${i}`);
    const byKey = (n: number): PickTiming => {
      const handles: (PickHandle | undefined)[] = new Array(BATCH);
      let pickMs = 0;
      let releaseMs = 0;
      const batches = Math.ceil(n / BATCH);
      const cpu0 = process.cpuUsage();
      let k = 0;
      for (let j = 0; j < batches; j++) {
        const t0 = performance.now();
        for (let i = 0; i < BATCH; i++) {
          clock.t += 0.001;
          handles[i] = b.pickByKey(keys[(k = (k + 7919) % keys.length)]!, clock.t);
        }
        const t1 = performance.now();
        for (let i = 0; i < BATCH; i++) handles[i]?.release({ kind: 'success', latencyMs: 2 }, clock.t);
        releaseMs += performance.now() - t1;
        pickMs += t1 - t0;
      }
      return split(process.cpuUsage(cpu0), pickMs, releaseMs, batches * BATCH);
    };
    byKey(Math.min(ops, 100_000)); // builds the ring once, then JIT warm-up
    const runs: PickTiming[] = [];
    for (let r = 0; r < reps; r++) runs.push(byKey(ops));
    s.figures.push(absoluteFigure('pick by key (affinity, bounded load), 1,000 endpoints', 'ns/op', { fairway: median(runs.map((x) => x.pickNs)), plain_p2c: null }, '<=', 250));
    // Subsetting: the balancer holds only this client's window (24 of 1,000), so a pick is a pick over 24; the
    // window itself is computed when the set changes (timed as an update cost, not per pick).
    const aperture = await loadExport<(i: { clientIndex: number; clientCount: number; endpointKeys: readonly string[]; size: number }) => string[]>('@fairway/core', 'deterministicAperture');
    if (typeof aperture !== 'string') {
      const all = endpointList(1000);
      const window = new Set(aperture({ clientIndex: 17, clientCount: 300, endpointKeys: all.map((e) => e.instance!), size: 24 }));
      const sub = new Ctor({});
      sub.update(all.filter((e) => window.has(e.instance!)), clock.t);
      for (const r of sub.snapshot(clock.t)) sub.setReady(r.key, true, clock.t);
      timePicks(sub, Math.min(ops, 100_000), clock);
      const sr: PickTiming[] = [];
      for (let r = 0; r < reps; r++) sr.push(timePicks(sub, ops, clock));
      s.figures.push(absoluteFigure('pick with subsetting (window of 24 of 1,000)', 'ns/op', { fairway: median(sr.map((x) => x.pickNs)), plain_p2c: null }, '<=', 250));
      const wt: number[] = [];
      for (let r = 0; r < 50; r++) {
        const c0 = process.cpuUsage();
        aperture({ clientIndex: r, clientCount: 300, endpointKeys: all.map((e) => e.instance!), size: 24 });
        const c = process.cpuUsage(c0);
        wt.push((c.user + c.system) / 1000);
      }
      s.figures.push(infoFigure('subset window of 1,000 endpoints, computed on a set change (median, CPU)', 'ms', { fairway: median(wt), plain_p2c: null }));
    }
  }

  // One-endpoint update of a 1,000 set: each update carries a newer incarnation of pod-0 on another port
  // (the rolling-deploy case), so it removes one endpoint and adds one.
  {
    const b = warmBalancer(Ctor, 1000, {}, clock);
    const base = endpointList(1000);
    let generation = 0;
    for (let i = 0; i < 50; i++) b.update(withNewIncarnation(base, ++generation), (clock.t += 1));
    const times: number[] = [];
    const wall: number[] = [];
    for (let i = 0; i < updates; i++) {
      const list = withNewIncarnation(base, ++generation);
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const res = b.update(list, (clock.t += 1));
      const c = process.cpuUsage(c0);
      wall.push(performance.now() - t0);
      times.push((c.user + c.system) / 1000);
      if (i === 0 && (res.added.length !== 1 || res.removed.length !== 1)) {
        s.notes.push(`update changed ${res.added.length} added / ${res.removed.length} removed (expected 1 / 1)`);
      }
      // The new endpoint becomes READY, as grpc-js would report.
      for (const k of res.added) b.setReady(k, true, clock.t);
    }
    progress(++step / steps);
    // Reference: building a fresh Map of 1,000 endpoints keyed by address (what any full-list update costs at least).
    const ref: number[] = [];
    for (let i = 0; i < updates; i++) {
      const list = withNewIncarnation(base, ++generation);
      const c0 = process.cpuUsage();
      const m = new Map<string, EndpointInfo>();
      for (const e of list) m.set(e.address, e);
      const c = process.cpuUsage(c0);
      ref.push((c.user + c.system) / 1000);
      if (m.size !== 1000) throw new Error('reference map broken');
    }
    s.figures.push(
      absoluteFigure('one-endpoint update of a 1,000 set (median, CPU)', 'ms', { fairway: median(times), plain_p2c: median(ref) }, '<=', 1, 'plain_p2c column: building a Map of the 1,000 addresses'),
    );
    const sorted = [...times].sort((a, c) => a - c);
    s.figures.push(infoFigure('one-endpoint update of a 1,000 set (p99, CPU)', 'ms', { fairway: sorted[Math.floor(sorted.length * 0.99)] ?? NaN, plain_p2c: null }));
    s.details['updateWallMs'] = { median: median(wall), p99: [...wall].sort((a, c) => a - c)[Math.floor(wall.length * 0.99)] };
  }

  // Bytes per endpoint: heap after building 10 balancers of 1,000 endpoints (all READY, all answered) minus
  // before, divided by 10,000. Each reading runs in its own function call, so no stack slot of an earlier
  // reading keeps its objects alive; the input lists are made before the first heap reading and kept alive.
  {
    if (typeof (globalThis as { gc?: unknown }).gc !== 'function') {
      s.notes.push('bytes per endpoint not measured: run node with --expose-gc (npm run bench does)');
    } else {
      const samples: number[] = [];
      const plainSamples: number[] = [];
      for (let r = 0; r < 3; r++) {
        const m = measureStateBytes(Ctor, clock);
        samples.push(m.fairway);
        plainSamples.push(m.plain);
      }
      s.figures.push(absoluteFigure('balancer state per endpoint (1,000 set)', 'bytes', { fairway: median(samples), plain_p2c: median(plainSamples) }, '<=', 2048, 'plain_p2c column: an object {key, info, inFlight, rttMs, atMs} per endpoint'));
      s.details['bytesPerEndpointSamples'] = { fairway: samples, plain_p2c: plainSamples };
    }
    progress(1);
  }
  ctx.progress.end();
  s.notes.push(
    'ns/op is CPU time (process.cpuUsage) per op, median of the repetitions, split between pick and release by their wall-time share (performance.now() around batches of 64); wall-clock figures are in the JSON. Time and random are passed in (no clock read inside the loop)',
  );
  return s;
}
