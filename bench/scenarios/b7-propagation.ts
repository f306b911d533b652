/**
 * B7 discovery propagation and cold start.
 * - Propagation: 50 times, register a new endpoint (an etcd put; a new EndpointSlice in the Kubernetes API
 *   stand-in) and time until the first call served by it comes back, under an open-loop load on 4 endpoints.
 *   The new endpoint's server is started before the clock starts (a new server on a new port each time, so
 *   no connection is reused).
 * - Cold start: a fresh client process; time from its start to its first call answered over etcd.
 * Goals: propagation p99 <= 250 ms per source; cold start p50 <= 500 ms.
 * Context, not measured: grpc-js's DNS resolver re-resolves at most every 30 s; kuberesolver re-lists every
 * 30 min (between watch events).
 */
import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { address, BackendProcess, killEndpoints, roomyPod, startEndpoints, type Endpoint } from '../lib/backends.js';
import { waitReady } from '../lib/baselines.js';
import { callOnce, EchoClient, type CallResult } from '../lib/echo.js';
import type { BenchContext } from '../lib/context.js';
import { etcdDelete, etcdPut, freshIncarnation, startEtcdEnv, startKubeEnv, type EtcdEnv, type KubeEnv } from '../lib/discovery.js';
import { loadFairway, type FairwayFactory } from '../lib/fairway.js';
import { openLoop } from '../lib/load.js';
import { absoluteFigure, infoFigure, newScenario, type ScenarioResult } from '../lib/report.js';
import { failures, median, percentile, round } from '../lib/stats.js';
import { sleep, track } from '../lib/procs.js';

const here = dirname(fileURLToPath(import.meta.url));
const WAIT_PER_ITERATION_MS = 5_000;

interface Source {
  readonly name: string;
  readonly target: string;
  readonly discovery?: Record<string, unknown>;
  register(id: string, port: number, i: number): Promise<void>;
  deregister(id: string, i: number): Promise<void>;
}

export async function runB7(ctx: BenchContext): Promise<ScenarioResult> {
  const s = newScenario('B7', 'discovery propagation (etcd, Kubernetes) and cold start');
  const iterations = ctx.quick ? 10 : 50;
  const coldStarts = ctx.quick ? 3 : 7;
  const ratePerSec = ctx.quick ? 300 : 500;
  s.params = { baseEndpoints: 4, iterations, ratePerSec, coldStarts, waitPerIterationMs: WAIT_PER_ITERATION_MS };
  s.variants = ['fairway'];
  const fairway = await loadFairway();
  if (typeof fairway === 'string') {
    s.status = 'skipped';
    s.reason = fairway;
    return s;
  }
  const etcd = await startEtcdEnv();
  const kube = await startKubeEnv();
  let base: Endpoint[] = [];
  let spare: BackendProcess | undefined;
  try {
    base = await startEndpoints(Array.from({ length: 4 }, (_, i) => ({ id: `b7-e${i}`, zone: 'a', pod: roomyPod(1.25) })));
    spare = await BackendProcess.start();
    const sources: Source[] = [];
    if (typeof etcd === 'string') s.notes.push(`etcd propagation skipped: ${etcd}`);
    else {
      const service = 'bench-b7';
      for (const [i, e] of base.entries()) await etcdPut(etcd, service, { address: address(e), zone: 'a', instance: `pod-${i}`, incarnation: freshIncarnation() });
      sources.push({
        name: 'etcd',
        target: `etcd://${etcd.authority}/${service}`,
        register: (id, port) => etcdPut(etcd, service, { address: `127.0.0.1:${port}`, zone: 'a', instance: id, incarnation: freshIncarnation() }),
        deregister: (id) => etcdDelete(etcd, service, id),
      });
    }
    if (typeof kube === 'string') s.notes.push(`Kubernetes propagation skipped: ${kube}`);
    else {
      const service = 'bench-b7';
      // Loopback backends differ by port, and a slice has one port list: one slice per endpoint.
      for (const [i, e] of base.entries()) kube.apply({ name: `${service}-base-${i}`, service, ports: [{ name: 'grpc', port: e.port }], endpoints: [{ ip: '127.0.0.1', zone: 'a', pod: `pod-${i}` }] });
      sources.push({
        name: 'kubernetes',
        target: `k8s:///${service}.${kube.namespace}:grpc`,
        discovery: { kubernetes: kube.discovery },
        register: async (id, port) => kube.apply({ name: `${service}-${id}`, service, ports: [{ name: 'grpc', port }], endpoints: [{ ip: '127.0.0.1', zone: 'a', pod: id }] }),
        deregister: async (id) => kube.remove(`${service}-${id}`),
      });
    }
    for (const src of sources) await propagation(src, fairway, spare);
    if (typeof etcd !== 'string') await coldStart(etcd);
    return s;
  } finally {
    await spare?.kill();
    await killEndpoints(base);
    if (typeof etcd !== 'string') await etcd.close();
    if (typeof kube !== 'string') await kube.close();
  }

  async function propagation(src: Source, f: FairwayFactory, host: BackendProcess): Promise<void> {
    const client = f.createClient(EchoClient, src.target, grpc.credentials.createInsecure(), src.discovery ? { discovery: src.discovery } : {});
    try {
      await waitReady(client, 20_000);
      let waitingFor: string | undefined;
      let seen: ((t: number) => void) | undefined;
      const call = (): Promise<CallResult> =>
        callOnce(client, undefined, 5_000).then((res) => {
          if (res.backend === waitingFor && seen) {
            const t = performance.now();
            const cb = seen;
            seen = undefined;
            cb(t);
          }
          return res;
        });
      const times: number[] = [];
      let missed = 0;
      let done = false;
      const progress = ctx.progress.phase(`B7 ${src.name} propagation`);
      const driver = (async () => {
        await sleep(500);
        for (let i = 0; i < iterations; i++) {
          const id = `new-${src.name}-${i}`;
          const port = await host.listen({ id, zone: 'a', pod: roomyPod(1.25) });
          const landed = new Promise<number | undefined>((resolve) => {
            waitingFor = id;
            seen = resolve;
            setTimeout(() => resolve(undefined), WAIT_PER_ITERATION_MS);
          });
          const t0 = performance.now();
          await src.register(id, port, i);
          const t1 = await landed;
          waitingFor = undefined;
          seen = undefined;
          if (t1 === undefined) missed++;
          else times.push(t1 - t0);
          await src.deregister(id, i);
          await sleep(150);
          await host.closeServer(id);
          progress((i + 1) / iterations);
        }
        done = true;
      })();
      const load = await openLoop({ ratePerSec, durationMs: iterations * (WAIT_PER_ITERATION_MS + 1_000) + 2_000, call, shouldStop: () => done });
      await driver;
      ctx.progress.end();
      // A registration that got no call within the wait counts at the wait (censored), so it weighs in the p99.
      const all = [...times, ...Array.from({ length: missed }, () => WAIT_PER_ITERATION_MS)];
      s.figures.push(
        absoluteFigure(
          `${src.name}: propagation p99`,
          'ms',
          { fairway: all.length ? percentile(all, 99) : null },
          '<=',
          250,
          missed ? `${missed} of ${iterations} registrations got no call within ${WAIT_PER_ITERATION_MS} ms (counted as ${WAIT_PER_ITERATION_MS} ms)` : undefined,
        ),
      );
      s.figures.push(infoFigure(`${src.name}: propagation p50`, 'ms', { fairway: all.length ? median(all) : null }));
      s.figures.push(infoFigure(`${src.name}: propagation max`, 'ms', { fairway: all.length ? Math.max(...all) : null }));
      s.figures.push(infoFigure(`${src.name}: registrations with no call within ${WAIT_PER_ITERATION_MS} ms`, 'count', { fairway: missed }));
      s.figures.push(infoFigure(`${src.name}: failed calls during the registrations`, 'calls', { fairway: failures(load.records) }));
      s.details[`${src.name}PropagationMs`] = times.map((x) => round(x, 2));
    } finally {
      client.close();
    }
  }

  async function coldStart(etcd: EtcdEnv): Promise<void> {
    const results: Array<Record<string, unknown>> = [];
    const spawnToFirst: number[] = [];
    const inProcess: number[] = [];
    const progress = ctx.progress.phase('B7 cold start');
    for (let i = 0; i < coldStarts; i++) {
      const t0 = performance.now();
      const r = await runChild(join(here, 'cold-start.js'), [etcd.authority, 'bench-b7']);
      const wall = performance.now() - t0;
      results.push({ ...r, spawnToExitMs: round(wall, 1) });
      if (r['ok'] === true && typeof r['firstCallMs'] === 'number') {
        inProcess.push(r['firstCallMs']);
        spawnToFirst.push(wall);
      }
      progress((i + 1) / coldStarts);
    }
    ctx.progress.end();
    s.figures.push(
      absoluteFigure('cold start: process start to first balanced call over etcd, p50', 'ms', { fairway: inProcess.length ? median(inProcess) : null }, '<=', 500, 'from performance.timeOrigin (the process start) to the first answer, in the client process'),
    );
    s.figures.push(infoFigure('cold start: of which factory to first call, p50', 'ms', { fairway: median(results.map((r) => Number(r['factoryToFirstCallMs'])).filter(Number.isFinite)) }));
    s.figures.push(infoFigure('cold start: spawn to exit as the parent saw it, p50', 'ms', { fairway: spawnToFirst.length ? median(spawnToFirst) : null }));
    s.details['coldStarts'] = results;
    if (inProcess.length < coldStarts) s.notes.push(`${coldStarts - inProcess.length} of ${coldStarts} cold starts failed: see details.coldStarts`);
    s.notes.push("propagation is timed from the start of the registration (put / slice apply) to the first answer from the new endpoint at the client; context: grpc-js's DNS re-resolves at most every 30 s, kuberesolver re-lists every 30 min");
  }
}

/** Runs a child node process (compiled JS), returns its last JSON line (bounded: 30 s). */
function runChild(script: string, args: string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const child = track(spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => {
      if (err.length < 2000) err += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as Record<string, unknown>);
      } catch {
        resolve({ ok: false, error: `exit ${code}: ${err.trim().slice(0, 500)}` });
      }
    });
  });
}
