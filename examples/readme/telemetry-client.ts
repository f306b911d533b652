// example: examples/readme/telemetry-client.ts
// A span per call and per attempt, exported over OTLP to Jaeger (or any OpenTelemetry collector).
import { credentials } from '@grpc/grpc-js';
import { createClient, createTelemetryObserver, setupTelemetry } from 'fairway-grpc';
import { loadEcho } from '@fairway/testing'; // any generated or proto-loader client class works the same

// Once, at start-up. OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, ... when set, win over these options.
const telemetry = setupTelemetry({ serviceName: 'quote-driver', exporter: 'otlp-grpc', endpoint: 'http://localhost:4317' });

const { EchoClient } = loadEcho();
const client = createClient(EchoClient, process.env.PRICER_TARGET ?? 'static:///127.0.0.1:50051@eu-west-1a', credentials.createInsecure(), {
  zone: 'eu-west-1a',
  observers: [createTelemetryObserver()], // call span, one child span per attempt, W3C traceparent in metadata
  retry: { attemptTimeoutMs: 500 },
});

client.Unary({ message: 'hello' }, { deadline: Date.now() + 5000 }, async (err: Error | null) => {
  console.log(err ? `failed: ${err.message}` : 'ok: open Jaeger and search for service quote-driver');
  client.close();
  await telemetry.shutdown(); // sends what is still queued
  process.exitCode = err ? 1 : 0;
});
