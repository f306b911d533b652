/**
 * B6 half-open peer: 6 endpoints registered in etcd; mid-load one process is frozen with SIGSTOP (its
 * sockets stay open, nothing answers), and a second later its new incarnation (same instance, a new
 * process on a new port) registers under the same key. Open loop.
 * Goals (Fairway with attempt timeout 200 ms and default retries): 0 failed calls; no new call goes to the
 * frozen one later than 1 s after the new incarnation registers.
 */
import * as grpc from '@grpc/grpc-js';
import { address, BackendProcess, killEndpoints, roomyPod, startEndpoints, type Endpoint } from '../lib/backends.js';
import { waitReady } from '../lib/baselines.js';
import { callOnce } from '../lib/echo.js';
import type { BenchContext } from '../lib/context.js';
import { etcdPut, freshIncarnation, runEtcdVariants, type EtcdVariant } from '../lib/discovery.js';
import { PickRecorder } from '../lib/fairway.js';
import { openLoop } from '../lib/load.js';
import { absoluteFigure, figureTable, infoFigure, newScenario, relativeFigure, type ScenarioResult } from '../lib/report.js';
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
  s.params = { endpoints: 6, serviceTime: 'log-normal, mean 2.5 ms, sigma 0.3, no queueing', ratePerSec, durationMs, freezeAtMs, newIncarnationAfterMs: registerAfterMs, callDeadlineMs: DEADLINE_MS, fairwayRetry: { attemptTimeoutMs: ATTEMPT_TIMEOUT_MS }, discovery: 'etcd', load: 'open loop' };
  const fig = figureTable();
  if (!(await runEtcdVariants(ctx, s, runVariant))) return s;
  s.figures.push(absoluteFigure('failed calls', 'calls', fig.get('failed calls'), '<=', 0));
  s.figures.push(absoluteFigure('last new call to the frozen one, after the new incarnation registered', 'ms', fig.get('last new call to the frozen one, after the new incarnation registered'), '<=', 1_000));
  s.figures.push(infoFigure('calls sent to the frozen one after registration', 'calls', fig.get('calls sent to the frozen one after registration')));
  s.figures.push(infoFigure('p99 during the event (freeze to registration + 2 s, failed calls included)', 'ms', fig.get('p99 during the event (freeze to registration + 2 s)')));
  s.figures.push(infoFigure('max latency during the event', 'ms', fig.get('max latency during the event')));
  s.figures.push(relativeFigure('p99 whole run', 'ms', fig.get('p99 whole run'), '<=', 1, 'round_robin'));
  // The goal's figure leaves failed calls out, so a baseline's calls that hung until their deadline and failed
  // do not count against it; this one counts every call for as long as its caller waited.
  s.figures.push(infoFigure('p99 whole run, failed calls included', 'ms', fig.get('p99 whole run, failed calls included')));
  s.figures.push(infoFigure('retry attempts (picks for attempt > 1)', 'attempts', fig.get('retry attempts (picks for attempt > 1)')));
  s.notes.push(
    `baselines have no per-attempt timeout (grpc-js has none): a call on the frozen one waits for its ${DEADLINE_MS} ms deadline; for them the "last new call" figure is the send time of the last call that hit its deadline`,
  );
  return s;

  async function runVariant({ name, etcd, connect }: EtcdVariant): Promise<void> {
    const service = `bench-b6-${name}`;
    const zones = ['a', 'b', 'c'];
    let endpoints: Endpoint[] = [];
    let spare: BackendProcess | undefined;
    let client: grpc.Client | undefined;
    try {
      endpoints = await startEndpoints(
        Array.from({ length: 6 }, (_, i) => ({ id: `b6-${name}-e${i}`, zone: zones[i % 3]!, pod: roomyPod(2.5) })),
      );
      spare = await BackendProcess.start();
      const victim = endpoints[2]!;
      const newId = `${victim.id}-new`;
      const newPort = await spare.listen({ id: newId, zone: victim.zone, pod: roomyPod(2.5) });
      const instances = endpoints.map((e, i) => ({ e, instance: `pod-${i}`, incarnation: freshIncarnation() }));
      for (const x of instances) await etcdPut(etcd, service, { address: address(x.e), zone: x.e.zone, instance: x.instance, incarnation: x.incarnation });
      const target = `etcd://${etcd.authority}/${service}`;
      const rec = new PickRecorder();
      client = connect(target, { retry: { attemptTimeoutMs: ATTEMPT_TIMEOUT_MS }, observers: [rec] });
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
              await etcdPut(etcd, service, { address: `127.0.0.1:${newPort}`, zone: victim.zone, instance: 'pod-2', incarnation: freshIncarnation() });
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
      fig.put('failed calls', name, failures(r.records));
      fig.put('calls sent to the frozen one after registration', name, name === 'fairway' ? rec.picks.filter((p) => p.address === frozenAddr && p.atMs > registeredAt).length : null);
      fig.put('last new call to the frozen one, after the new incarnation registered', name, Math.max(0, lastToFrozen - registeredAt));
      const ev = latency(r.records, (x) => x.intendedMs >= frozenAt && x.intendedMs < registeredAt + 2_000, true);
      fig.put('p99 during the event (freeze to registration + 2 s)', name, ev.count ? ev.p99 : null);
      fig.put('max latency during the event', name, ev.count ? ev.max : null);
      fig.put('p99 whole run', name, latency(r.records).p99);
      fig.put('p99 whole run, failed calls included', name, latency(r.records, undefined, true).p99);
      if (name === 'fairway') {
        let attempts = 0;
        for (const p of rec.picks) if (p.attempt > 1) attempts++;
        fig.put('retry attempts (picks for attempt > 1)', name, attempts);
      } else fig.put('retry attempts (picks for attempt > 1)', name, null);
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
}
