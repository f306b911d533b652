import { test, describe, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPMetricExporter as GrpcMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPMetricExporter as JsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { startOtlpReceiver, otlpProtoDirectory, OTLP_PROTO_SOURCE, type OtlpReceiver } from './otlp-receiver.js';

describe('OTLP receiver stand-in', () => {
  let receiver: OtlpReceiver;
  before(async () => {
    receiver = await startOtlpReceiver();
  });
  after(async () => {
    await receiver?.close();
  });

  test('the proto definitions come from the pinned npm package', () => {
    const dir = otlpProtoDirectory();
    assert.ok(existsSync(join(dir, 'opentelemetry/proto/collector/trace/v1/trace_service.proto')));
    assert.ok(dir.includes(OTLP_PROTO_SOURCE.alias));
    assert.equal(OTLP_PROTO_SOURCE.version, '0.38.0');
  });

  for (const transport of ['grpc', 'http', 'http-json'] as const) {
    test(`decodes spans sent by the real OTLP ${transport} exporter`, { timeout: 30_000 }, async () => {
      receiver.clear();
      const exporter =
        transport === 'grpc'
          ? new GrpcTraceExporter({ url: receiver.grpcEndpoint })
          : transport === 'http'
            ? new ProtoTraceExporter({ url: `${receiver.httpEndpoint}/v1/traces`, compression: CompressionAlgorithm.GZIP })
            : new JsonTraceExporter({ url: `${receiver.httpEndpoint}/v1/traces` }); // OTLP/JSON
      const provider = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': `svc-${transport}` }),
        spanProcessors: [new SimpleSpanProcessor(exporter)],
      });
      const tracer = provider.getTracer('receiver-test');
      const parent = tracer.startSpan('parent', { kind: SpanKind.CLIENT });
      const child = tracer.startSpan(
        'child',
        { attributes: { s: 'text', i: 42, d: 1.5, b: true, arr: ['x', 'y'] } },
        trace.setSpan(ROOT_CONTEXT, parent),
      );
      child.addEvent('evt', { k: 'v' });
      child.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
      child.end();
      parent.end();
      await provider.forceFlush();
      const spans = await receiver.waitForSpans((s) => s.length >= 2, 15_000);
      const p = spans.find((s) => s.name === 'parent')!;
      const c = spans.find((s) => s.name === 'child')!;
      assert.equal(p.traceId, parent.spanContext().traceId);
      assert.equal(p.spanId, parent.spanContext().spanId);
      assert.equal(p.parentSpanId, undefined);
      assert.equal(p.kind, 3, 'CLIENT');
      assert.equal(c.parentSpanId, p.spanId);
      assert.equal(c.serviceName, `svc-${transport}`);
      assert.deepEqual(c.attributes, { s: 'text', i: 42, d: 1.5, b: true, arr: ['x', 'y'] });
      assert.deepEqual(c.status, { code: 2, message: 'boom' });
      assert.deepEqual(c.events.map((e) => [e.name, e.attributes]), [['evt', { k: 'v' }]]);
      assert.ok(c.endTimeUnixNano >= c.startTimeUnixNano && c.startTimeUnixNano > 1_600_000_000_000_000_000n);
      assert.equal(c.transport, transport);
      assert.ok(receiver.rawPayloads().length >= 1);
      await provider.shutdown();
    });

    test(`decodes metrics sent by the real OTLP ${transport} exporter`, { timeout: 30_000 }, async () => {
      receiver.clear();
      const exporter =
        transport === 'grpc'
          ? new GrpcMetricExporter({ url: receiver.grpcEndpoint })
          : transport === 'http'
            ? new ProtoMetricExporter({ url: `${receiver.httpEndpoint}/v1/metrics` })
            : new JsonMetricExporter({ url: `${receiver.httpEndpoint}/v1/metrics` });
      const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
      const provider = new MeterProvider({
        resource: resourceFromAttributes({ 'service.name': 'metrics-svc' }),
        readers: [reader],
      });
      const meter = provider.getMeter('receiver-test');
      meter.createCounter('test.calls').add(3, { zone: 'a' });
      meter.createHistogram('test.latency', { unit: 'ms' }).record(12, { zone: 'a' });
      await provider.forceFlush();
      const points = await receiver.waitForMetricPoints((p) => p.some((x) => x.name === 'test.latency'), 15_000);
      const calls = points.find((p) => p.name === 'test.calls')!;
      assert.equal(calls.type, 'sum');
      assert.equal(calls.value, 3);
      assert.deepEqual(calls.attributes, { zone: 'a' });
      assert.equal(calls.serviceName, 'metrics-svc');
      const latency = points.find((p) => p.name === 'test.latency')!;
      assert.equal(latency.type, 'histogram');
      assert.equal(latency.unit, 'ms');
      assert.equal(latency.count, 1);
      assert.equal(latency.sum, 12);
      await provider.shutdown();
    });
  }

  test('refuses what is not OTLP protobuf or OTLP/JSON, with a reason', { timeout: 10_000 }, async () => {
    const before = receiver.requestCounts().rejected;
    const text = await fetch(`${receiver.httpEndpoint}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: '{}',
    });
    assert.equal(text.status, 415);
    // Protobuf's canonical JSON would carry ids in base64; OTLP/JSON requires hex.
    const base64Id = await fetch(`${receiver.httpEndpoint}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'AAECAwQFBgcICQoLDA0ODw==', spanId: 'AAECAwQFBgc=', name: 'x' }] }] }] }),
    });
    assert.equal(base64Id.status, 400);
    assert.match(await base64Id.text(), /traceId .* not hex/);
    const wrongPath = await fetch(`${receiver.httpEndpoint}/v1/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: new Uint8Array([1, 2, 3]),
    });
    assert.equal(wrongPath.status, 404);
    const garbage = await fetch(`${receiver.httpEndpoint}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]),
    });
    assert.equal(garbage.status, 400);
    assert.match(await garbage.text(), /cannot decode/);
    assert.equal(receiver.requestCounts().rejected, before + 4);
  });

  test('waitForSpans rejects after its timeout naming what arrived', { timeout: 10_000 }, async () => {
    receiver.clear();
    await assert.rejects(receiver.waitForSpans((s) => s.length > 0, 200), /within 200ms; received 0 spans/);
  });

  test('binds loopback only', { timeout: 10_000 }, async () => {
    assert.match(receiver.grpcEndpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(receiver.httpEndpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    await assert.rejects(startOtlpReceiver({ host: '0.0.0.0' as never }), /loopback/);
  });
});
