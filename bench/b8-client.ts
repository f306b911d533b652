/**
 * B8's client, one process per measured run, so that each variant's CPU is its own and instrumentation-grpc
 * (which patches the grpc-js module itself) cannot touch the other variants. Sends an open loop to the pods,
 * and prints one JSON line: calls, failures, client CPU per call, p50/p99, spans ended per call.
 *
 * Usage: node b8-client.js '<json: {variant, target, addresses, ratePerSec, warmupMs, durationMs}>'
 * Variants: fairway (100 % sampled), fairway_10pct, fairway_untraced (no telemetry observer),
 * grpcjs_otel (plain grpc-js round_robin + @opentelemetry/instrumentation-grpc, 100 % sampled),
 * grpcjs_untraced (plain grpc-js round_robin). Two more split Fairway's price into its parts:
 * fairway_sdk_only: the SDK set up as for the traced variants (its context manager on) but no observer, so
 * nothing records a span; fairway_call_layer: no SDK, and an observer that does nothing, so every call runs
 * through Fairway's call layer (which an unobserved call with no attempt time-out and no hedge skips) as it
 * does with retries on.
 * Every traced variant uses the same SDK set-up: a NodeTracerProvider (AsyncLocalStorage context, W3C
 * propagation) with a batch span processor to an exporter that drops the spans (no network), and a counting
 * span processor. No meter provider is registered, so metrics calls are the API's no-ops for every variant.
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import type * as grpcTypes from '@grpc/grpc-js';
import { openLoop } from './lib/load.js';
import { latency, failures } from './lib/stats.js';

interface Args {
  variant: 'fairway' | 'fairway_10pct' | 'fairway_untraced' | 'fairway_sdk_only' | 'fairway_call_layer' | 'grpcjs_otel' | 'grpcjs_untraced';
  target: string;
  addresses: string[];
  ratePerSec: number;
  warmupMs: number;
  durationMs: number;
}

const ECHO_PATH = '/fairway.bench.Echo/Call';
const identity = (b: Buffer): Buffer => b;
const NO_HEADERS: Readonly<Record<string, string>> = {};
const NOOP_ATTEMPT = { onPick: (): void => {}, outgoingHeaders: () => NO_HEADERS, onEnd: (): void => {} };
const NOOP_CALL = { onAttemptStart: () => NOOP_ATTEMPT, onEnd: (): void => {} };
/** An observer that does nothing: what the call layer costs by itself. */
const NOOP_OBSERVER = { onCallStart: () => NOOP_CALL };

async function setupTracing(ratio: number): Promise<{ spans: () => number; reset: () => void; shutdown: () => Promise<void> }> {
  const base = await import('@opentelemetry/sdk-trace-base');
  const { NodeTracerProvider } = await import('@opentelemetry/sdk-trace-node');
  let ended = 0;
  const counting = {
    onStart: (): void => {},
    onEnd: (): void => {
      ended++;
    },
    forceFlush: (): Promise<void> => Promise.resolve(),
    shutdown: (): Promise<void> => Promise.resolve(),
  };
  const dropping = {
    export: (_spans: unknown[], done: (r: { code: number }) => void): void => done({ code: 0 }),
    shutdown: (): Promise<void> => Promise.resolve(),
  };
  const sampler = ratio >= 1 ? new base.AlwaysOnSampler() : new base.ParentBasedSampler({ root: new base.TraceIdRatioBasedSampler(ratio) });
  const provider = new NodeTracerProvider({ sampler, spanProcessors: [new base.BatchSpanProcessor(dropping as never), counting as never] });
  provider.register();
  // Turn the context manager on now, as it is in any traced service (its server instrumentation runs every
  // request in context.with). The batch processor would do it at its first export anyway (it exports under
  // context.with), and from then on Node 20's AsyncLocalStorage runs async hooks on every promise and callback:
  // measured apart by the fairway_sdk_only variant, which records nothing.
  const api = await import('@opentelemetry/api');
  api.context.with(api.context.active(), () => undefined);
  return {
    spans: () => ended,
    reset: () => {
      ended = 0;
    },
    shutdown: () => provider.shutdown(),
  };
}

/**
 * With FAIRWAY_B8_PROFILE_DIR set, the measured run is CPU-profiled in-process and written as
 * `<dir>/<variant>-r<pid>.cpuprofile`, which `bench/probes/dist/profile-summary.js <dir> --calls <calls per run>
 * --base fairway_untraced` reads (the profiler's own cost inflates every variant alike; compare them, not the
 * figures of a run without it). Unset (the benchmark): nothing is loaded.
 */
async function startProfile(): Promise<((variant: string) => Promise<void>) | undefined> {
  const dir = process.env['FAIRWAY_B8_PROFILE_DIR'];
  if (!dir) return undefined;
  const { Session } = await import('node:inspector/promises');
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async (variant) => {
    const { profile } = await session.post('Profiler.stop');
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${dir}/${variant}-r${process.pid}.cpuprofile`, JSON.stringify(profile));
    session.disconnect();
  };
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as Args;
  const v = args.variant;
  const tracedRatio = v === 'fairway' || v === 'grpcjs_otel' || v === 'fairway_sdk_only' ? 1 : v === 'fairway_10pct' ? 0.1 : 0;
  const observed = v === 'fairway' || v === 'fairway_10pct';
  const tracing = tracedRatio > 0 ? await setupTracing(tracedRatio) : undefined;
  const require = createRequire(import.meta.url);
  if (args.variant === 'grpcjs_otel') {
    // Before grpc-js is loaded: the instrumentation patches the module as it is required.
    const { registerInstrumentations } = await import('@opentelemetry/instrumentation');
    const { GrpcInstrumentation } = await import('@opentelemetry/instrumentation-grpc');
    registerInstrumentations({ instrumentations: [new GrpcInstrumentation()] });
  }
  const grpc = require('@grpc/grpc-js') as typeof grpcTypes;
  const service = {
    echo: { path: ECHO_PATH, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity, originalName: 'echo' },
  };
  const EchoClient = grpc.makeGenericClientConstructor(service, 'Echo');
  let client: grpcTypes.Client;
  if (args.variant.startsWith('fairway')) {
    const fw = (await import('fairway-grpc')) as unknown as {
      createClient: (c: unknown, t: string, cr: unknown, o?: object) => grpcTypes.Client;
      createTelemetryObserver: () => unknown;
    };
    client = fw.createClient(EchoClient, args.target, grpc.credentials.createInsecure(), observed ? { observers: [fw.createTelemetryObserver()] } : v === 'fairway_call_layer' ? { observers: [NOOP_OBSERVER] } : {});
  } else {
    client = new EchoClient(`ipv4:${args.addresses.join(',')}`, grpc.credentials.createInsecure(), {
      'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
    });
  }
  await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (e) => (e ? reject(e) : resolve())));
  const empty = Buffer.alloc(0);
  const echo = (client as unknown as Record<string, Function>)['echo']!;
  const call = (): Promise<{ code: number; backend: string }> =>
    new Promise((resolve) => {
      echo.call(client, empty, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err: grpcTypes.ServiceError | null, res?: Buffer) =>
        resolve(err ? { code: err.code ?? 2, backend: '' } : { code: 0, backend: res ? res.toString('latin1') : '' }),
      );
    });
  await openLoop({ ratePerSec: args.ratePerSec, durationMs: args.warmupMs, call });
  tracing?.reset();
  const profiler = await startProfile();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await openLoop({ ratePerSec: args.ratePerSec, durationMs: args.durationMs, call });
  const cpu = process.cpuUsage(cpu0);
  await profiler?.(args.variant);
  const wallMs = performance.now() - t0;
  const spans = tracing?.spans() ?? 0;
  const lat = latency(r.records);
  const n = r.records.length;
  client.close();
  await tracing?.shutdown();
  process.stdout.write(
    `${JSON.stringify({ variant: args.variant, calls: n, failed: failures(r.records), cpuUsPerCall: (cpu.user + cpu.system) / n, wallMs, p50: lat.p50, p99: lat.p99, spansPerCall: spans / n })}\n`,
  );
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`b8-client: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
