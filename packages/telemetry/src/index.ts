/**
 * `@fairway/telemetry`: OpenTelemetry spans per call and per attempt, W3C propagation, golden metrics and
 * one-call exporter set-up (OTLP, Jaeger, Jaeger JSON file).
 *
 * @packageDocumentation
 */
export { createTelemetryObserver } from './observer.js';
export type { TelemetryObserverOptions } from './observer.js';
export { continueTrace, startServerSpan, traceGrpcHandlers } from './server.js';
export type { ServerTraceOptions, ServerSpan, ServerCallLike } from './server.js';
export { extractContext, injectContext } from './propagation.js';
export type { IncomingHeaders } from './propagation.js';
export { setupTelemetry, resolveTelemetryConfig } from './setup.js';
export type { SetupTelemetryOptions, ResolvedTelemetryConfig, TelemetryHandle, TraceExporterKind } from './setup.js';
export {
  JaegerJsonFileExporter,
  spansToJaegerTraces,
  readJaegerJsonFile,
  mergeJaegerJsonFiles,
  jaegerFormatProblem,
} from './jaeger-json.js';
export type {
  JaegerJsonFileExporterOptions,
  JaegerTraceFile,
  JaegerTrace,
  JaegerSpan,
  JaegerProcess,
  JaegerTag,
  JaegerReference,
  JaegerLog,
} from './jaeger-json.js';
export { FairwayAttributes, FairwayMetrics, FairwayEvents } from './attributes.js';
export { OVERFLOW_ATTRIBUTE_VALUE, LATENCY_BUCKETS_MS } from './metrics.js';
export type { CardinalityLimits } from './metrics.js';
export { TELEMETRY_SCOPE_NAME, TELEMETRY_VERSION } from './version.js';
