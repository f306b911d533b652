/**
 * `@fairway/telemetry-setup`: `setupTelemetry`, the OpenTelemetry SDK (traces and metrics) with an exporter in
 * one call (OTLP over gRPC, HTTP/protobuf or HTTP/JSON, the deprecated Jaeger exporter, or a Jaeger JSON
 * file), honouring the standard `OTEL_*` variables. A separate install from `fairway-grpc` and
 * `@fairway/telemetry` (which use the OpenTelemetry API only), so that services with their own SDK set-up do
 * not carry this one: `npm install @fairway/telemetry-setup`.
 *
 * @packageDocumentation
 */
export { setupTelemetry, resolveTelemetryConfig } from './setup.js';
export type { SetupTelemetryOptions, ResolvedTelemetryConfig, TelemetryHandle, TraceExporterKind } from '@fairway/telemetry';
export { JaegerJsonFileExporter, spansToJaegerTraces } from './jaeger-json-exporter.js';
export type { JaegerJsonFileExporterOptions } from './jaeger-json-exporter.js';
