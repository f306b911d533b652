import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { mergeJaegerJsonFiles, readJaegerJsonFile } from '@fairway/telemetry';
import { JaegerJsonFileExporter } from './jaeger-json-exporter.js';
import { createTelemetryObserver } from '@fairway/telemetry';
import { extractContext } from '@fairway/telemetry';

const dir = mkdtempSync(join(tmpdir(), 'fairway-jaeger-json-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function processProvider(serviceName: string, file: string) {
  const exporter = new JaegerJsonFileExporter({ file });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName, 'host.name': 'test-host' }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  return { exporter, provider };
}

/** Checks Jaeger's JSON trace format by hand (independently of the package's own reader). */
function assertJaegerShape(json: unknown): void {
  const top = json as { data: unknown[] };
  assert.ok(Array.isArray(top.data), 'top-level "data" array');
  for (const t of top.data as Record<string, unknown>[]) {
    assert.match(String(t.traceID), /^[0-9a-f]{32}$/);
    const processes = t.processes as Record<string, { serviceName: unknown; tags: unknown }>;
    for (const p of Object.values(processes)) {
      assert.equal(typeof p.serviceName, 'string');
      assert.ok(Array.isArray(p.tags));
    }
    for (const s of t.spans as Record<string, unknown>[]) {
      for (const key of ['traceID', 'spanID', 'operationName', 'references', 'startTime', 'duration', 'tags', 'logs', 'processID', 'warnings']) {
        assert.ok(key in s, `span has ${key}`);
      }
      assert.equal(s.traceID, t.traceID);
      assert.match(String(s.spanID), /^[0-9a-f]{16}$/);
      assert.ok(Number.isInteger(s.startTime) && (s.startTime as number) > 1.6e15, 'startTime in microseconds since the epoch');
      assert.ok(Number.isInteger(s.duration) && (s.duration as number) >= 0, 'duration in microseconds');
      assert.ok(String(s.processID) in processes, 'processID names a process');
      for (const tag of s.tags as { key: unknown; type: unknown; value: unknown }[]) {
        assert.equal(typeof tag.key, 'string');
        const expected = { string: 'string', bool: 'boolean', int64: 'number', float64: 'number' }[String(tag.type)];
        assert.ok(expected, `tag type ${String(tag.type)}`);
        assert.equal(typeof tag.value, expected, `tag ${String(tag.key)} value type`);
      }
      for (const r of s.references as { refType: unknown }[]) assert.ok(r.refType === 'CHILD_OF' || r.refType === 'FOLLOWS_FROM');
    }
  }
}

function assertEveryParentPresent(json: { data: { spans: { spanID: string; references: { refType: string; spanID: string }[] }[] }[] }): number {
  let children = 0;
  for (const t of json.data) {
    const ids = new Set(t.spans.map((s) => s.spanID));
    for (const s of t.spans) {
      for (const r of s.references.filter((x) => x.refType === 'CHILD_OF')) {
        children += 1;
        assert.ok(ids.has(r.spanID), `parent ${r.spanID} of span ${s.spanID} is in the trace`);
      }
    }
  }
  return children;
}

describe('Jaeger JSON file exporter', () => {
  test('writes one file in Jaeger format on shutdown; loads back; every span has its parent', { timeout: 20_000 }, async () => {
    const file = join(dir, 'single.json');
    const { provider } = processProvider('pricer', file);
    const observer = createTelemetryObserver({ tracerProvider: provider, metrics: false });
    for (let i = 0; i < 3; i++) {
      const call = observer.onCallStart({ method: '/trading.Pricer/Quote', kind: 'unary', target: 'etcd:///pricer', clientZone: 'zone-a' });
      const a1 = call.onAttemptStart(1);
      a1.onPick({ endpointKey: 'k', address: '127.0.0.1:50051', zone: 'zone-a', zoneMode: 'local', reason: 'only one endpoint' });
      a1.onEnd({ code: 4, details: 'timeout', timedOut: true, retryReason: 'attempt timed out after 50ms; retrying on another endpoint' });
      const a2 = call.onAttemptStart(2);
      a2.onPick({ endpointKey: 'k2', address: '127.0.0.1:50052', zone: 'zone-b', zoneMode: 'all', reason: 'only one endpoint' });
      a2.onEnd({ code: 0, details: '', timedOut: false });
      call.onEnd({ code: 0, details: '' });
    }
    await provider.shutdown();
    const json = JSON.parse(readFileSync(file, 'utf8'));
    assertJaegerShape(json);
    assert.equal(json.data.length, 3, 'three traces');
    for (const t of json.data) {
      assert.equal(t.spans.length, 3);
      assert.deepEqual(Object.values(t.processes).map((p: any) => p.serviceName), ['pricer']);
      const attempt1 = t.spans.find((s: any) => s.operationName === 'trading.Pricer/Quote attempt 1');
      const tags = Object.fromEntries(attempt1.tags.map((x: any) => [x.key, x.value]));
      assert.equal(tags['fairway.retry.reason'], 'attempt timed out after 50ms; retrying on another endpoint');
      assert.equal(tags['fairway.attempt'], 1);
      assert.equal(tags['span.kind'], 'client');
      assert.equal(tags['error'], true);
    }
    assert.equal(assertEveryParentPresent(json), 6, 'two attempt spans per trace name their call span');
    const loaded = readJaegerJsonFile(file);
    assert.equal(loaded.data.length, 3);
  });

  test('separate processes write separate files; the merge is one trace with every parent in it', { timeout: 20_000 }, async () => {
    const files = ['client', 'pricer', 'publisher'].map((s) => join(dir, `${s}.json`));
    const [client, pricer, publisher] = ['client', 'pricer', 'publisher'].map((s, i) => processProvider(s, files[i]!));
    // client -> pricer -> publisher, context handed over as W3C headers, as on the wire.
    const hop = (from: ReturnType<typeof processProvider>, parent: Context, method: string) => {
      const observer = createTelemetryObserver({ tracerProvider: from.provider, metrics: false });
      const call = context.with(parent, () => observer.onCallStart({ method, kind: 'unary', target: 't' }));
      const attempt = call.onAttemptStart(1);
      const headers = { ...attempt.outgoingHeaders() };
      const end = () => {
        attempt.onEnd({ code: 0, details: '', timedOut: false });
        call.onEnd({ code: 0, details: '' });
      };
      return { headers, end };
    };
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    try {
      const first = hop(client!, ROOT_CONTEXT, '/trading.Pricer/Quote');
      const serverSpan1 = pricer!.provider
        .getTracer('s')
        .startSpan('trading.Pricer/Quote', { kind: SpanKind.SERVER }, extractContext(ROOT_CONTEXT, first.headers));
      const second = hop(pricer!, trace.setSpan(ROOT_CONTEXT, serverSpan1), '/trading.Publisher/Publish');
      const serverSpan2 = publisher!.provider
        .getTracer('s')
        .startSpan('trading.Publisher/Publish', { kind: SpanKind.SERVER }, extractContext(ROOT_CONTEXT, second.headers));
      serverSpan2.setStatus({ code: SpanStatusCode.OK });
      serverSpan2.end();
      second.end();
      serverSpan1.end();
      first.end();
    } finally {
      context.disable();
    }
    await Promise.all([client!.provider.shutdown(), pricer!.provider.shutdown(), publisher!.provider.shutdown()]);
    for (const f of files) assertJaegerShape(JSON.parse(readFileSync(f, 'utf8')));
    // Alone, the pricer's file misses its server span's parent (it lives in the client's file).
    const alone = JSON.parse(readFileSync(files[1]!, 'utf8'));
    assert.throws(() => assertEveryParentPresent(alone));

    const out = join(dir, 'merged.json');
    const merged = mergeJaegerJsonFiles(files, out);
    const json = JSON.parse(readFileSync(out, 'utf8'));
    assert.deepEqual(json, JSON.parse(JSON.stringify(merged)));
    assertJaegerShape(json);
    assert.equal(json.data.length, 1, 'one trace across three processes');
    // client: call + attempt; pricer: server + call + attempt; publisher: server.
    assert.equal(json.data[0].spans.length, 6);
    assert.equal(assertEveryParentPresent(json), 5, 'every span but the root names a parent that is in the file');
    const services = Object.values(json.data[0].processes).map((p: any) => p.serviceName).sort();
    assert.deepEqual(services, ['client', 'pricer', 'publisher']);
    for (const s of json.data[0].spans) assert.ok(s.processID in json.data[0].processes);
  });

  test('bounded: spans beyond maxSpans are dropped, counted and reported in the file', { timeout: 20_000 }, async () => {
    const file = join(dir, 'bounded.json');
    const exporter = new JaegerJsonFileExporter({ file, maxSpans: 5 });
    const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });
    const tracer = provider.getTracer('t');
    for (let i = 0; i < 12; i++) tracer.startSpan(`s${i}`).end();
    await provider.shutdown();
    const json = readJaegerJsonFile(file);
    assert.equal(json.data.reduce((n, t) => n + t.spans.length, 0), 5);
    assert.equal(exporter.dropped, 7);
    assert.match(String(json.data[0]!.warnings?.[0]), /7 spans were dropped/);
  });

  test('refuses bad options and malformed files by name', () => {
    assert.throws(() => new JaegerJsonFileExporter({ file: '' }), /`file`/);
    assert.throws(() => new JaegerJsonFileExporter({ file: 'x.json', maxSpans: 0 }), /maxSpans/);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ data: [{ traceID: 'zz', spans: [], processes: {} }] }));
    assert.throws(() => readJaegerJsonFile(bad), /bad\.json is not a Jaeger JSON trace file: data\[0\]\.traceID/);
    writeFileSync(bad, 'not json');
    assert.throws(() => readJaegerJsonFile(bad), /is not JSON/);
  });
});
