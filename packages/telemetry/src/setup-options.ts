/**
 * The options and results of `setupTelemetry` (implemented in `@fairway/telemetry-setup`, which carries the
 * OpenTelemetry SDK and exporters). Types only: they live here so that `fairway-grpc` can describe
 * `setupTelemetry` without making every user install the SDK.
 */
import type { Attributes } from '@opentelemetry/api';

/**
 * Where spans go.
 * - `otlp-http`: OTLP over HTTP/protobuf (`POST <endpoint>/v1/traces`, default `http://localhost:4318`).
 * - `otlp-http-json`: OTLP over HTTP with JSON bodies (the OpenTelemetry JS HTTP exporter's encoding; same URLs
 *   as `otlp-http`). `OTEL_EXPORTER_OTLP_PROTOCOL=http/json` selects it.
 * - `otlp-grpc`: OTLP over gRPC (default `http://localhost:4317`).
 * - `jaeger`: `@opentelemetry/exporter-jaeger` (Thrift over UDP to an agent on `localhost:6832`, or HTTP to a
 *   collector when `jaeger.endpoint` is set). **Deprecated upstream**: Jaeger ingests OTLP natively since
 *   v1.35 and the OpenTelemetry project no longer maintains this exporter; prefer `otlp-grpc`/`otlp-http`.
 * - `jaeger-json-file`: Jaeger's JSON trace format written to `file` on flush/shutdown, which the Jaeger UI
 *   opens from a file (for machines without a Jaeger).
 * - `console`: each span printed to stdout (debugging).
 * - `none`: no spans are exported (trace context still propagates).
 */
export type TraceExporterKind = 'otlp-grpc' | 'otlp-http' | 'otlp-http-json' | 'jaeger' | 'jaeger-json-file' | 'console' | 'none';

/**
 * Options of {@link setupTelemetry}. Every option is a default: the matching standard `OTEL_*` variable,
 * when set, wins, so an operator can redirect telemetry without a code change.
 */
export interface SetupTelemetryOptions {
  /** `service.name` of this process. Required unless `OTEL_SERVICE_NAME` (or `service.name` in `OTEL_RESOURCE_ATTRIBUTES`) is set, which wins. */
  readonly serviceName?: string;
  /** `service.version`. Default none. */
  readonly serviceVersion?: string;
  /** More resource attributes (`deployment.environment`, ...). `OTEL_RESOURCE_ATTRIBUTES` wins per key. Default none. */
  readonly resourceAttributes?: Attributes;
  /**
   * Span exporter. Default `otlp-http`. Overridden by `OTEL_TRACES_EXPORTER` (`otlp`, `jaeger`, `console`,
   * `none`) and, for OTLP, by `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` / `OTEL_EXPORTER_OTLP_PROTOCOL`
   * (`grpc`, `http/protobuf`, `http/json`).
   */
  readonly exporter?: TraceExporterKind;
  /**
   * OTLP base URL, e.g. `http://collector:4318` (HTTP; `/v1/traces` and `/v1/metrics` are appended) or
   * `http://collector:4317` (gRPC). Default `http://localhost:4318` / `http://localhost:4317`. Overridden by
   * `OTEL_EXPORTER_OTLP_ENDPOINT` and the per-signal `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` /
   * `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` (used as given).
   */
  readonly endpoint?: string;
  /** For `jaeger-json-file`: the path to write. Default `./<serviceName>-traces.json`. */
  readonly file?: string;
  /** For `jaeger-json-file`: most spans kept (and written), default 50000; later ones are dropped and counted in the file. */
  readonly maxFileSpans?: number;
  /**
   * For `jaeger` (deprecated exporter): agent `host` (default `localhost`) and UDP `port` (default 6832), or a
   * collector `endpoint` (e.g. `http://localhost:14268/api/traces`). `OTEL_EXPORTER_JAEGER_AGENT_HOST`,
   * `OTEL_EXPORTER_JAEGER_AGENT_PORT` and `OTEL_EXPORTER_JAEGER_ENDPOINT` win.
   */
  readonly jaeger?: { readonly host?: string; readonly port?: number; readonly endpoint?: string };
  /**
   * Export metrics. Default: `true` with an OTLP span exporter, else `false`. Overridden by
   * `OTEL_METRICS_EXPORTER` (`otlp`, `console`, `none`). Metrics go over OTLP (protocol from
   * `OTEL_EXPORTER_OTLP_METRICS_PROTOCOL` / `OTEL_EXPORTER_OTLP_PROTOCOL`, else the span exporter's).
   */
  readonly metrics?: boolean;
  /** Metric export interval in ms. Default 60000. `OTEL_METRIC_EXPORT_INTERVAL` wins. */
  readonly metricExportIntervalMs?: number;
  /** Timeout of one export in ms. Default 10000. `OTEL_EXPORTER_OTLP_TIMEOUT` wins. */
  readonly exportTimeoutMs?: number;
  /** Spans queued for export at most; further spans are dropped (bounded memory). Default 2048. `OTEL_BSP_MAX_QUEUE_SIZE` wins. */
  readonly maxQueueSize?: number;
  /** Delay between span batches in ms. Default 5000. `OTEL_BSP_SCHEDULE_DELAY` wins. */
  readonly scheduledDelayMs?: number;
  /** Longest `shutdown()` waits for the last export, in ms. Default 5000. */
  readonly shutdownTimeoutMs?: number;
}

/** What {@link setupTelemetry} decided, after the environment was applied. */
export interface ResolvedTelemetryConfig {
  readonly disabled: boolean;
  readonly serviceName: string;
  readonly exporter: TraceExporterKind;
  /** Full URL spans go to (OTLP), the Jaeger agent/collector, or the file path; undefined for `console`/`none`. */
  readonly tracesDestination?: string;
  readonly metrics: 'otlp-grpc' | 'otlp-http' | 'otlp-http-json' | 'console' | 'none';
  readonly metricsUrl?: string;
  readonly metricExportIntervalMs: number;
  readonly exportTimeoutMs: number;
  readonly maxQueueSize: number;
  readonly scheduledDelayMs: number;
}

/** A running telemetry set-up. */
export interface TelemetryHandle {
  /** The configuration in effect. */
  readonly config: ResolvedTelemetryConfig;
  /** Exports what is pending now (and, for `jaeger-json-file`, writes the file). Never rejects. */
  forceFlush(): Promise<void>;
  /**
   * Flushes (bounded by `shutdownTimeoutMs`), stops the exporters and unregisters the global providers this
   * set-up registered, so `setupTelemetry` may be called again. Idempotent; never rejects.
   */
  shutdown(): Promise<void>;
}
