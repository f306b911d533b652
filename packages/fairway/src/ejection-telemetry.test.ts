// Outlier ejection as telemetry, end to end on loopback: real grpc-js servers (one answers UNAVAILABLE at once),
// Fairway's client with the telemetry observer, an in-memory span exporter and metric reader. The balancer
// (pure core) emits the event, the grpc policy hands it to the observers' onEndpointEvent, telemetry puts it
// on the failing attempt's span and counts it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, status, type Client } from '@grpc/grpc-js';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { DataPointType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { echoUnary, loadEcho, startEchoBackend, type EchoBackend } from '@fairway/testing';
import { createClient, createTelemetryObserver } from './index.js';

class CollectingReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

const { EchoClient } = loadEcho();
const backends: EchoBackend[] = [];
const clients: Client[] = [];
after(() => {
  for (const c of clients) c.close();
  for (const b of backends) b.forceStop();
});

test('an ejected pod shows as a fairway.ejected event on the failing attempt and in fairway.client.ejected; its re-admission likewise', { timeout: 60_000 }, async () => {
  const pods = await Promise.all(Array.from({ length: 4 }, (_, i) => startEchoBackend({ id: `pod-${i}`, serviceTimeMs: 2 })));
  backends.push(...pods);
  const bad = pods[0]!;
  bad.setServiceTime(0);
  bad.setFailCode(status.UNAVAILABLE);
  const log: string[] = [];
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const reader = new CollectingReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const client = createClient(EchoClient, `static:///${pods.map((p) => p.address).join(',')}`, credentials.createInsecure(), {
    observers: [createTelemetryObserver({ tracerProvider, meterProvider })],
    // The failure penalty alone keeps a fast-failing pod to a few calls, often never 2 in a row: 1 ejects here.
    outlierEjection: { consecutiveFailures: 1, baseEjectionMs: 300 },
    slowStart: false,
    logger: { info: (m: string) => log.push(m), warn: (m: string) => log.push(m), error: (m: string) => log.push(m) },
  });
  clients.push(client);
  const sumOf = async (name: string): Promise<Record<string, number>> => {
    const { resourceMetrics } = await reader.collect();
    const out: Record<string, number> = {};
    for (const m of resourceMetrics.scopeMetrics.flatMap((s) => s.metrics)) {
      if (m.descriptor.name !== name || m.dataPointType !== DataPointType.SUM) continue;
      for (const p of m.dataPoints) {
        const key = `${String(p.attributes['fairway.ejection.reason'])} ${String(p.attributes['fairway.endpoint.address'])}`;
        out[key] = (out[key] ?? 0) + (p.value as number);
      }
    }
    return out;
  };
  const withEvent = (name: string) => exporter.getFinishedSpans().filter((s) => s.events.some((e) => e.name === name));

  // Calls until the pod is ejected (bounded: 400 calls, 4 at a time).
  for (let i = 0; i < 100 && withEvent('fairway.ejected').length === 0; i++) {
    await Promise.all(Array.from({ length: 4 }, () => echoUnary(client, {}, { deadlineMs: 5_000 })));
  }
  const ejectedOn = withEvent('fairway.ejected');
  assert.ok(ejectedOn.length >= 1, `an ejection event on some span; log:\n${log.join('\n')}`);
  const span = ejectedOn[0]!;
  assert.match(span.name, /attempt 1$/, 'on the attempt span whose failure tipped it');
  assert.equal(span.attributes['fairway.endpoint.address'], bad.address);
  assert.equal(span.attributes['rpc.grpc.status_code'], status.UNAVAILABLE);
  const ev = span.events.find((e) => e.name === 'fairway.ejected')!;
  assert.equal(ev.attributes?.['fairway.ejection.reason'], 'consecutive-failures');
  assert.equal(ev.attributes?.['fairway.ejection.duration_ms'], 300);
  assert.match(String(ev.attributes?.['fairway.ejection.detail']), /ejected for 300 ms \(ejection 1 in a row\): 1 failures or timeouts in a row/);
  assert.equal((await sumOf('fairway.client.ejected'))[`consecutive-failures ${bad.address}`], 1);

  // Healed: after the ejection time one probe call re-admits it (calls until it does, bounded).
  bad.setFailCode(undefined);
  bad.setServiceTime(2);
  for (let i = 0; i < 200 && withEvent('fairway.readmitted').length === 0; i++) {
    await Promise.all(Array.from({ length: 4 }, () => echoUnary(client, {}, { deadlineMs: 5_000 })));
    await new Promise((r) => setTimeout(r, 10));
  }
  const readmittedOn = withEvent('fairway.readmitted');
  assert.equal(readmittedOn.length, 1, 'one re-admission, on the probe');
  assert.equal(readmittedOn[0]!.attributes['fairway.endpoint.address'], bad.address);
  assert.equal(readmittedOn[0]!.attributes['rpc.grpc.status_code'], status.OK);
  assert.match(String(readmittedOn[0]!.attributes['fairway.pick.reason']), /re-admission probe/);
  assert.equal((await sumOf('fairway.client.readmitted'))[`consecutive-failures ${bad.address}`], 1);
});
