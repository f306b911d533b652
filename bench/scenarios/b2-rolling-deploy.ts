/**
 * B2 rolling deploy (the hot-pod story): 6 pods registered in etcd (4 slots, log-normal service time around
 * 5 ms); after a steady start, every 2 s one is replaced by a new process on a new port with a cold start
 * (its first 200 calls 3x slower: JIT, cold caches). The new one registers, then the old one deregisters,
 * drains for 1 s and is killed. Closed loop, concurrency 64. The new processes are started before the load
 * begins, so a process start does not steal the client's CPU at the moment of the replacement.
 * Goals: per-second imbalance (busiest pod's share / fair share) <= 1.3 in every second from 1 s after
 * each replacement; p99 during the deploy <= 1.2 x before it; 0 failed calls. Variants interleave.
 */
import type * as grpc from '@grpc/grpc-js';
import { BackendProcess, killEndpoints, startEndpoints, type Endpoint, type PodSpec } from '../lib/backends.js';
import { waitReady } from '../lib/baselines.js';
import { callOnce } from '../lib/echo.js';
import type { BenchContext } from '../lib/context.js';
import { etcdDelete, etcdPut, freshIncarnation, runEtcdVariants, type EtcdVariant } from '../lib/discovery.js';
import { closedLoop, type CallRecord } from '../lib/load.js';
import { gateFigure, newScenario, roundsAbsoluteFigure, roundsInfoFigure, type ScenarioResult } from '../lib/report.js';
import { RoundValues } from '../lib/rounds.js';
import { failureCodes, failures, latency, round } from '../lib/stats.js';
import { sleep } from '../lib/procs.js';

const REPLACE_EVERY_MS = 2_000;
const DRAIN_MS = 1_000;
/** 4 slots, ~5 ms per call: 800 calls/s per pod, more than this client's closed loop sends to one of six. */
const POD: PodSpec = { slots: 4, serviceTime: { kind: 'lognormal', meanMs: 5, sigma: 0.5 } };
/** A new pod's first 200 calls are 3x slower. */
const COLD: PodSpec = { ...POD, coldStart: { calls: 200, factor: 3 } };

interface Live {
  id: string;
  instance: string;
  port: number;
  proc: BackendProcess;
}

export async function runB2(ctx: BenchContext): Promise<ScenarioResult> {
  const s = newScenario('B2', 'rolling deploy: 6 endpoints in etcd, one replaced every 2 s by a new process on a new port');
  const concurrency = 64;
  const rounds = ctx.quick ? 1 : 2;
  const steadyMs = ctx.quick ? 1_500 : 3_000;
  const replacements = ctx.quick ? 2 : 6;
  const durationMs = steadyMs + REPLACE_EVERY_MS * replacements + 1_500;
  s.params = { pods: 6, pod: POD, newPodColdStart: COLD.coldStart, concurrency, steadyMs, durationMs, replaceEveryMs: REPLACE_EVERY_MS, replacements, drainBeforeKillMs: DRAIN_MS, rounds, discovery: 'etcd', load: 'closed loop' };
  const fig = new RoundValues();
  if (!(await runEtcdVariants(ctx, s, runVariant, rounds))) return s;
  const v = s.variants;
  s.figures.push(roundsAbsoluteFigure('worst imbalance, 1-2 s after each replacement', 'x fair', fig, v, '<=', 1.3));
  s.figures.push(roundsInfoFigure('mean imbalance, 1-2 s after each replacement', 'x fair', fig, v));
  s.figures.push(roundsInfoFigure("new pod's share in its first second, highest", 'x fair', fig, v, 'above 1 = the new (cold) pod ran hot'));
  s.figures.push(roundsInfoFigure("new pod's share in its first second, lowest", 'x fair', fig, v, 'below 1 = the new pod was slow to get traffic'));
  s.figures.push(roundsInfoFigure('p99 before the deploy', 'ms', fig, v));
  s.figures.push(roundsInfoFigure('p99 during the deploy', 'ms', fig, v));
  // The harm this goal guards against: a cold pod flooded, which pushes p99 up during the deploy. It counts
  // when round_robin's own rise (during - before) is >= 5x the spread of the p99s involved.
  const ratio = roundsAbsoluteFigure('p99 during the deploy / before', 'x', fig, v, '<=', 1.2);
  const med = (f: string, variant: string): number | null => fig.medians(f, [variant])[variant] ?? null;
  const rrBefore = med('p99 before the deploy', 'round_robin');
  const rrDuring = med('p99 during the deploy', 'round_robin');
  const spreads = ['p99 before the deploy', 'p99 during the deploy'].flatMap((f) => ['fairway', 'round_robin'].map((x) => fig.spreads(f, [x])[x] ?? null));
  s.figures.push(gateFigure(ratio, ['round_robin during', 'round_robin before'], rrBefore === null || rrDuring === null ? null : rrDuring - rrBefore, spreads.some((x) => x === null) ? null : Math.max(...(spreads as number[])), 'ms'));
  s.figures.push(roundsAbsoluteFigure('failed calls', 'calls', fig, v, '<=', 0));
  s.figures.push(roundsInfoFigure('calls/s', 'calls/s', fig, v));
  s.figures.push(roundsInfoFigure('busiest pod queueing delay p99', 'ms', fig, v, 'the worst pod of the run, from the pods themselves (pick_first: its one pod)'));
  s.notes.push('imbalance = calls of the busiest pod / (calls / number of registered pods), over calls sent in the window; fair = 1.0');
  s.notes.push(`"before" = the first ${steadyMs} ms (no replacement yet); "during" = from the first replacement to the end`);
  return s;

  async function runVariant({ name, etcd, connect, round: roundNo }: EtcdVariant): Promise<void> {
    const service = `bench-b2-${name}-${roundNo}`;
    let initial: Endpoint[] = [];
    const spares: Live[] = [];
    let client: grpc.Client | undefined;
    try {
      ctx.log(`B2 ${name} round ${roundNo + 1}: starting 6 + ${replacements} pod processes`);
      initial = await startEndpoints(Array.from({ length: 6 }, (_, i) => ({ id: `b2-${name}-p${i}`, zone: 'a', pod: COLD })));
      const spareEps = await startEndpoints(Array.from({ length: replacements }, (_, k) => ({ id: `b2-${name}-r${k}`, zone: 'a', pod: COLD })));
      for (const e of spareEps) spares.push({ id: e.id, instance: `pod-r${e.id.split('-r').pop()}`, port: e.port, proc: e.proc });
      const live: Live[] = initial.map((e, i) => ({ id: e.id, instance: `pod-${i}`, port: e.port, proc: e.proc }));
      for (const l of live) await etcdPut(etcd, service, { address: `127.0.0.1:${l.port}`, zone: 'a', instance: l.instance, incarnation: freshIncarnation() });
      const target = `etcd://${etcd.authority}/${service}`;
      client = connect(target);
      await waitReady(client);
      const c = client;
      const call = (): ReturnType<typeof callOnce> => callOnce(c, undefined, 5_000);
      await closedLoop({ concurrency, totalCalls: 2_000, call });
      const replacedAt: number[] = [];
      /** Which ids were live (registered) during each check window. */
      const windows: Array<{ from: number; to: number; ids: string[]; fresh: string }> = [];
      /** The first second after each replacement: how much the new endpoint got (hot pod or cold pod). */
      const firstSecond: Array<{ from: number; to: number; ids: string[]; fresh: string }> = [];
      const drains: Promise<void>[] = [];
      // The worst queueing delay any pod saw (read from each pod before it is killed, and at the end).
      let worstQueue: number | null = null;
      const readQueue = async (p: BackendProcess): Promise<void> => {
        const stats = await p.stats().catch(() => ({}));
        for (const st of Object.values(stats)) worstQueue = Math.max(worstQueue ?? 0, st.queueDelayMs.p99);
      };
      await Promise.all([...live.map((l) => l.proc), ...spares.map((x) => x.proc)].map((p) => p.resetStats()));
      const r = await closedLoop({
        concurrency,
        durationMs,
        call,
        onProgress: ctx.progress.phase(`B2 ${name} round ${roundNo + 1}`),
        events: Array.from({ length: replacements }, (_, k) => ({
          atMs: steadyMs + REPLACE_EVERY_MS * k,
          run: async (now: () => number) => {
            const fresh = spares[k]!;
            const old = live.shift()!;
            const at = now();
            await etcdPut(etcd, service, { address: `127.0.0.1:${fresh.port}`, zone: 'a', instance: fresh.instance, incarnation: freshIncarnation() });
            await etcdDelete(etcd, service, old.instance);
            live.push(fresh);
            replacedAt.push(at);
            windows.push({ from: at + 1_000, to: at + 2_000, ids: live.map((l) => l.id), fresh: fresh.id });
            firstSecond.push({ from: at, to: at + 1_000, fresh: fresh.id, ids: live.map((l) => l.id) });
            drains.push(
              sleep(DRAIN_MS).then(async () => {
                await readQueue(old.proc);
                await old.proc.kill();
              }),
            );
          },
        })),
      });
      await Promise.all(drains);
      ctx.progress.end();
      const imbalances = windows.filter((w) => w.to <= r.wallMs).map((w) => ({ ...w, imbalance: imbalance(r.records, w.from, w.to, w.ids) }));
      const checked = imbalances.map((w) => w.imbalance).filter((x): x is number => x !== null);
      fig.put('worst imbalance, 1-2 s after each replacement', name, checked.length ? Math.max(...checked) : null);
      const freshShares = firstSecond.filter((w) => w.to <= r.wallMs).map((w) => shareOf(r.records, w.from, w.to, w.fresh, w.ids.length));
      const fs = freshShares.filter((x): x is number => x !== null);
      fig.put("new pod's share in its first second, highest", name, fs.length ? Math.max(...fs) : null);
      fig.put("new pod's share in its first second, lowest", name, fs.length ? Math.min(...fs) : null);
      fig.put('mean imbalance, 1-2 s after each replacement', name, checked.length ? checked.reduce((a, b) => a + b, 0) / checked.length : null);
      fig.put('failed calls', name, failures(r.records));
      fig.put('calls/s', name, (r.records.length / r.wallMs) * 1000);
      const before = latency(r.records, (x) => x.sentMs < steadyMs).p99;
      const during = latency(r.records, (x) => x.sentMs >= steadyMs).p99;
      fig.put('p99 before the deploy', name, before);
      fig.put('p99 during the deploy', name, during);
      fig.put('p99 during the deploy / before', name, during / before);
      for (const l of live) await readQueue(l.proc);
      fig.put('busiest pod queueing delay p99', name, worstQueue);
      // Every whole second, for the JSON: imbalance over the endpoints that served in that second.
      const perSecond: Array<number | null> = [];
      for (let t = 0; t + 1_000 <= r.wallMs; t += 1_000) perSecond.push(imbalance(r.records, t, t + 1_000, undefined));
      s.details[`${name} round ${roundNo + 1}`] = {
        replacedAtMs: replacedAt.map((x) => round(x, 1)),
        windows: imbalances.map((w) => ({ fromMs: round(w.from, 1), imbalance: w.imbalance === null ? null : round(w.imbalance) })),
        imbalancePerSecondOverServingEndpoints: perSecond.map((x) => (x === null ? null : round(x))),
        failureCodes: failureCodes(r.records),
        checkedWindows: checked.length,
      };
    } finally {
      client?.close();
      await killEndpoints(initial);
      await Promise.all(spares.map((x) => x.proc.kill()));
      await sleep(200);
    }
  }
}

/** Calls served by `id` in [from, to) / fair share among `k` endpoints. */
function shareOf(records: readonly CallRecord[], from: number, to: number, id: string, k: number): number | null {
  let n = 0;
  let mine = 0;
  for (const r of records) {
    if (r.code !== 0 || r.sentMs < from || r.sentMs >= to) continue;
    n++;
    if (r.backend === id) mine++;
  }
  return n === 0 ? null : mine / (n / k);
}

/** Busiest endpoint's calls / fair share in [from, to); `ids` = the endpoints that should share (default: those that served). */
function imbalance(records: readonly CallRecord[], from: number, to: number, ids: readonly string[] | undefined): number | null {
  const counts = new Map<string, number>();
  for (const id of ids ?? []) counts.set(id, 0);
  let n = 0;
  for (const r of records) {
    if (r.code !== 0 || r.sentMs < from || r.sentMs >= to) continue;
    counts.set(r.backend, (counts.get(r.backend) ?? 0) + 1);
    n++;
  }
  if (n === 0 || counts.size === 0) return null;
  const k = ids ? ids.length : counts.size;
  return Math.max(...counts.values()) / (n / k);
}
