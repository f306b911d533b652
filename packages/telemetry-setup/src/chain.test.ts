// End to end: client -> pricer -> publisher, each a separate process with setupTelemetry (configured only
// through OTEL_* variables) and Fairway's createClient with the telemetry observer, exporting OTLP (gRPC and
// HTTP/protobuf) to the receiver stand-in. One trace per call with the right parent links; no metadata value
// (a secret, a bearer credential) in anything exported.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { ReceivedSpan } from '@fairway/testing';
import { chainSuite } from './test-support/chain-processes.js';

const SERVER = 2;
const CLIENT = 3;

describe('a chain of three processes is one trace at the OTLP receiver', () => {
  const chain = chainSuite();

  test('client -> pricer -> publisher: parent links, attributes, metrics, and no secret anywhere', { timeout: 90_000 }, async () => {
    const receiver = await chain.startReceiver();
    const secret = `s3cr3t-${randomBytes(12).toString('hex')}`;
    const publisher = await chain.start({
      CHAIN_ROLE: 'publisher',
      CHAIN_ZONE: 'zone-b',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.grpcEndpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
    });
    const pricer = await chain.start({
      CHAIN_ROLE: 'pricer',
      CHAIN_ZONE: 'zone-a',
      CHAIN_DOWNSTREAM: `static:///127.0.0.1:${publisher.port}@zone-b`,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.httpEndpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    });
    const client = await chain.start({
      CHAIN_ROLE: 'client',
      CHAIN_ZONE: 'zone-a',
      CHAIN_DOWNSTREAM: `static:///127.0.0.1:${pricer.port}@zone-a`,
      CHAIN_CALLS: '3',
      CHAIN_SECRET: secret,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.grpcEndpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
    });
    const results = await client.result();
    assert.equal(results.length, 3);
    assert.ok(results.every((r) => r.ok), `calls: ${JSON.stringify(results)}; client stderr: ${client.stderr()}`);
    assert.ok(results.every((r) => String(r.reply?.publication_id).startsWith('pub-')));
    // The servers flush on stop.
    await Promise.all([pricer.stop(), publisher.stop()]);

    const byTrace = (spans: readonly ReceivedSpan[]) => {
      const m = new Map<string, ReceivedSpan[]>();
      for (const s of spans) m.set(s.traceId, [...(m.get(s.traceId) ?? []), s]);
      return m;
    };
    const spans = await receiver.waitForSpans((s) => {
      const traces = [...byTrace(s.filter((x) => x.scope === '@fairway/telemetry')).values()];
      return traces.filter((t) => t.length >= 6).length >= 3;
    }, 30_000);
    const traces = [...byTrace(spans.filter((x) => x.scope === '@fairway/telemetry')).values()];
    assert.equal(traces.length, 3, 'one trace per client call');
    for (const t of traces) {
      assert.equal(t.length, 6, `spans: ${t.map((s) => `${s.serviceName}:${s.name}`).join(', ')}`);
      const find = (service: string, name: string) => {
        const s = t.find((x) => x.serviceName === service && x.name === name);
        assert.ok(s, `${service} ${name} in ${t.map((x) => `${x.serviceName}:${x.name}`).join(', ')}`);
        return s;
      };
      const clientCall = find('client', 'fairway.chain.Pricer/Quote');
      const clientAttempt = find('client', 'fairway.chain.Pricer/Quote attempt 1');
      const pricerServer = find('pricer', 'fairway.chain.Pricer/Quote');
      const pricerCall = find('pricer', 'fairway.chain.Publisher/Publish');
      const pricerAttempt = find('pricer', 'fairway.chain.Publisher/Publish attempt 1');
      const publisherServer = find('publisher', 'fairway.chain.Publisher/Publish');

      assert.equal(clientCall.parentSpanId, undefined, 'the client call is the root');
      assert.equal(clientCall.kind, CLIENT);
      assert.equal(clientAttempt.parentSpanId, clientCall.spanId);
      assert.equal(pricerServer.kind, SERVER);
      assert.equal(pricerServer.parentSpanId, clientAttempt.spanId, 'the server continues the attempt that reached it');
      assert.equal(pricerCall.parentSpanId, pricerServer.spanId, 'a call made in a handler is a child of its server span');
      assert.equal(pricerAttempt.parentSpanId, pricerCall.spanId);
      assert.equal(publisherServer.parentSpanId, pricerAttempt.spanId);

      assert.equal(clientCall.attributes['rpc.system'], 'grpc');
      assert.equal(clientCall.attributes['rpc.service'], 'fairway.chain.Pricer');
      assert.equal(clientCall.attributes['rpc.method'], 'Quote');
      assert.equal(clientCall.attributes['rpc.grpc.status_code'], 0);
      assert.equal(clientAttempt.attributes['fairway.attempt'], 1);
      assert.equal(clientAttempt.attributes['fairway.endpoint.address'], `127.0.0.1:${pricer.port}`);
      assert.equal(clientAttempt.attributes['fairway.endpoint.zone'], 'zone-a');
      assert.equal(clientAttempt.attributes['fairway.client.zone'], 'zone-a');
      assert.equal(clientAttempt.attributes['fairway.zone.mode'], 'local');
      assert.equal(typeof clientAttempt.attributes['fairway.pick.reason'], 'string');
      assert.ok(String(clientAttempt.attributes['fairway.pick.reason']).length > 0);
      assert.equal(pricerAttempt.attributes['fairway.endpoint.address'], `127.0.0.1:${publisher.port}`);
      assert.equal(pricerAttempt.attributes['fairway.endpoint.zone'], 'zone-b');
      assert.equal(pricerAttempt.attributes['fairway.cross_zone'], true);
      assert.equal(publisherServer.attributes['rpc.grpc.status_code'], 0);
    }
    // Each process exported with the protocol its OTEL_* variables chose.
    assert.ok(spans.some((s) => s.serviceName === 'client' && s.transport === 'grpc'));
    assert.ok(spans.some((s) => s.serviceName === 'pricer' && s.transport === 'http'));
    assert.ok(spans.some((s) => s.serviceName === 'publisher' && s.transport === 'grpc'));

    // Golden metrics arrived too (client and pricer make calls; the pricer's are cross-zone).
    const points = await receiver.waitForMetricPoints(
      (p) => p.some((x) => x.name === 'fairway.client.calls' && x.serviceName === 'pricer') &&
        p.some((x) => x.name === 'fairway.client.calls' && x.serviceName === 'client'),
      30_000,
    );
    const crossZone = points.filter((p) => p.name === 'fairway.client.cross_zone_attempts' && p.serviceName === 'pricer');
    assert.ok(crossZone.length > 0 && crossZone.some((p) => p.attributes['fairway.endpoint.zone'] === 'zone-b'));
    const clientCalls = points.filter((p) => p.name === 'fairway.client.calls' && p.serviceName === 'client');
    assert.equal(Math.max(...clientCalls.map((p) => p.value ?? 0)), 3, 'cumulative: three calls');

    // The secret travelled in metadata (authorization, x-api-key, x-session-token) through a traced server,
    // yet appears in no exported span, event, resource or metric attribute, nor anywhere in the raw bytes.
    const everything = JSON.stringify([receiver.spans(), receiver.metricPoints()], (_k, v) => (typeof v === 'bigint' ? String(v) : v));
    assert.ok(!everything.includes(secret), 'secret found in exported attributes');
    assert.ok(!everything.includes('Bearer'), 'credential header value found in exported attributes');
    for (const raw of receiver.rawPayloads()) assert.equal(raw.indexOf(secret), -1, 'secret found in raw OTLP bytes');
    assert.ok(receiver.rawPayloads().length > 0);
  });
});
