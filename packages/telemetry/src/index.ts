/**
 * `@fairway/telemetry`: OpenTelemetry spans per call and per attempt, W3C propagation and golden metrics,
 * through the OpenTelemetry **API** only: spans and metrics go to whatever SDK the application set up (its own,
 * or `setupTelemetry` from `@fairway/telemetry-setup`), and nowhere when there is none. The SDK and the
 * exporters are not dependencies of this package.
 *
 * @packageDocumentation
 */
export { createTelemetryObserver } from './observer.js';
export type { TelemetryObserverOptions } from './observer.js';
export { continueTrace, startServerSpan, traceGrpcHandlers } from './server.js';
export type { ServerTraceOptions, ServerSpan, ServerCallLike } from './server.js';
export { extractContext, injectContext } from './propagation.js';
export type { IncomingHeaders } from './propagation.js';
export type { SetupTelemetryOptions, ResolvedTelemetryConfig, TelemetryHandle, TraceExporterKind } from './setup-options.js';
export { readJaegerJsonFile, mergeJaegerJsonFiles, jaegerFormatProblem } from './jaeger-json.js';
export type {
  JaegerTraceFile,
  JaegerTrace,
  JaegerSpan,
  JaegerProcess,
  JaegerTag,
  JaegerReference,
  JaegerLog,
} from './jaeger-json.js';
export { FairwayAttributes, FairwayMetrics } from './attributes.js';
export { OVERFLOW_ATTRIBUTE_VALUE, LATENCY_BUCKETS_MS } from './metrics.js';
export type { CardinalityLimits } from './metrics.js';
export { TELEMETRY_SCOPE_NAME, TELEMETRY_VERSION } from './version.js';
