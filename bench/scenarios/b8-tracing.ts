/**
 * B8 the price of "every call traced": 3 equal pods (no queueing at this rate), open loop. Each measured
 * run is its own client process (bench/b8-client.ts), so its CPU is its own and the grpc-js
 * instrumentation cannot reach the other variants; variants interleave over rounds.
 * Variants: Fairway with its telemetry observer at 100 % and 10 % sampled, Fairway untraced; plain grpc-js
 * round_robin with @opentelemetry/instrumentation-grpc at 100 %, and untraced; and two that split Fairway's
 * price: the SDK set up but no observer (`fairway_sdk_only`: what the SDK's AsyncLocalStorage context manager
 * costs by itself), and an observer that does nothing (`fairway_call_layer`: what Fairway's call layer costs,
 * which an unobserved call without attempt time-out or hedge skips).
 * Goals at 100 %: client CPU per call <= 1.15 x untraced Fairway, and no more than instrumentation-grpc's
 * (which records one span per call, where Fairway records the call and each attempt). Each goal's ratio is the
 * median over 5 rounds of that round's ratio (the two variants of a round run within ~40 s of each other).
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { address, killEndpoints, podCapacityPerSec, startEndpoints, staticTarget, type Endpoint, type PodSpec } from '../lib/backends.js';
import type { BenchContext } from '../lib/context.js';
import { newScenario, noteBroken, pairedRelativeFigure, roundsInfoFigure, type Figure, type ScenarioResult } from '../lib/report.js';
import { interleave, RoundValues } from '../lib/rounds.js';
import { track } from '../lib/procs.js';

const here = dirname(fileURLToPath(import.meta.url));
/** bench/dist/b8-client.js, next to the compiled run.js. */
const CLIENT_SCRIPT = join(here, 'b8-client.js');
const POD: PodSpec = { slots: 64, serviceTime: { kind: 'lognormal', meanMs: 2, sigma: 0.3 } };

interface ClientResult {
  calls: number;
  failed: number;
  cpuUsPerCall: number;
  p50: number;
  p99: number;
  spansPerCall: number;
}

function runClient(args: Record<string, unknown>, timeoutMs: number): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const child = track(spawn(process.execPath, [CLIENT_SCRIPT, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      if (err.length < 4000) err += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`b8 client ${String(args['variant'])} exited ${code ?? signal}: ${err.trim().slice(0, 600)}`));
      try {
        resolve(JSON.parse(line) as ClientResult);
      } catch {
        reject(new Error(`b8 client ${String(args['variant'])} printed no result: ${out.slice(0, 300)} ${err.slice(0, 300)}`));
      }
    });
  });
}

export async function runB8(ctx: BenchContext): Promise<ScenarioResult> {
  const s = newScenario('B8', 'the price of tracing every call: off / 10 % / 100 % sampled, against instrumentation-grpc');
  const ratePerSec = ctx.quick ? 300 : 600;
  const durationMs = ctx.quick ? 1_500 : 4_000;
  const warmupMs = ctx.quick ? 500 : 1_000;
  // Five rounds, each goal judged on the median of the per-round ratios (each round runs every variant within
  // ~40 s): with three rounds and a ratio of medians, one busy minute moved a variant's median by up to 25 %
  // (spreads of +-40-184 us on ~700-900 us in the full runs of 2026-12-06 and -07).
  const rounds = ctx.quick ? 2 : 5;
  s.params = { pods: 3, pod: POD, podCapacityPerSec: podCapacityPerSec(POD), ratePerSec, durationMs, warmupMs, rounds, load: 'open loop, one client process per run', sdk: 'NodeTracerProvider, batch processor to a dropping exporter' };
  const variants = ['fairway', 'fairway_10pct', 'fairway_untraced', 'fairway_sdk_only', 'fairway_call_layer', 'grpcjs_otel', 'grpcjs_untraced'];
  s.variants = variants;
  let endpoints: Endpoint[] = [];
  try {
    ctx.log('B8: starting 3 pod processes');
    endpoints = await startEndpoints(['a', 'b', 'c'].map((zone, i) => ({ id: `b8-p${i}`, zone, pod: POD })));
    const rv = new RoundValues();
    /** Client CPU per call by variant and round (null: that round failed), for the paired ratios. */
    const cpuByRound: Record<string, (number | null)[]> = Object.fromEntries(variants.map((v) => [v, Array<number | null>(rounds).fill(null)]));
    const base = { target: staticTarget(endpoints), addresses: endpoints.map(address), ratePerSec, warmupMs, durationMs };
    await interleave(
      variants,
      rounds,
      async (variant, roundNo) => {
        ctx.log(`B8 ${variant} round ${roundNo + 1}`);
        const r = await runClient({ ...base, variant }, warmupMs + durationMs + 60_000);
        rv.put('client CPU per call', variant, r.cpuUsPerCall);
        cpuByRound[variant]![roundNo] = r.cpuUsPerCall;
        rv.put('p50 latency', variant, r.p50);
        rv.put('p99 latency', variant, r.p99);
        rv.put('spans per call', variant, r.spansPerCall);
        rv.put('failed calls', variant, r.failed);
      },
      (variant, roundNo, e) => noteBroken(s, `${variant} (round ${roundNo + 1})`, e),
    );
    const cpu = 'client CPU per call';
    const cpuFigure = (factor: number, reference: string, name: string): Figure => ({
      ...pairedRelativeFigure(cpu, 'us', rv.medians(cpu, variants), cpuByRound, '<=', factor, reference, undefined, `each round runs all ${variants.length} variants in turn, ~40 s`),
      spreads: rv.spreads(cpu, variants),
      rounds,
      name,
    });
    s.figures.push(cpuFigure(1.15, 'fairway_untraced', 'client CPU per call vs untraced'));
    s.figures.push(cpuFigure(1, 'grpcjs_otel', 'client CPU per call vs instrumentation-grpc'));
    s.figures.push(roundsInfoFigure('p50 latency', 'ms', rv, variants));
    s.figures.push(roundsInfoFigure('p99 latency', 'ms', rv, variants));
    s.figures.push(roundsInfoFigure('spans per call', 'spans', rv, variants, 'Fairway: a call span and one per attempt; instrumentation-grpc: one client span per call'));
    s.figures.push(roundsInfoFigure('failed calls', 'calls', rv, variants));
    s.details['rounds'] = rv.toJSON();
    s.notes.push('the price split: fairway_untraced -> fairway_sdk_only is the SDK\'s context manager (Node 20 AsyncLocalStorage hooks, paid by any traced service); fairway_untraced -> fairway_call_layer is Fairway\'s call layer (paid by any call with an attempt time-out or a hedge, traced or not); the rest is the observer and the SDK recording spans');
    s.notes.push('fairway = Fairway with createTelemetryObserver() at 100 % sampled; CPU per call = the client process\'s user + system CPU over the measured run / calls');
    return s;
  } finally {
    await killEndpoints(endpoints);
  }
}
