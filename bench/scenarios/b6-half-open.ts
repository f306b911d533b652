/**
 * B6 half-open peer: 6 endpoints registered in etcd; mid-load one process is frozen with SIGSTOP (its
 * sockets stay open, nothing answers), and a second later its new incarnation (same instance, a new
 * process on a new port) registers under the same key. Open loop.
 * Goals (Fairway with attempt timeout 200 ms and default retries): 0 failed calls; no new call goes to the
 * frozen one later than 1 s after the new incarnation registers.
 */
import * as grpc from '@grpc/grpc-js';
import { address, BackendProcess, killEndpoints, startEndpoints, type Endpoint } from '../lib/backends.js';
import { waitReady } from '../lib/baselines.js';
import { callOnce, EchoClient } from '../lib/echo.js';
import type { BenchContext } from '../lib/context.js';
import { builtinOverDiscovery, etcdPut, freshIncarnation, registerFairwaySchemes, startEtcdEnv, type EtcdEnv } from '../lib/discovery.js';
import { loadFairway, PickRecorder } from '../lib/fairway.js';
import { openLoop } from '../lib/load.js';
import { absoluteFigure, infoFigure, newScenario, relativeFigure, type ScenarioResult } from '../lib/report.js';
import { failureCodes, failures, latency } from '../lib/stats.js';
import { sleep } from '../lib/procs.js';

const DEADLINE_MS = 3_000;
const ATTEMPT_TIMEOUT_MS = 200;

export async function runB6(ctx: BenchContext): Promise<ScenarioResult> {
  const s = newScenario('B6', 'half-open peer: one of 6 endpoints frozen (SIGSTOP), its new incarnation registers in etcd');
  const ratePerSec = ctx.quick ? 200 : 400;
  const durationMs = ctx.quick ? 6_000 : 10_000;
  const freezeAtMs = ctx.quick ? 2_000 : 3_000;
  const registerAfterMs = 1_000;
  s.params = { endpoints: 6, serviceMs: 2, jitterMs: 1, ratePerSec, durationMs, freezeAtMs, newIncarnationAfterMs: registerAfterMs, callDeadlineMs: DEADLINE_MS, fairwayRetry: { attemptTimeoutMs: ATTEMPT_TIMEOUT_MS }, discovery: 'etcd', load: 'open loop' };
  const etcd = await startEtcdEnv();
  if (typeof etcd === 'string') {
    s.status = 'skipped';
    s.reason = etcd;
    return s;
  }
  try {
    const fairway = await loadFairway();
    const schemes = await registerFairwaySchemes();
    const variants = ['fairway', 'round_robin', 'pick_first'];
    const fig: Record<string, Record<string, number | null>> = {};
    const put = (f: string, v: string, x: number | null): void => void ((fig[f] ??= {})[v] = x);
    for (const name of variants) {
      s.variants.push(name);
      if (name === 'fairway' && typeof fairway === 'string') {
        s.notes.push(`fairway skipped: ${fairway}`);
        continue;
      }
      if (name !== 'fairway' && schemes) {
        s.notes.push(`${name} skipped: ${schemes}`);
        continue;
      }
      try {
        await runVariant(name);
      } catch (e) {
        ctx.progress.end();
        s.notes.push(`${name} broke, its figures are missing: ${e instanceof Error ? e.message : String(e)}`);
      }
    }

    async function runVariant(name: string): Promise<void> {
      const service = `bench-b6-${name}`;
      const zones = ['a', 'b', 'c'];
      let endpoints: Endpoint[] = [];
      let spare: BackendProcess | undefined;
      let client: grpc.Client | undefined;
      try {
        endpoints = await startEndpoints(
          Array.from({ length: 6 }, (_, i) => ({ id: `b6-${name}-e${i}`, zone: zones[i % 3]!, baseMs: 2, jitterMs: 1, crossZoneMs: 0 })),
        );
        spare = await BackendProcess.start();
        const victim = endpoints[2]!;
        const newId = `${victim.id}-new`;
        const newPort = await spare.listen({ id: newId, zone: victim.zone, baseMs: 2, jitterMs: 1, crossZoneMs: 0 });
        const instances = endpoints.map((e, i) => ({ e, instance: `pod-${i}`, incarnation: freshIncarnation() }));
        for (const x of instances) await etcdPut(etcd as EtcdEnv, service, { address: address(x.e), zone: x.e.zone, instance: x.instance, incarnation: x.incarnation });
        const target = `etcd://${(etcd as EtcdEnv).authority}/${service}`;
        const rec = new PickRecorder();
        client =
          name === 'fairway'
            ? (fairway as Exclude<typeof fairway, string>).createClient(EchoClient, target, grpc.credentials.createInsecure(), { retry: { attemptTimeoutMs: ATTEMPT_TIMEOUT_MS }, observers: [rec] })
            : builtinOverDiscovery(name as 'round_robin' | 'pick_first', target);
        await waitReady(client);
        const c = client;
        const call = (): ReturnType<typeof callOnce> => callOnce(c, undefined, DEADLINE_MS);
        await openLoop({ ratePerSec, durationMs: 500, call });
        let frozenAt = Number.NaN;
        let registeredAt = Number.NaN;
        const r = await openLoop({
          ratePerSec,
          durationMs,
          call,
          onProgress: ctx.progress.phase(`B6 ${name}`),
          onStart: (t0) => rec.reset(t0),
          events: [
            {
              atMs: freezeAtMs,
              run: (now) => {
                victim.proc.freeze();
                frozenAt = now();
              },
            },
            {
              atMs: freezeAtMs + registerAfterMs,
              run: async (now) => {
                const before = now();
                await etcdPut(etcd as EtcdEnv, service, { address: `127.0.0.1:${newPort}`, zone: victim.zone, instance: 'pod-2', incarnation: freshIncarnation() });
                registeredAt = before;
              },
            },
          ],
        });
        ctx.progress.end();
        const frozenAddr = address(victim);
        // When did the last new call go to the frozen endpoint?
        let lastToFrozen = Number.NEGATIVE_INFINITY;
        let method = '';
        if (name === 'fairway') {
          for (const p of rec.picks) if (p.address === frozenAddr && p.atMs > lastToFrozen) lastToFrozen = p.atMs;
          if (!Number.isFinite(lastToFrozen)) lastToFrozen = frozenAt;
          method = 'last pick of the frozen address (from pick explanations)';
        } else {
          // No pick explanations: every call the frozen one took hangs until its deadline (DEADLINE_EXCEEDED).
          for (const x of r.records) if (x.code === grpc.status.DEADLINE_EXCEEDED && x.sentMs >= frozenAt - 50 && x.sentMs > lastToFrozen) lastToFrozen = x.sentMs;
          if (!Number.isFinite(lastToFrozen)) lastToFrozen = frozenAt;
          method = 'send time of the last call that hit its deadline';
        }
        put('failed calls', name, failures(r.records));
        put('calls sent to the frozen one after registration', name, name === 'fairway' ? rec.picks.filter((p) => p.address === frozenAddr && p.atMs > registeredAt).length : null);
        put('last new call to the frozen one, after the new incarnation registered', name, Math.max(0, lastToFrozen - registeredAt));
        const ev = latency(r.records, (x) => x.intendedMs >= frozenAt && x.intendedMs < registeredAt + 2_000, true);
        put('p99 during the event (freeze to registration + 2 s)', name, ev.count ? ev.p99 : null);
        put('max latency during the event', name, ev.count ? ev.max : null);
        put('p99 whole run', name, latency(r.records).p99);
        if (name === 'fairway') {
          let attempts = 0;
          for (const p of rec.picks) if (p.attempt > 1) attempts++;
          put('retry attempts (picks for attempt > 1)', name, attempts);
        } else put('retry attempts (picks for attempt > 1)', name, null);
        s.details[name] = {
          frozenAtMs: frozenAt,
          registeredAtMs: registeredAt,
          lastToFrozenMs: lastToFrozen,
          how: method,
          failureCodes: failureCodes(r.records),
          calls: r.records.length,
          ...(name === 'fairway' ? { attemptsTimedOut: rec.attemptsTimedOut, retryRefused: rec.retryRefused } : {}),
        };
      } finally {
        client?.close();
        await spare?.kill();
        await killEndpoints(endpoints);
        await sleep(200);
      }
    }

    const get = (f: string): Record<string, number | null> => fig[f] ?? {};
    s.figures.push(absoluteFigure('failed calls', 'calls', get('failed calls'), '<=', 0));
    s.figures.push(absoluteFigure('last new call to the frozen one, after the new incarnation registered', 'ms', get('last new call to the frozen one, after the new incarnation registered'), '<=', 1_000));
    s.figures.push(infoFigure('calls sent to the frozen one after registration', 'calls', get('calls sent to the frozen one after registration')));
    s.figures.push(infoFigure('p99 during the event (freeze to registration + 2 s, failed calls included)', 'ms', get('p99 during the event (freeze to registration + 2 s)')));
    s.figures.push(infoFigure('max latency during the event', 'ms', get('max latency during the event')));
    s.figures.push(relativeFigure('p99 whole run', 'ms', get('p99 whole run'), '<=', 1, 'round_robin'));
    s.figures.push(infoFigure('retry attempts (picks for attempt > 1)', 'attempts', get('retry attempts (picks for attempt > 1)')));
    s.notes.push(
      `baselines have no per-attempt timeout (grpc-js has none): a call on the frozen one waits for its ${DEADLINE_MS} ms deadline; for them the "last new call" figure is the send time of the last call that hit its deadline`,
    );
    return s;
  } finally {
    await (etcd as EtcdEnv).close();
  }
}
