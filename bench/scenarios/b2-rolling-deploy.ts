/**
 * B2 rolling deploy (the hot-pod story): 6 endpoints registered in etcd; every 2 s one is replaced by a new
 * process on a new port (the new one registers, then the old one deregisters, drains for 1 s and is
 * killed). Closed loop, concurrency 64. The new processes are started before the load begins, so a process
 * start does not steal the client's CPU at the moment of the replacement.
 * Goals: per-second imbalance (busiest endpoint's share / fair share) <= 1.3 in every second from 1 s after
 * each replacement; 0 failed calls.
 */
import type * as grpc from '@grpc/grpc-js';
import { address, BackendProcess, killEndpoints, startEndpoints, type Endpoint } from '../lib/backends.js';
import { waitReady } from '../lib/baselines.js';
import { callOnce } from '../lib/echo.js';
import type { BenchContext } from '../lib/context.js';
import { etcdDelete, etcdPut, freshIncarnation, runEtcdVariants, type EtcdVariant } from '../lib/discovery.js';
import { closedLoop, type CallRecord } from '../lib/load.js';
import { absoluteFigure, figureTable, infoFigure, newScenario, type ScenarioResult } from '../lib/report.js';
import { failureCodes, failures, latency, round } from '../lib/stats.js';
import { sleep } from '../lib/procs.js';

const REPLACE_EVERY_MS = 2_000;
const DRAIN_MS = 1_000;

interface Live {
  id: string;
  instance: string;
  port: number;
  proc: BackendProcess;
}

export async function runB2(ctx: BenchContext): Promise<ScenarioResult> {
  const s = newScenario('B2', 'rolling deploy: 6 endpoints in etcd, one replaced every 2 s by a new process on a new port');
  const durationMs = ctx.quick ? 6_000 : 20_000;
  const concurrency = 64;
  const replacements = Math.floor((durationMs - 1_000) / REPLACE_EVERY_MS) - 0;
  s.params = { endpoints: 6, serviceMs: 2, jitterMs: 1, concurrency, durationMs, replaceEveryMs: REPLACE_EVERY_MS, replacements, drainBeforeKillMs: DRAIN_MS, discovery: 'etcd', load: 'closed loop' };
  const fig = figureTable();
  if (!(await runEtcdVariants(ctx, s, runVariant))) return s;
  s.figures.push(absoluteFigure('worst imbalance, 1-2 s after each replacement', 'x fair', fig.get('worst imbalance, 1-2 s after each replacement'), '<=', 1.3));
  s.figures.push(infoFigure('mean imbalance, 1-2 s after each replacement', 'x fair', fig.get('mean imbalance, 1-2 s after each replacement')));
  s.figures.push(infoFigure("new endpoint's share in its first second, highest", 'x fair', fig.get("new endpoint's share in its first second, highest"), 'above 1 = the new pod ran hot'));
  s.figures.push(infoFigure("new endpoint's share in its first second, lowest", 'x fair', fig.get("new endpoint's share in its first second, lowest"), 'below 1 = the new pod was slow to get traffic'));
  s.figures.push(absoluteFigure('failed calls', 'calls', fig.get('failed calls'), '<=', 0));
  s.figures.push(infoFigure('calls/s', 'calls/s', fig.get('calls/s')));
  s.figures.push(infoFigure('p99 latency', 'ms', fig.get('p99 latency')));
  s.notes.push('imbalance = calls of the busiest endpoint / (calls / number of registered endpoints), over calls sent in the window; fair = 1.0');
  return s;

  async function runVariant({ name, etcd, connect }: EtcdVariant): Promise<void> {
    const service = `bench-b2-${name}`;
    let initial: Endpoint[] = [];
    const spares: Live[] = [];
    let client: grpc.Client | undefined;
    try {
      ctx.log(`B2 ${name}: starting 6 + ${replacements} backend processes`);
      initial = await startEndpoints(Array.from({ length: 6 }, (_, i) => ({ id: `b2-${name}-e${i}`, zone: 'a', baseMs: 2, jitterMs: 1, crossZoneMs: 0 })));
      const spareEps = await startEndpoints(
        Array.from({ length: replacements }, (_, k) => ({ id: `b2-${name}-r${k}`, zone: 'a', baseMs: 2, jitterMs: 1, crossZoneMs: 0 })),
      );
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
      const r = await closedLoop({
        concurrency,
        durationMs,
        call,
        onProgress: ctx.progress.phase(`B2 ${name}`),
        events: Array.from({ length: replacements }, (_, k) => ({
          atMs: REPLACE_EVERY_MS * (k + 1),
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
            drains.push(sleep(DRAIN_MS).then(() => old.proc.kill()));
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
      fig.put("new endpoint's share in its first second, highest", name, fs.length ? Math.max(...fs) : null);
      fig.put("new endpoint's share in its first second, lowest", name, fs.length ? Math.min(...fs) : null);
      fig.put('mean imbalance, 1-2 s after each replacement', name, checked.length ? checked.reduce((a, b) => a + b, 0) / checked.length : null);
      fig.put('failed calls', name, failures(r.records));
      fig.put('calls/s', name, (r.records.length / r.wallMs) * 1000);
      fig.put('p99 latency', name, latency(r.records).p99);
      // Every whole second, for the JSON: imbalance over the endpoints that served in that second.
      const perSecond: Array<number | null> = [];
      for (let t = 0; t + 1_000 <= r.wallMs; t += 1_000) perSecond.push(imbalance(r.records, t, t + 1_000, undefined));
      s.details[name] = {
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
