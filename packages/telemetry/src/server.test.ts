import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { loadEcho } from '@fairway/testing';
import { continueTrace, startServerSpan, traceGrpcHandlers } from './server.js';

const exporter = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const traceparent = `00-${TRACE}-${PARENT}-01`;

before(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
});
after(() => {
  context.disable();
});

describe('continueTrace / startServerSpan', () => {
  test('continues the W3C context in plain headers in a SERVER span, and runs fn inside it', () => {
    exporter.reset();
    const result = continueTrace(
      { traceparent, authorization: 'Bearer top-secret', 'x-bin': new Uint8Array([1, 2]) },
      '/trading.Pricer/Quote',
      (span) => {
        assert.equal(trace.getActiveSpan(), span, 'fn runs with the server span active');
        return 42;
      },
      { tracerProvider },
    );
    assert.equal(result, 42);
    const [span] = exporter.getFinishedSpans();
    assert.equal(span!.name, 'trading.Pricer/Quote');
    assert.equal(span!.kind, SpanKind.SERVER);
    assert.equal(span!.spanContext().traceId, TRACE);
    assert.equal(span!.parentSpanContext?.spanId, PARENT);
    assert.equal(span!.parentSpanContext?.isRemote, true);
    assert.equal(span!.attributes['rpc.grpc.status_code'], 0);
    assert.ok(!JSON.stringify(span!.attributes).includes('top-secret'), 'header values are not recorded');
  });

  test('a missing or malformed traceparent starts a new trace', () => {
    exporter.reset();
    continueTrace({ traceparent: 'garbage' }, '/a.B/C', () => undefined, { tracerProvider });
    continueTrace({}, '/a.B/C', () => undefined, { tracerProvider });
    const spans = exporter.getFinishedSpans();
    assert.equal(spans.length, 2);
    for (const s of spans) assert.equal(s.parentSpanContext, undefined);
    assert.notEqual(spans[0]!.spanContext().traceId, spans[1]!.spanContext().traceId);
  });

  test('a throw or a rejection is the status; server faults mark the span as an error, client faults do not', async () => {
    exporter.reset();
    assert.throws(() => continueTrace({ traceparent }, '/a.B/Sync', () => { throw new Error('sync boom'); }, { tracerProvider }), /sync boom/);
    await assert.rejects(
      continueTrace({ traceparent }, '/a.B/Async', async () => {
        throw Object.assign(new Error('bad request'), { code: 3, details: 'symbol is empty' });
      }, { tracerProvider }),
    );
    await continueTrace({ traceparent }, '/a.B/Later', async () => 'ok', { tracerProvider });
    const byName = new Map(exporter.getFinishedSpans().map((s) => [s.name, s]));
    assert.equal(byName.get('a.B/Sync')!.attributes['rpc.grpc.status_code'], 2);
    assert.equal(byName.get('a.B/Sync')!.status.code, SpanStatusCode.ERROR);
    assert.equal(byName.get('a.B/Async')!.attributes['rpc.grpc.status_code'], 3);
    assert.equal(byName.get('a.B/Async')!.status.code, SpanStatusCode.UNSET, 'INVALID_ARGUMENT is the caller\'s fault');
    assert.equal(byName.get('a.B/Later')!.attributes['rpc.grpc.status_code'], 0);
  });

  test('startServerSpan: end is idempotent and takes the status', () => {
    exporter.reset();
    const s = startServerSpan({ traceparent }, '/a.B/C', { tracerProvider });
    s.end({ code: 14, details: 'backend down' });
    s.end({ code: 0 });
    const [span] = exporter.getFinishedSpans();
    assert.equal(exporter.getFinishedSpans().length, 1);
    assert.equal(span!.attributes['rpc.grpc.status_code'], 14);
    assert.equal(span!.status.message, 'backend down');
  });
});

describe('traceGrpcHandlers on a real grpc-js server', () => {
  let server: grpc.Server;
  let client: grpc.Client & Record<string, Function>;
  before(async () => {
    const { EchoClient, service } = loadEcho();
    server = new grpc.Server();
    server.addService(
      service,
      traceGrpcHandlers(
        {
          Unary(call: grpc.ServerUnaryCall<{ message: string; fail_code: number; delay_ms: number }, unknown>, cb: grpc.sendUnaryData<unknown>) {
            const active = trace.getActiveSpan()?.spanContext().spanId ?? '';
            const reply = () => {
              if (call.request.fail_code) cb({ code: call.request.fail_code, details: 'asked to fail' });
              else cb(null, { message: active, server_id: 's' });
            };
            if (call.request.delay_ms) setTimeout(reply, call.request.delay_ms);
            else reply();
          },
          ServerStream(call: grpc.ServerWritableStream<{ message: string; count: number }, unknown>) {
            for (let i = 0; i < 3; i++) call.write({ message: `m${i}`, sequence: i });
            call.end();
          },
          ClientStream(call: grpc.ServerReadableStream<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) {
            call.on('data', () => {});
            call.on('end', () => cb(null, { message: 'done' }));
          },
          Bidi(call: grpc.ServerDuplexStream<unknown, unknown>) {
            call.on('data', (m) => call.write(m));
            call.on('end', () => call.end());
          },
        },
        { tracerProvider },
      ),
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    client = new EchoClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, Function>;
  });
  after(() => {
    client?.close();
    server?.forceShutdown();
  });

  const unary = (req: object, md = new grpc.Metadata(), deadlineMs = 10_000) =>
    new Promise<{ err: grpc.ServiceError | null; reply: { message: string } }>((resolve) =>
      client.Unary!(req, md, { deadline: Date.now() + deadlineMs }, (err: grpc.ServiceError | null, reply: { message: string }) => resolve({ err, reply })),
    );
  const waitForSpans = async (n: number) => {
    for (let i = 0; i < 200 && exporter.getFinishedSpans().length < n; i++) await new Promise((r) => setTimeout(r, 10));
    return exporter.getFinishedSpans();
  };

  test('unary: the handler runs in a SERVER span continuing the caller\'s traceparent; errors are the status', { timeout: 20_000 }, async () => {
    exporter.reset();
    const md = new grpc.Metadata();
    md.set('traceparent', traceparent);
    md.set('x-api-key', 'key-123');
    const ok = await unary({ message: 'hi' }, md);
    assert.equal(ok.err, null);
    const [span] = await waitForSpans(1);
    assert.equal(span!.name, 'fairway.test.Echo/Unary');
    assert.equal(span!.spanContext().traceId, TRACE);
    assert.equal(span!.parentSpanContext?.spanId, PARENT);
    assert.equal(ok.reply.message, span!.spanContext().spanId, 'the handler saw its server span as active');
    assert.ok(!JSON.stringify(span!.attributes).includes('key-123'));

    exporter.reset();
    const failed = await unary({ message: 'x', fail_code: grpc.status.UNAVAILABLE });
    assert.equal(failed.err?.code, grpc.status.UNAVAILABLE);
    const [errSpan] = await waitForSpans(1);
    assert.equal(errSpan!.attributes['rpc.grpc.status_code'], grpc.status.UNAVAILABLE);
    assert.equal(errSpan!.status.code, SpanStatusCode.ERROR);
  });

  test('a caller that gives up ends the server span as CANCELLED', { timeout: 20_000 }, async () => {
    exporter.reset();
    const r = await unary({ message: 'slow', delay_ms: 1500 }, new grpc.Metadata(), 100);
    assert.equal(r.err?.code, grpc.status.DEADLINE_EXCEEDED);
    const [span] = await waitForSpans(1);
    assert.equal(span!.attributes['rpc.grpc.status_code'], 1);
  });

  test('server-streaming, client-streaming and bidi handlers get one span each, ended with the call', { timeout: 20_000 }, async () => {
    exporter.reset();
    await new Promise<void>((resolve, reject) => {
      const s = client.ServerStream!({ message: 'm', count: 3 });
      s.on('data', () => {});
      s.on('end', resolve);
      s.on('error', reject);
    });
    await new Promise<void>((resolve, reject) => {
      const s = client.ClientStream!((err: Error | null) => (err ? reject(err) : resolve()));
      s.write({ message: 'a' });
      s.end();
    });
    await new Promise<void>((resolve, reject) => {
      const s = client.Bidi!();
      s.on('data', () => {});
      s.on('end', resolve);
      s.on('error', reject);
      s.write({ message: 'a' });
      s.end();
    });
    const spans = await waitForSpans(3);
    assert.deepEqual(spans.map((s) => s.name).sort(), ['fairway.test.Echo/Bidi', 'fairway.test.Echo/ClientStream', 'fairway.test.Echo/ServerStream']);
    for (const s of spans) assert.equal(s.attributes['rpc.grpc.status_code'], 0);
  });

  test('refuses what is not a handler object', () => {
    assert.throws(() => traceGrpcHandlers(null as never), /implementation must be an object/);
  });
});
