/**
 * B8's client, one process per measured run, so that each variant's CPU is its own and instrumentation-grpc
 * (which patches the grpc-js module itself) cannot touch the other variants. Sends an open loop to the pods,
 * and prints one JSON line: calls, failures, client CPU per call, p50/p99, spans ended per call.
 *
 * Usage: node b8-client.js '<json: {variant, target, addresses, ratePerSec, warmupMs, durationMs}>'
 * Variants: fairway (100 % sampled), fairway_10pct, fairway_untraced (no telemetry observer),
 * grpcjs_otel (plain grpc-js round_robin + @opentelemetry/instrumentation-grpc, 100 % sampled),
 * grpcjs_untraced (plain grpc-js round_robin).
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
  variant: 'fairway' | 'fairway_10pct' | 'fairway_untraced' | 'grpcjs_otel' | 'grpcjs_untraced';
  target: string;
  addresses: string[];
  ratePerSec: number;
  warmupMs: number;
  durationMs: number;
}

const ECHO_PATH = '/fairway.bench.Echo/Call';
const identity = (b: Buffer): Buffer => b;

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
  return {
    spans: () => ended,
    reset: () => {
      ended = 0;
    },
    shutdown: () => provider.shutdown(),
  };
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as Args;
  const tracedRatio = args.variant === 'fairway' || args.variant === 'grpcjs_otel' ? 1 : args.variant === 'fairway_10pct' ? 0.1 : 0;
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
    client = fw.createClient(EchoClient, args.target, grpc.credentials.createInsecure(), tracing ? { observers: [fw.createTelemetryObserver()] } : {});
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
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await openLoop({ ratePerSec: args.ratePerSec, durationMs: args.durationMs, call });
  const cpu = process.cpuUsage(cpu0);
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
