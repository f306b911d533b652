// connect-node with Fairway (ESM): three servers, one slow; the slow one gets a small share; an attempt that
// times out is retried on another server; a span per call and per attempt. Prints one JSON line.
import { createClient } from '@connectrpc/connect';
import { createFairwayTransport } from '@fairway/connect';
import { createTelemetryObserver } from '@fairway/telemetry';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Greeter } from './gen/greeter_pb.mjs';
import { startGreeters } from './servers.cjs';

// Why 150 ms: with 6 calls in flight in this one process, a 0 ms server's answers take 10-25 ms of the
// process's own queueing (more on a busy machine), and a balancer that weighs latency by calls in flight
// rightly sends some calls to a 40 ms server that is idle; at 150 ms the slow one is slow under any load.
const servers = await startGreeters([0, 0, 150]); // c is slow: 150 ms
// Your own OpenTelemetry set-up goes here; an in-memory exporter lets the example count the spans.
const spans = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });

const transport = createFairwayTransport({
  target: `static:///${servers.map((s) => s.address).join(',')}`,
  retry: { attemptTimeoutMs: 300 }, // an attempt with no answer after 300 ms goes to another server
  observers: [createTelemetryObserver({ tracerProvider })],
});
const client = createClient(Greeter, transport);

// 1. Balancing: 300 calls, 6 at a time.
const share = {};
let sent = 0;
await Promise.all(
  Array.from({ length: 6 }, async () => {
    while (sent++ < 300) {
      const reply = await client.greet({ name: 'load' }, { timeoutMs: 5_000 });
      share[reply.server] = (share[reply.server] ?? 0) + 1;
    }
  }),
);

// 2. Retries: "a" and "b" stall; attempts that land on them time out after 300 ms, and the calls are
// answered by "c" (slow, but answering).
const stalled = servers.slice(0, 2);
for (const s of stalled) s.delayMs = 10_000;
spans.reset();
const callsOnStalled = () => stalled.reduce((n, s) => n + s.calls, 0);
const stalledBefore = callsOnStalled();
const answeredBy = [];
for (let i = 0; i < 12; i++) answeredBy.push((await client.greet({ name: `retry ${i}` }, { timeoutMs: 5_000 })).server);
const attemptsOnStalled = callsOnStalled() - stalledBefore;
const finished = spans.getFinishedSpans();
const attemptSpans = finished.filter((s) => s.attributes['fairway.attempt'] !== undefined).length;
const callSpans = finished.filter((s) => s.attributes['fairway.attempts'] !== undefined).length;

console.log(JSON.stringify({ share, answeredBy, attemptsOnStalled, callSpans, attemptSpans }));
await transport.close();
await Promise.all(servers.map((s) => s.close()));
