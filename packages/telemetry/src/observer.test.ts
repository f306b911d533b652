import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { AlwaysOffSampler, BasicTracerProvider, InMemorySpanExporter, SamplingDecision, SimpleSpanProcessor, type ReadableSpan, type Sampler } from '@opentelemetry/sdk-trace-base';
import { MeterProvider, MetricReader, DataPointType, type MetricData } from '@opentelemetry/sdk-metrics';
import type { EjectionEvent, PickExplanation } from '@fairway/core';
import { createTelemetryObserver } from './observer.js';
import { FairwayMetrics as M } from './attributes.js';

class CollectingReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

function harness(observerOptions: Parameters<typeof createTelemetryObserver>[0] = {}, sampler?: Sampler) {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ ...(sampler ? { sampler } : {}), spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const reader = new CollectingReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const factory = createTelemetryObserver({ tracerProvider, meterProvider, ...observerOptions });
  const metrics = async (): Promise<MetricData[]> => {
    const { resourceMetrics } = await reader.collect();
    return resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
  };
  return { exporter, factory, metrics, tracerProvider, spans: (): ReadableSpan[] => exporter.getFinishedSpans() };
}

function sumOf(metrics: MetricData[], name: string, match: Record<string, unknown> = {}): number {
  const m = metrics.find((x) => x.descriptor.name === name);
  if (!m) return 0;
  let total = 0;
  for (const p of m.dataPoints) {
    if (Object.entries(match).every(([k, v]) => p.attributes[k] === v)) {
      total += m.dataPointType === DataPointType.HISTOGRAM ? (p.value as { count: number }).count : (p.value as number);
    }
  }
  return total;
}

const pickA: PickExplanation = {
  endpointKey: 'pricer-a#1',
  address: '10.0.0.1:50051',
  zone: 'zone-a',
  instance: 'pricer-a',
  incarnation: '1764032400123-4f1c',
  clientZone: 'zone-a',
  zoneMode: 'local',
  reason: 'p2c 10.0.0.1:50051 cost=12.1ms (rtt=6.0ms x 2) < 10.0.0.3:50051 cost=30.0ms (rtt=30.0ms x 1)',
};
const pickB: PickExplanation = {
  endpointKey: 'pricer-b#1',
  address: '[::1]:50052',
  zone: 'zone-b',
  instance: 'pricer-b',
  incarnation: '1764032400999-aa01',
  clientZone: 'zone-a',
  zoneMode: 'spill',
  reason: 'only one READY endpoint outside the avoided set',
};

describe('createTelemetryObserver', () => {
  test('a retried call: one CLIENT call span, one child span per attempt with endpoint, zones, pick and retry reasons', { timeout: 10_000 }, async () => {
    const h = harness();
    const call = h.factory.onCallStart({ method: '/trading.Pricer/Quote', kind: 'unary', target: 'etcd://user:hunter2@127.0.0.1:2379/pricer', clientZone: 'zone-a' });
    const a1 = call.onAttemptStart(1);
    const headers1 = a1.outgoingHeaders();
    a1.onPick(pickA);
    a1.onEnd({ code: 4, details: 'attempt timed out', timedOut: true, retryReason: 'attempt timed out after 200ms; retrying on another endpoint' });
    const a2 = call.onAttemptStart(2);
    const headers2 = a2.outgoingHeaders();
    a2.onPick(pickB);
    a2.onEnd({ code: 0, details: '', timedOut: false });
    call.onEnd({ code: 0, details: '' });

    const spans = h.spans();
    assert.equal(spans.length, 3);
    const callSpan = spans.find((s) => s.name === 'trading.Pricer/Quote')!;
    const at1 = spans.find((s) => s.name === 'trading.Pricer/Quote attempt 1')!;
    const at2 = spans.find((s) => s.name === 'trading.Pricer/Quote attempt 2')!;
    assert.ok(callSpan && at1 && at2, `span names: ${spans.map((s) => s.name).join(', ')}`);
    assert.equal(callSpan.kind, SpanKind.CLIENT);
    assert.equal(callSpan.parentSpanContext, undefined, 'no active span: the call span is a root');
    assert.equal(at1.parentSpanContext?.spanId, callSpan.spanContext().spanId);
    assert.equal(at2.parentSpanContext?.spanId, callSpan.spanContext().spanId);
    assert.equal(at1.spanContext().traceId, callSpan.spanContext().traceId);

    assert.deepEqual(
      { sys: callSpan.attributes['rpc.system'], svc: callSpan.attributes['rpc.service'], m: callSpan.attributes['rpc.method'] },
      { sys: 'grpc', svc: 'trading.Pricer', m: 'Quote' },
    );
    assert.equal(callSpan.attributes['rpc.grpc.status_code'], 0);
    assert.equal(callSpan.attributes['fairway.attempts'], 2);
    assert.equal(callSpan.attributes['server.address'], '::1', 'last attempt endpoint host');
    assert.equal(callSpan.attributes['fairway.target'], 'etcd://127.0.0.1:2379/pricer', 'user-info removed from the target');
    assert.equal(callSpan.status.code, SpanStatusCode.UNSET);

    assert.equal(at1.attributes['fairway.attempt'], 1);
    assert.equal(at1.attributes['fairway.endpoint.address'], '10.0.0.1:50051');
    assert.equal(at1.attributes['fairway.endpoint.zone'], 'zone-a');
    assert.equal(at1.attributes['fairway.endpoint.instance'], 'pricer-a');
    assert.equal(at1.attributes['fairway.endpoint.incarnation'], '1764032400123-4f1c');
    assert.equal(at1.attributes['fairway.client.zone'], 'zone-a');
    assert.equal(at1.attributes['fairway.zone.mode'], 'local');
    assert.equal(at1.attributes['fairway.pick.reason'], pickA.reason);
    assert.equal(at1.attributes['fairway.retry.reason'], 'attempt timed out after 200ms; retrying on another endpoint');
    assert.equal(at1.attributes['fairway.attempt.timed_out'], true);
    assert.equal(at1.attributes['rpc.grpc.status_code'], 4);
    assert.equal(at1.attributes['server.address'], '10.0.0.1');
    assert.equal(at1.attributes['server.port'], 50051);
    assert.equal(at1.status.code, SpanStatusCode.ERROR);

    assert.equal(at2.attributes['fairway.attempt'], 2);
    assert.equal(at2.attributes['fairway.endpoint.address'], '[::1]:50052');
    assert.equal(at2.attributes['fairway.endpoint.zone'], 'zone-b');
    assert.equal(at2.attributes['fairway.zone.mode'], 'spill');
    assert.equal(at2.attributes['fairway.cross_zone'], true);
    assert.equal(at2.attributes['fairway.retry.reason'], undefined, 'the last attempt was not retried');
    assert.equal(at2.attributes['rpc.grpc.status_code'], 0);
    assert.equal(at2.status.code, SpanStatusCode.UNSET);

    // Each attempt's metadata carries that attempt's own W3C traceparent.
    assert.equal(headers1.traceparent, `00-${at1.spanContext().traceId}-${at1.spanContext().spanId}-01`);
    assert.equal(headers2.traceparent, `00-${at2.spanContext().traceId}-${at2.spanContext().spanId}-01`);

    const metrics = await h.metrics();
    assert.equal(sumOf(metrics, M.CALLS, { 'rpc.method': 'Quote', 'rpc.grpc.status_code': 0, 'fairway.client.zone': 'zone-a' }), 1);
    assert.equal(sumOf(metrics, M.ATTEMPTS), 2);
    assert.equal(sumOf(metrics, M.ATTEMPTS, { 'fairway.endpoint.address': '10.0.0.1:50051', 'fairway.endpoint.zone': 'zone-a', 'rpc.grpc.status_code': 4 }), 1);
    assert.equal(sumOf(metrics, M.RETRIES, { 'fairway.endpoint.address': '10.0.0.1:50051' }), 1);
    assert.equal(sumOf(metrics, M.RETRY_REFUSALS), 0);
    assert.equal(sumOf(metrics, M.CROSS_ZONE_ATTEMPTS, { 'fairway.endpoint.zone': 'zone-b', 'fairway.client.zone': 'zone-a' }), 1);
    assert.equal(sumOf(metrics, M.CALL_DURATION), 1, 'one call latency recorded');
    assert.equal(sumOf(metrics, M.ATTEMPT_DURATION), 2, 'two attempt latencies recorded');
    const hist = metrics.find((m) => m.descriptor.name === M.CALL_DURATION)!;
    assert.equal(hist.descriptor.unit, 'ms');
  });

  test('a refused retry is recorded on the attempt and counted; the call span is an error', { timeout: 10_000 }, async () => {
    const h = harness();
    const call = h.factory.onCallStart({ method: '/trading.Pricer/Quote', kind: 'unary', target: 'static:///10.0.0.1:50051' });
    const a1 = call.onAttemptStart(1);
    a1.onPick({ ...pickA, clientZone: undefined });
    a1.onEnd({ code: 4, details: 'deadline', timedOut: true, retryRefusedReason: 'retry budget exhausted' });
    call.onEnd({ code: 4, details: 'Deadline exceeded after 1 attempt (retry budget exhausted)' });
    const [at1, callSpan] = h.spans();
    assert.equal(at1!.attributes['fairway.retry.refused'], 'retry budget exhausted');
    assert.equal(at1!.attributes['fairway.retry.reason'], undefined);
    assert.equal(callSpan!.status.code, SpanStatusCode.ERROR);
    assert.match(callSpan!.status.message ?? '', /Deadline exceeded/);
    const metrics = await h.metrics();
    assert.equal(sumOf(metrics, M.RETRY_REFUSALS, { 'rpc.method': 'Quote' }), 1);
    assert.equal(sumOf(metrics, M.CROSS_ZONE_ATTEMPTS), 0, 'client zone unknown: not counted as cross-zone');
  });

  test('the live configuration revision is on the call span and every attempt span; absent without one', { timeout: 10_000 }, async () => {
    const h = harness();
    const call = h.factory.onCallStart({ method: '/trading.Pricer/Quote', kind: 'unary', target: 'etcd:///pricer', configRevision: 42 });
    for (const n of [1, 2]) {
      const a = call.onAttemptStart(n);
      a.onPick(pickA);
      a.onEnd(n === 1 ? { code: 4, details: 'timeout', timedOut: true, retryReason: 'attempt timed out' } : { code: 0, details: '', timedOut: false });
    }
    call.onEnd({ code: 0, details: '' });
    const plain = h.factory.onCallStart({ method: '/trading.Pricer/Quote', kind: 'unary', target: 'etcd:///pricer' });
    const p1 = plain.onAttemptStart(1);
    p1.onEnd({ code: 0, details: '', timedOut: false });
    plain.onEnd({ code: 0, details: '' });
    const spans = h.spans();
    assert.equal(spans.length, 5);
    const [a1, a2, callSpan, b1, plainSpan] = spans;
    for (const s of [a1, a2, callSpan]) assert.equal(s!.attributes['fairway.config.revision'], 42, s!.name);
    for (const s of [b1, plainSpan]) assert.equal(s!.attributes['fairway.config.revision'], undefined, s!.name);
  });

  test('canary routing: the group on the attempt span; an automatic halt is a fairway.canary.halted event and a counted halt', { timeout: 10_000 }, async () => {
    const h = harness();
    const call = h.factory.onCallStart({ method: '/trading.Pricer/Quote', kind: 'unary', target: 'etcd:///pricer' });
    const a1 = call.onAttemptStart(1);
    a1.onPick({ ...pickA, canary: { group: 'stable', halted: 'canary error rate 40.0% vs stable 0.0% over 30000ms (margin 5.0%): canary halted' } });
    a1.onEnd({ code: 0, details: '', timedOut: false });
    call.onEnd({ code: 0, details: '' });
    const [at1] = h.spans();
    assert.equal(at1!.attributes['fairway.canary.group'], 'stable');
    const ev = at1!.events.find((e) => e.name === 'fairway.canary.halted');
    assert.match(String(ev?.attributes?.['fairway.canary.halt.reason']), /canary error rate 40\.0%/);
    assert.equal(sumOf(await h.metrics(), M.CANARY_HALTS, { 'rpc.method': 'Quote' }), 1);
  });

  test('a re-pick and a hedge: attempt reasons, the fairway.repicked and fairway.hedged events, their counters', { timeout: 10_000 }, async () => {
    const h = harness();
    const call = h.factory.onCallStart({ method: '/trading.Pricer/Quote', kind: 'unary', target: 'static:///10.0.0.1:50051' });
    const a1 = call.onAttemptStart(1, { reason: 'first', detail: 'first attempt' });
    a1.onPick(pickA);
    const repickReason = 'attempt 1 never reached pricer-a#1 (Stream refused by server); re-picked at once on another endpoint';
    a1.onEnd({ code: 14, details: 'Stream refused by server', timedOut: false, repickReason });
    const a2 = call.onAttemptStart(2, { reason: 'repick', detail: repickReason });
    a2.onPick(pickB);
    const a3 = call.onAttemptStart(3, { reason: 'hedge', detail: 'no answer after 12ms: hedged on another endpoint (hedge 1 of 1)' });
    a3.onPick(pickA);
    a2.onEnd({ code: 1, details: 'Fairway hedge: attempt 3 answered first', timedOut: false });
    a3.onEnd({ code: 0, details: 'OK', timedOut: false });
    call.onEnd({ code: 0, details: 'OK' });
    const spans = h.spans();
    const byAttempt = (n: number) => spans.find((sp) => sp.attributes['fairway.attempt'] === n)!;
    assert.deepEqual([1, 2, 3].map((n) => byAttempt(n).attributes['fairway.attempt.reason']), ['first', 'repick', 'hedge']);
    assert.equal(byAttempt(1).attributes['fairway.repick.reason'], repickReason);
    assert.deepEqual(byAttempt(1).events.map((e) => e.name), ['fairway.repicked']);
    assert.deepEqual(byAttempt(3).events.map((e) => [e.name, e.attributes?.['fairway.hedge.detail']]), [['fairway.hedged', 'no answer after 12ms: hedged on another endpoint (hedge 1 of 1)']]);
    const metrics = await h.metrics();
    assert.equal(sumOf(metrics, M.REPICKS, { 'rpc.method': 'Quote' }), 1);
    assert.equal(sumOf(metrics, M.HEDGES, { 'rpc.method': 'Quote' }), 1);
  });

  test('a call that is not sampled: no span, a traceparent that says so, and the same metrics as a sampled call', { timeout: 10_000 }, async () => {
    // The unsampled path builds no span attributes (they would be dropped); what it must still do is
    // propagate the decision downstream and count every call and attempt with its real method, endpoint,
    // zone and status, also on the second and third call of a method (which reuse what the first worked out).
    const h = harness({}, new AlwaysOffSampler());
    for (let i = 0; i < 3; i++) {
      const call = h.factory.onCallStart({ method: '/trading.Pricer/Quote', kind: 'unary', target: 'etcd://u:p@127.0.0.1:2379/pricer', clientZone: 'zone-a' });
      const a = call.onAttemptStart(1);
      assert.match(String(a.outgoingHeaders().traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/, 'not sampled, and says so');
      a.onPick(i === 2 ? { ...pickA, canary: { group: 'stable', halted: 'canary error rate 40.0% vs stable 0.0%' } } : i === 1 ? pickB : pickA);
      a.onEnd({ code: i === 1 ? 4 : 0, details: i === 1 ? 'attempt timed out' : '', timedOut: i === 1 });
      call.onEnd({ code: i === 1 ? 4 : 0, details: '' });
    }
    assert.equal(h.spans().length, 0);
    const metrics = await h.metrics();
    assert.equal(sumOf(metrics, M.CALLS, { 'rpc.service': 'trading.Pricer', 'rpc.method': 'Quote' }), 3);
    assert.equal(sumOf(metrics, M.CALLS, { 'rpc.grpc.status_code': 4, 'fairway.client.zone': 'zone-a' }), 1);
    assert.equal(sumOf(metrics, M.ATTEMPTS, { 'fairway.endpoint.address': '10.0.0.1:50051', 'fairway.endpoint.zone': 'zone-a', 'rpc.grpc.status_code': 0 }), 2);
    assert.equal(sumOf(metrics, M.ATTEMPTS, { 'fairway.endpoint.address': '[::1]:50052', 'rpc.grpc.status_code': 4 }), 1);
    assert.equal(sumOf(metrics, M.CROSS_ZONE_ATTEMPTS, { 'fairway.endpoint.zone': 'zone-b', 'fairway.client.zone': 'zone-a' }), 1);
    assert.equal(sumOf(metrics, M.CANARY_HALTS, { 'rpc.method': 'Quote' }), 1, 'a halt is counted whether or not the call is sampled');
  });

  test('the attempts of a call that is not sampled start no span: the sampler is asked once per call, the attempts carry the call\'s context', { timeout: 10_000 }, async () => {
    // A sampler that records nothing but would record any attempt if asked: if the observer asked it for an
    // attempt, that attempt would be an orphan span (its call not recorded) and the sampler would run twice.
    const asked: string[] = [];
    const sampler: Sampler = {
      shouldSample: (_ctx, _traceId, name) => {
        asked.push(name);
        return { decision: name.includes(' attempt ') ? SamplingDecision.RECORD_AND_SAMPLED : SamplingDecision.NOT_RECORD };
      },
      toString: () => 'calls off, attempts on',
    };
    const h = harness({}, sampler);
    const call = h.factory.onCallStart({ method: '/trading.Pricer/Quote', kind: 'unary', target: 'static:///a', clientZone: 'zone-a' });
    const first = call.onAttemptStart(1);
    const second = call.onAttemptStart(2, { reason: 'retry', detail: 'attempt 1 timed out' });
    const p1 = String(first.outgoingHeaders().traceparent);
    const p2 = String(second.outgoingHeaders().traceparent);
    assert.match(p1, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/, 'not sampled, and says so');
    assert.equal(p2, p1, "both attempts carry the call's own context");
    first.onPick(pickA);
    // An ejection while the call is open: counted, and nothing to add to spans that are not recorded.
    h.factory.onEndpointEvent?.({ kind: 'ejected', key: pickA.endpointKey, address: pickA.address, reason: 'consecutive-failures', durationMs: 10_000, ejections: 1, detail: 'ejected' });
    first.onEnd({ code: 4, details: 'attempt timed out', timedOut: true, retryReason: 'attempt timed out' });
    second.onPick(pickB);
    second.onEnd({ code: 0, details: '', timedOut: false });
    call.onEnd({ code: 0, details: '' });
    assert.deepEqual(asked, ['trading.Pricer/Quote'], 'the sampler is asked for the call only');
    assert.equal(h.spans().length, 0, 'no orphan attempt span');
    const metrics = await h.metrics();
    assert.equal(sumOf(metrics, M.EJECTED, { 'fairway.ejection.reason': 'consecutive-failures' }), 1);
    assert.equal(sumOf(metrics, M.ATTEMPTS, { 'rpc.method': 'Quote' }), 2);
    // A sampled call still has one span per attempt, each with its own id in its traceparent.
    const s = harness();
    const sc = s.factory.onCallStart({ method: '/trading.Pricer/Quote', kind: 'unary', target: 'static:///a' });
    const a1 = sc.onAttemptStart(1);
    const a2 = sc.onAttemptStart(2, { reason: 'retry', detail: 'attempt 1 timed out' });
    assert.notEqual(String(a1.outgoingHeaders().traceparent), String(a2.outgoingHeaders().traceparent));
    a1.onEnd({ code: 4, details: '', timedOut: true });
    a2.onEnd({ code: 0, details: '', timedOut: false });
    sc.onEnd({ code: 0, details: '' });
    assert.equal(s.spans().length, 3);
  });

  test('the call span is a child of the active context (a call made inside a handler joins its trace)', { timeout: 10_000 }, () => {
    const manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    try {
      const h = harness();
      const outer = h.tracerProvider.getTracer('test').startSpan('handler');
      context.with(trace.setSpan(ROOT_CONTEXT, outer), () => {
        const call = h.factory.onCallStart({ method: '/trading.Publisher/Publish', kind: 'unary', target: 'static:///a:1' });
        call.onAttemptStart(1).onEnd({ code: 0, details: '', timedOut: false });
        call.onEnd({ code: 0, details: '' });
      });
      const callSpan = h.spans().find((s) => s.name === 'trading.Publisher/Publish')!;
      assert.equal(callSpan.parentSpanContext?.spanId, outer.spanContext().spanId);
      assert.equal(callSpan.spanContext().traceId, outer.spanContext().traceId);
    } finally {
      context.disable();
    }
  });

  test('re-picks overwrite the endpoint and leave an event; the pick count says how many', { timeout: 10_000 }, () => {
    const h = harness();
    const call = h.factory.onCallStart({ method: '/trading.Pricer/Quote', kind: 'unary', target: 't' });
    const a = call.onAttemptStart(1);
    a.onPick(pickA);
    a.onPick(pickB);
    a.onEnd({ code: 0, details: '', timedOut: false });
    call.onEnd({ code: 0, details: '' });
    const at = h.spans().find((s) => s.name.endsWith('attempt 1'))!;
    assert.equal(at.attributes['fairway.endpoint.address'], pickB.address);
    assert.equal(at.attributes['fairway.pick.count'], 2);
    assert.equal(at.events.length, 1);
    assert.equal(at.events[0]!.name, 'fairway.repick');
    assert.equal(at.events[0]!.attributes?.['fairway.previous.endpoint.address'], pickA.address);
  });

  test('never throws, whatever the call layer passes, and never records after the end', { timeout: 10_000 }, () => {
    const h = harness();
    const bad = null as unknown as never;
    const dud = h.factory.onCallStart(bad);
    assert.doesNotThrow(() => dud.onAttemptStart(1).onEnd(bad));
    assert.doesNotThrow(() => dud.onEnd(bad));
    const call = h.factory.onCallStart({ method: '/a.B/C', kind: 'unary', target: 't' });
    const a = call.onAttemptStart(1);
    assert.doesNotThrow(() => a.onPick(bad));
    assert.doesNotThrow(() => a.onPick({ address: 42 } as unknown as PickExplanation));
    assert.doesNotThrow(() => a.outgoingHeaders());
    assert.doesNotThrow(() => a.onEnd(bad));
    assert.doesNotThrow(() => a.onEnd(bad));
    assert.doesNotThrow(() => call.onEnd(bad));
    assert.doesNotThrow(() => call.onEnd({ code: 0, details: '' }));
    const late = call.onAttemptStart(2);
    assert.doesNotThrow(() => late.onEnd({ code: 0, details: '', timedOut: false }));
    assert.equal(h.spans().length, 2, 'one call span and one attempt span, each ended once');
  });

  test('an attempt the call layer never ended is closed with the call', { timeout: 10_000 }, () => {
    const h = harness();
    const call = h.factory.onCallStart({ method: '/a.B/C', kind: 'unary', target: 't' });
    call.onAttemptStart(1);
    call.onEnd({ code: 1, details: 'Cancelled' });
    const spans = h.spans();
    assert.equal(spans.length, 2);
    const at = spans.find((s) => s.name === 'a.B/C attempt 1')!;
    assert.equal(at.status.code, SpanStatusCode.ERROR);
  });

  test('metric attribute cardinality is bounded: values beyond the caps become _other', { timeout: 10_000 }, async () => {
    const h = harness({ cardinality: { maxEndpoints: 3, maxMethods: 2, maxZones: 2 } });
    for (let i = 0; i < 20; i++) {
      const call = h.factory.onCallStart({ method: `/svc.S/M${i}`, kind: 'unary', target: 't', clientZone: `cz${i}` });
      const a = call.onAttemptStart(1);
      a.onPick({ ...pickA, address: `10.0.1.${i}:50051`, zone: `z${i}`, clientZone: `cz${i}` });
      a.onEnd({ code: 0, details: '', timedOut: false });
      call.onEnd({ code: 0, details: '' });
    }
    const metrics = await h.metrics();
    const attempts = metrics.find((m) => m.descriptor.name === M.ATTEMPTS)!;
    const addresses = new Set(attempts.dataPoints.map((p) => p.attributes['fairway.endpoint.address']));
    const methods = new Set(attempts.dataPoints.map((p) => p.attributes['rpc.method']));
    const zones = new Set(attempts.dataPoints.map((p) => p.attributes['fairway.endpoint.zone']));
    assert.equal(addresses.size, 4, `3 kept + _other: ${[...addresses].join(',')}`);
    assert.ok(addresses.has('_other'));
    assert.deepEqual([...methods].sort(), ['M0', 'M1', '_other']);
    assert.ok(zones.size <= 3 && zones.has('_other'));
    assert.equal(sumOf(metrics, M.ATTEMPTS), 20, 'nothing lost, only folded');
    // Spans keep the real values: the caps are for metrics only.
    assert.ok(h.spans().some((s) => s.attributes['fairway.endpoint.address'] === '10.0.1.19:50051'));
  });

  test('metrics: false records no metrics; bad options are refused by name', { timeout: 10_000 }, async () => {
    const h = harness({ metrics: false });
    const call = h.factory.onCallStart({ method: '/a.B/C', kind: 'unary', target: 't' });
    call.onAttemptStart(1).onEnd({ code: 0, details: '', timedOut: false });
    call.onEnd({ code: 0, details: '' });
    assert.equal((await h.metrics()).length, 0);
    assert.throws(() => createTelemetryObserver({ cardinality: { maxEndpoints: 0 } }), /maxEndpoints/);
    assert.throws(() => createTelemetryObserver({ maxStatusDetailsLength: -1 }), /maxStatusDetailsLength/);
  });
  test('ejection events: a span event on the attempts open on that endpoint (else its open calls), and metrics by reason', { timeout: 10_000 }, async () => {
    const h = harness();
    const ejected: EjectionEvent = {
      kind: 'ejected',
      key: pickA.endpointKey,
      address: pickA.address,
      reason: 'consecutive-failures',
      durationMs: 10_000,
      ejections: 1,
      detail: '10.0.0.1:50051 ejected for 10000 ms (ejection 1 in a row): 5 failures or timeouts in a row',
    };
    // Call 1: its attempt on A is open when A is ejected (the balancer decides while releasing that attempt).
    const c1 = h.factory.onCallStart({ method: '/trading.Pricer/Quote', kind: 'unary', target: 't' });
    const a1 = c1.onAttemptStart(1);
    a1.onPick(pickA);
    // Call 2: its attempt on A timed out and ended, its retry on B is open: the event goes on the call span.
    const c2 = h.factory.onCallStart({ method: '/trading.Pricer/Quote', kind: 'unary', target: 't' });
    const b1 = c2.onAttemptStart(1);
    b1.onPick(pickA);
    b1.onEnd({ code: 4, details: 'attempt timed out', timedOut: true, retryReason: 'attempt timed out' });
    const b2 = c2.onAttemptStart(2, { reason: 'retry', detail: 'attempt 1 timed out' });
    b2.onPick(pickB);
    h.factory.onEndpointEvent!(ejected);
    h.factory.onEndpointEvent!({ ...ejected, kind: 'probe', detail: 'back for one probe call' });
    a1.onEnd({ code: 14, details: 'unavailable', timedOut: false });
    b2.onEnd({ code: 0, details: '', timedOut: false });
    c1.onEnd({ code: 14, details: 'unavailable' });
    c2.onEnd({ code: 0, details: '' });
    // Call 3: the re-admission probe answers.
    const c3 = h.factory.onCallStart({ method: '/trading.Pricer/Quote', kind: 'unary', target: 't' });
    const p1 = c3.onAttemptStart(1);
    p1.onPick({ ...pickA, reason: 're-admission probe' });
    h.factory.onEndpointEvent!({ ...ejected, kind: 'readmitted', durationMs: undefined, detail: '10.0.0.1:50051 re-admitted: its re-admission probe answered' });
    p1.onEnd({ code: 0, details: '', timedOut: false });
    c3.onEnd({ code: 0, details: '' });
    // Nothing open on A any more: only the metric counts (no span keeps a stale registration).
    h.factory.onEndpointEvent!(ejected);

    const spans = h.spans();
    const eventsOf = (name: string) => spans.filter((s) => s.name === name).map((s) => s.events.map((e) => e.name));
    const withEvent = (event: string) => spans.filter((s) => s.events.some((e) => e.name === event));
    assert.deepEqual(withEvent('fairway.ejected').map((s) => s.name).sort(), ['trading.Pricer/Quote', 'trading.Pricer/Quote attempt 1']);
    const onAttempt = withEvent('fairway.ejected').find((s) => s.name.endsWith('attempt 1'))!;
    assert.equal(onAttempt.attributes['fairway.endpoint.address'], pickA.address);
    const ev = onAttempt.events.find((e) => e.name === 'fairway.ejected')!;
    assert.deepEqual(ev.attributes, {
      'fairway.endpoint.address': '10.0.0.1:50051',
      'fairway.ejection.reason': 'consecutive-failures',
      'fairway.ejection.count': 1,
      'fairway.ejection.duration_ms': 10_000,
      'fairway.ejection.detail': ejected.detail,
    });
    const onCall = withEvent('fairway.ejected').find((s) => !s.name.includes('attempt'))!;
    assert.equal(onCall.attributes['rpc.grpc.status_code'], 0, "call 2's span (its attempt on A had ended)");
    assert.ok(!eventsOf('trading.Pricer/Quote attempt 2').flat().includes('fairway.ejected'), 'not on the retry to B');
    const readmitted = withEvent('fairway.readmitted');
    assert.equal(readmitted.length, 1);
    assert.equal(readmitted[0]!.attributes['fairway.pick.reason'], 're-admission probe');
    assert.ok(!spans.some((s) => s.events.some((e) => e.name.includes('probe'))), 'the probe itself is no event');

    const metrics = await h.metrics();
    assert.equal(sumOf(metrics, M.EJECTED, { 'fairway.ejection.reason': 'consecutive-failures', 'fairway.endpoint.address': '10.0.0.1:50051' }), 2);
    assert.equal(sumOf(metrics, M.READMITTED, { 'fairway.ejection.reason': 'consecutive-failures' }), 1);
    // A malformed event is ignored, never thrown.
    assert.doesNotThrow(() => h.factory.onEndpointEvent!(null as unknown as EjectionEvent));
  });
});
