/**
 * `setupTelemetry`: the OpenTelemetry SDK (traces + metrics) with an exporter in one call, honouring the
 * standard `OTEL_*` environment variables.
 */
import { createRequire } from 'node:module';
import { diag, metrics, ProxyTracerProvider, trace, context, propagation, type Attributes, type TracerProvider } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { IMetricReader, PushMetricExporter } from '@opentelemetry/sdk-metrics';
import type { ResolvedTelemetryConfig, SetupTelemetryOptions, TelemetryHandle, TraceExporterKind } from '@fairway/telemetry';
import { JaegerJsonFileExporter } from './jaeger-json-exporter.js';

/*
 * The SDK, its resource detectors and the exporters are loaded on the first setupTelemetry() call, not when
 * the package is imported: they take a second or more to load, and a process that only uses the observer
 * (with its own SDK set-up, or none) should not pay for them. All are CommonJS packages, loaded synchronously.
 */
// import.meta.url in the ESM build (a global `__filename`, as `node -e` defines, must not win there); the CJS
// build has no import.meta (the bundler leaves an empty object) and uses its own __filename.
const requireHere: NodeJS.Require = createRequire((import.meta as { url?: string }).url ?? __filename);

interface SdkModules {
  NodeSDK: typeof import('@opentelemetry/sdk-node').NodeSDK;
  resources: typeof import('@opentelemetry/resources');
  traceBase: typeof import('@opentelemetry/sdk-trace-base');
  sdkMetrics: typeof import('@opentelemetry/sdk-metrics');
}
let sdkModules: SdkModules | undefined;
function sdk(): SdkModules {
  sdkModules ??= {
    NodeSDK: (requireHere('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node')).NodeSDK,
    resources: requireHere('@opentelemetry/resources') as typeof import('@opentelemetry/resources'),
    traceBase: requireHere('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base'),
    sdkMetrics: requireHere('@opentelemetry/sdk-metrics') as typeof import('@opentelemetry/sdk-metrics'),
  };
  return sdkModules;
}

type Env = Readonly<Record<string, string | undefined>>;

function envString(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

function envNumber(env: Env, name: string): number | undefined {
  const v = envString(env, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) {
    diag.warn(`@fairway/telemetry-setup: ignoring ${name}=${v}: not a non-negative number`);
    return undefined;
  }
  return n;
}

function envBool(env: Env, name: string): boolean {
  return envString(env, name)?.toLowerCase() === 'true';
}

type OtlpKind = 'otlp-grpc' | 'otlp-http' | 'otlp-http-json';
const OTLP_KINDS: ReadonlySet<string> = new Set<OtlpKind>(['otlp-grpc', 'otlp-http', 'otlp-http-json']);
function isOtlp(kind: string | undefined): kind is OtlpKind {
  return kind !== undefined && OTLP_KINDS.has(kind);
}

/** The OTLP exporter for an `OTEL_EXPORTER_OTLP_*PROTOCOL` value (the three the specification lists). */
function protocolKind(value: string | undefined, name: string): OtlpKind | undefined {
  if (value === undefined) return undefined;
  if (value === 'grpc') return 'otlp-grpc';
  if (value === 'http/protobuf') return 'otlp-http';
  if (value === 'http/json') return 'otlp-http-json';
  diag.warn(`@fairway/telemetry-setup: ignoring ${name}=${value}: expected grpc, http/protobuf or http/json`);
  return undefined;
}

const EXPORTER_KINDS: ReadonlySet<string> = new Set(['otlp-grpc', 'otlp-http', 'otlp-http-json', 'jaeger', 'jaeger-json-file', 'console', 'none']);

function serviceNameFromResourceAttributes(env: Env): string | undefined {
  const raw = envString(env, 'OTEL_RESOURCE_ATTRIBUTES');
  if (!raw) return undefined;
  for (const pair of raw.split(',')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).trim() === 'service.name') {
      try {
        return decodeURIComponent(pair.slice(eq + 1).trim()) || undefined;
      } catch {
        return pair.slice(eq + 1).trim() || undefined;
      }
    }
  }
  return undefined;
}

function withPath(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path}`;
}

function positiveOption(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`setupTelemetry: ${name} must be a positive number, got ${String(value)}`);
  }
  return value;
}

/**
 * Applies the `OTEL_*` variables in `env` to `options`; pure (exported for tests and for printing what a
 * process will do). Throws a `TypeError`/`RangeError` naming the option when an option is wrong.
 */
export function resolveTelemetryConfig(options: SetupTelemetryOptions = {}, env: Env = process.env): ResolvedTelemetryConfig {
  if (options.exporter !== undefined && !EXPORTER_KINDS.has(options.exporter)) {
    throw new TypeError(
      `setupTelemetry: exporter must be one of ${[...EXPORTER_KINDS].join(', ')}, got ${JSON.stringify(options.exporter)}`,
    );
  }
  const serviceName = envString(env, 'OTEL_SERVICE_NAME') ?? serviceNameFromResourceAttributes(env) ?? options.serviceName;
  if (!serviceName || typeof serviceName !== 'string') {
    throw new TypeError('setupTelemetry: serviceName is required (or set OTEL_SERVICE_NAME)');
  }
  const metricExportIntervalMs =
    envNumber(env, 'OTEL_METRIC_EXPORT_INTERVAL') ?? positiveOption(options.metricExportIntervalMs, 'metricExportIntervalMs', 60_000);
  const exportTimeoutMs = envNumber(env, 'OTEL_EXPORTER_OTLP_TIMEOUT') ?? positiveOption(options.exportTimeoutMs, 'exportTimeoutMs', 10_000);
  const maxQueueSize = envNumber(env, 'OTEL_BSP_MAX_QUEUE_SIZE') ?? positiveOption(options.maxQueueSize, 'maxQueueSize', 2048);
  const scheduledDelayMs = envNumber(env, 'OTEL_BSP_SCHEDULE_DELAY') ?? positiveOption(options.scheduledDelayMs, 'scheduledDelayMs', 5000);
  const common = { serviceName, metricExportIntervalMs, exportTimeoutMs, maxQueueSize, scheduledDelayMs };

  if (envBool(env, 'OTEL_SDK_DISABLED')) {
    return { ...common, disabled: true, exporter: 'none', metrics: 'none' };
  }

  const tracesProtocol = protocolKind(
    envString(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ?? envString(env, 'OTEL_EXPORTER_OTLP_PROTOCOL'),
    'OTEL_EXPORTER_OTLP_PROTOCOL',
  );
  const optionOtlp = isOtlp(options.exporter) ? options.exporter : undefined;
  let exporter: TraceExporterKind | undefined;
  const envExporter = envString(env, 'OTEL_TRACES_EXPORTER')?.split(',')[0]?.trim();
  switch (envExporter) {
    case undefined:
      break;
    case 'none':
    case 'jaeger':
    case 'console':
      exporter = envExporter;
      break;
    case 'otlp':
      exporter = tracesProtocol ?? optionOtlp ?? 'otlp-http';
      break;
    default:
      diag.warn(`@fairway/telemetry-setup: ignoring OTEL_TRACES_EXPORTER=${envExporter}: expected otlp, jaeger, console or none`);
  }
  if (exporter === undefined) {
    exporter = options.exporter === undefined || optionOtlp ? (tracesProtocol ?? optionOtlp ?? 'otlp-http') : options.exporter;
  }

  let tracesDestination: string | undefined;
  if (isOtlp(exporter)) {
    const http = exporter !== 'otlp-grpc';
    const signal = envString(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
    const base = envString(env, 'OTEL_EXPORTER_OTLP_ENDPOINT') ?? options.endpoint ?? (http ? 'http://localhost:4318' : 'http://localhost:4317');
    tracesDestination = signal ?? (http ? withPath(base, '/v1/traces') : base);
  } else if (exporter === 'jaeger') {
    const endpoint = envString(env, 'OTEL_EXPORTER_JAEGER_ENDPOINT') ?? options.jaeger?.endpoint;
    const host = envString(env, 'OTEL_EXPORTER_JAEGER_AGENT_HOST') ?? options.jaeger?.host ?? 'localhost';
    const port = envString(env, 'OTEL_EXPORTER_JAEGER_AGENT_PORT') ?? String(options.jaeger?.port ?? 6832);
    tracesDestination = endpoint ?? `udp://${host}:${port}`;
  } else if (exporter === 'jaeger-json-file') {
    tracesDestination = options.file ?? `./${serviceName.replace(/[^\w.-]+/g, '_')}-traces.json`;
  }

  let metricsKind: ResolvedTelemetryConfig['metrics'];
  const envMetrics = envString(env, 'OTEL_METRICS_EXPORTER')?.split(',')[0]?.trim();
  const metricsProtocol =
    protocolKind(
      envString(env, 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL') ?? envString(env, 'OTEL_EXPORTER_OTLP_PROTOCOL'),
      'OTEL_EXPORTER_OTLP_PROTOCOL',
    ) ??
    (isOtlp(exporter) ? exporter : optionOtlp) ??
    'otlp-http';
  if (envMetrics === 'none') metricsKind = 'none';
  else if (envMetrics === 'console') metricsKind = 'console';
  else if (envMetrics === 'otlp') metricsKind = metricsProtocol;
  else {
    if (envMetrics !== undefined) diag.warn(`@fairway/telemetry-setup: ignoring OTEL_METRICS_EXPORTER=${envMetrics}: expected otlp, console or none`);
    const on = options.metrics ?? isOtlp(exporter);
    metricsKind = on ? metricsProtocol : 'none';
  }
  let metricsUrl: string | undefined;
  if (isOtlp(metricsKind)) {
    const http = metricsKind !== 'otlp-grpc';
    const signal = envString(env, 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT');
    const base = envString(env, 'OTEL_EXPORTER_OTLP_ENDPOINT') ?? options.endpoint ?? (http ? 'http://localhost:4318' : 'http://localhost:4317');
    metricsUrl = signal ?? (http ? withPath(base, '/v1/metrics') : base);
  }
  return {
    ...common,
    disabled: false,
    exporter,
    ...(tracesDestination !== undefined ? { tracesDestination } : {}),
    metrics: metricsKind,
    ...(metricsUrl !== undefined ? { metricsUrl } : {}),
  };
}

/** A span exporter loaded on first use (keeps the deprecated Jaeger exporter's dependencies off the start-up path). */
class LazySpanExporter implements SpanExporter {
  private exporter: SpanExporter | undefined;
  private readonly loading: Promise<SpanExporter | undefined>;
  constructor(load: () => Promise<SpanExporter>) {
    this.loading = load().then(
      (e) => (this.exporter = e),
      (error: unknown) => {
        diag.error('@fairway/telemetry-setup: could not load the span exporter', error);
        return undefined;
      },
    );
  }
  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    if (this.exporter) return this.exporter.export(spans, resultCallback);
    void this.loading.then((e) => {
      if (e) e.export(spans, resultCallback);
      else resultCallback({ code: ExportResultCode.FAILED, error: new Error('span exporter unavailable') });
    });
  }
  async shutdown(): Promise<void> {
    const e = await this.loading;
    await e?.shutdown();
  }
  async forceFlush(): Promise<void> {
    const e = await this.loading;
    await e?.forceFlush?.();
  }
}

function makeSpanExporter(config: ResolvedTelemetryConfig, options: SetupTelemetryOptions, env: Env): SpanExporter | undefined {
  switch (config.exporter) {
    case 'otlp-http': {
      const { OTLPTraceExporter } = requireHere('@opentelemetry/exporter-trace-otlp-proto') as typeof import('@opentelemetry/exporter-trace-otlp-proto');
      return new OTLPTraceExporter({ url: config.tracesDestination!, timeoutMillis: config.exportTimeoutMs });
    }
    case 'otlp-http-json': {
      // The OpenTelemetry JS HTTP exporter's own encoding: OTLP/JSON (protobuf JSON mapping, hex ids).
      const { OTLPTraceExporter } = requireHere('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http');
      return new OTLPTraceExporter({ url: config.tracesDestination!, timeoutMillis: config.exportTimeoutMs });
    }
    case 'otlp-grpc': {
      const { OTLPTraceExporter } = requireHere('@opentelemetry/exporter-trace-otlp-grpc') as typeof import('@opentelemetry/exporter-trace-otlp-grpc');
      return new OTLPTraceExporter({ url: config.tracesDestination!, timeoutMillis: config.exportTimeoutMs });
    }
    case 'jaeger': {
      const endpoint = envString(env, 'OTEL_EXPORTER_JAEGER_ENDPOINT') ?? options.jaeger?.endpoint;
      const host = envString(env, 'OTEL_EXPORTER_JAEGER_AGENT_HOST') ?? options.jaeger?.host;
      const portText = envString(env, 'OTEL_EXPORTER_JAEGER_AGENT_PORT');
      const port = portText !== undefined ? Number(portText) : options.jaeger?.port;
      return new LazySpanExporter(async () => {
        const { JaegerExporter } = await import('@opentelemetry/exporter-jaeger');
        return new JaegerExporter({
          ...(endpoint ? { endpoint } : {}),
          ...(host ? { host } : {}),
          ...(port !== undefined && Number.isFinite(port) ? { port } : {}),
        }) as unknown as SpanExporter;
      });
    }
    case 'jaeger-json-file':
      return new JaegerJsonFileExporter({
        file: config.tracesDestination!,
        ...(options.maxFileSpans !== undefined ? { maxSpans: options.maxFileSpans } : {}),
      });
    case 'console':
      return new (sdk().traceBase.ConsoleSpanExporter)();
    case 'none':
      return undefined;
  }
}

function makeMetricReader(config: ResolvedTelemetryConfig): IMetricReader | undefined {
  let exporter: PushMetricExporter;
  switch (config.metrics) {
    case 'none':
      return undefined;
    case 'console':
      exporter = new (sdk().sdkMetrics.ConsoleMetricExporter)();
      break;
    case 'otlp-http': {
      const { OTLPMetricExporter } = requireHere('@opentelemetry/exporter-metrics-otlp-proto') as typeof import('@opentelemetry/exporter-metrics-otlp-proto');
      exporter = new OTLPMetricExporter({ url: config.metricsUrl!, timeoutMillis: config.exportTimeoutMs });
      break;
    }
    case 'otlp-http-json': {
      const { OTLPMetricExporter } = requireHere('@opentelemetry/exporter-metrics-otlp-http') as typeof import('@opentelemetry/exporter-metrics-otlp-http');
      exporter = new OTLPMetricExporter({ url: config.metricsUrl!, timeoutMillis: config.exportTimeoutMs });
      break;
    }
    case 'otlp-grpc': {
      const { OTLPMetricExporter } = requireHere('@opentelemetry/exporter-metrics-otlp-grpc') as typeof import('@opentelemetry/exporter-metrics-otlp-grpc');
      exporter = new OTLPMetricExporter({ url: config.metricsUrl!, timeoutMillis: config.exportTimeoutMs });
      break;
    }
  }
  return new (sdk().sdkMetrics.PeriodicExportingMetricReader)({
    exporter,
    exportIntervalMillis: config.metricExportIntervalMs,
    exportTimeoutMillis: Math.min(config.exportTimeoutMs, config.metricExportIntervalMs),
  });
}

function globalTracerDelegate(): TracerProvider {
  const provider = trace.getTracerProvider();
  return provider instanceof ProxyTracerProvider ? provider.getDelegate() : provider;
}

function isNoopTracerProvider(provider: TracerProvider): boolean {
  return provider.constructor?.name === 'NoopTracerProvider';
}

function bounded(promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref?.();
    promise.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (error: unknown) => {
        clearTimeout(timer);
        diag.warn('@fairway/telemetry-setup: error while flushing or shutting down', error);
        resolve();
      },
    );
  });
}

/**
 * Sets up OpenTelemetry (traces, and metrics with OTLP) for this process in one call, and registers it as
 * the global provider that {@link createTelemetryObserver} and the server helpers use by default. Standard
 * `OTEL_*` variables win over the options (see {@link SetupTelemetryOptions}); `OTEL_SDK_DISABLED=true`
 * turns it all off. W3C trace context (and baggage) is the propagator unless `OTEL_PROPAGATORS` says
 * otherwise. Call `shutdown()` before the process exits so the last spans are sent (or the file is written).
 *
 * An unreachable collector changes nothing for the application: spans wait in a bounded queue
 * (`maxQueueSize`) and are dropped when it is full; export errors are not thrown.
 *
 * Throws (a `TypeError` or `RangeError` naming the option) on a wrong option, and when another global
 * tracer provider is already registered.
 */
export function setupTelemetry(options: SetupTelemetryOptions = {}): TelemetryHandle {
  const env = process.env;
  const config = resolveTelemetryConfig(options, env);
  const shutdownTimeoutMs = positiveOption(options.shutdownTimeoutMs, 'shutdownTimeoutMs', 5000);
  if (config.disabled) {
    return { config, forceFlush: async () => {}, shutdown: async () => {} };
  }
  const existing = globalTracerDelegate();
  if (!isNoopTracerProvider(existing)) {
    throw new Error(
      'setupTelemetry: a global OpenTelemetry tracer provider is already registered (by an earlier setupTelemetry ' +
        'that was not shut down, or by your own SDK set-up). Shut that one down first, or keep your own set-up ' +
        'and pass nothing: createTelemetryObserver() uses the global provider.',
    );
  }
  const { NodeSDK, resources, traceBase } = sdk();
  const { BatchSpanProcessor, SimpleSpanProcessor, ConsoleSpanExporter } = traceBase;
  const { envDetector, hostDetector, resourceFromAttributes, defaultResource } = resources;
  const exporter = makeSpanExporter(config, options, env);
  const processors: SpanProcessor[] = [];
  if (exporter) {
    processors.push(
      exporter instanceof ConsoleSpanExporter
        ? new SimpleSpanProcessor(exporter)
        : new BatchSpanProcessor(exporter, {
            maxQueueSize: config.maxQueueSize,
            maxExportBatchSize: Math.min(512, config.maxQueueSize),
            scheduledDelayMillis: config.scheduledDelayMs,
            exportTimeoutMillis: config.exportTimeoutMs,
          }),
    );
  }
  const reader = makeMetricReader(config);
  const resource = defaultResource().merge(
    resourceFromAttributes({
      ...options.resourceAttributes,
      'process.pid': process.pid,
      'process.runtime.name': 'nodejs',
      'process.runtime.version': process.versions.node,
      ...(options.serviceVersion ? { 'service.version': options.serviceVersion } : {}),
    }),
  );
  const nodeSdk = new NodeSDK({
    serviceName: config.serviceName,
    resource,
    // envDetector reads OTEL_RESOURCE_ATTRIBUTES; the process detector is left out because it records the
    // command line, which may carry credentials.
    resourceDetectors: [envDetector, hostDetector],
    spanProcessors: processors,
    metricReaders: reader ? [reader] : [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  nodeSdk.start();
  const ourTracer = processors.length > 0 ? globalTracerDelegate() : undefined;
  const ourMeter = reader ? metrics.getMeterProvider() : undefined;
  let stopped: Promise<void> | undefined;
  return {
    config,
    async forceFlush() {
      const work: Promise<unknown>[] = [];
      const t = ourTracer as { forceFlush?: () => Promise<void> } | undefined;
      if (t?.forceFlush) work.push(t.forceFlush());
      const m = ourMeter as { forceFlush?: () => Promise<void> } | undefined;
      if (m?.forceFlush) work.push(m.forceFlush());
      await bounded(Promise.all(work), shutdownTimeoutMs);
    },
    shutdown() {
      stopped ??= (async () => {
        await bounded(nodeSdk.shutdown(), shutdownTimeoutMs);
        if (ourTracer && globalTracerDelegate() === ourTracer) {
          trace.disable();
          propagation.disable();
          context.disable();
        }
        if (ourMeter && metrics.getMeterProvider() === ourMeter) metrics.disable();
      })();
      return stopped;
    },
  };
}
