// nice-grpc 2.1 clients balanced by Fairway: the one line is `createClient(definition, createChannel(target,
// credentials, options))` with Fairway's createChannel: the channel carries Fairway's retries and observers to
// the clients nice-grpc makes on it (nice-grpc passes no grpc-js interceptors of its own).
// Runs as copied: `npm install fairway-grpc @grpc/grpc-js @grpc/proto-loader nice-grpc@2
// @opentelemetry/sdk-trace-base`, then `node main.mjs`.
// Three Echo servers on loopback, one slow; prints one JSON line: who answered, attempts per server, retries.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createClient } from 'nice-grpc';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createChannel, createTelemetryObserver } from 'fairway-grpc';

// Spans kept in memory to count them (in production: setupTelemetry() from @fairway/telemetry-setup).
const spans = new InMemorySpanExporter();
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));

// service Echo { rpc Say (Msg) returns (Msg); }  message Msg { string text = 1; string server = 2; }
const packageDefinition = protoLoader.fromJSON({
  nested: {
    demo: {
      nested: {
        Echo: { methods: { Say: { requestType: 'Msg', responseType: 'Msg' } } },
        Msg: { fields: { text: { type: 'string', id: 1 }, server: { type: 'string', id: 2 } } },
      },
    },
  },
});
const { Echo } = grpc.loadPackageDefinition(packageDefinition).demo;

/** A server that answers with its name after `delayMs`; binds port 0 and reports the port it got. */
function startServer(name, delayMs) {
  const server = new grpc.Server();
  server.addService(Echo.service, {
    Say: (call, reply) => setTimeout(() => reply(null, { text: call.request.text, server: name }), delayMs),
  });
  return new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(err) : resolve({ name, server, address: `127.0.0.1:${port}` }),
    ),
  );
}

/** 60 calls, 3 at a time, through a nice-grpc client; then who answered and what each attempt did. */
async function exercise(echo, servers) {
  spans.reset();
  const answered = {};
  for (let round = 0; round < 20; round++) {
    const replies = await Promise.all(
      [0, 1, 2].map((j) => echo.Say({ text: `call ${round * 3 + j}` }, { deadline: new Date(Date.now() + 5000) })),
    );
    for (const r of replies) answered[r.server] = (answered[r.server] ?? 0) + 1;
  }
  const nameOf = Object.fromEntries(servers.map((s) => [s.address, s.name]));
  const attempts = spans.getFinishedSpans().filter((s) => s.attributes['fairway.attempt'] !== undefined);
  const attemptsPerServer = {};
  for (const a of attempts) {
    const name = nameOf[a.attributes['fairway.endpoint.address']] ?? 'none';
    attemptsPerServer[name] = (attemptsPerServer[name] ?? 0) + 1;
  }
  // A retry that moved: an attempt timed out on the slow server, the next attempt of that call answered elsewhere.
  const parentOf = (s) => s.parentSpanContext?.spanId ?? s.parentSpanId;
  const movedRetries = attempts.filter(
    (a) =>
      a.attributes['fairway.attempt'] >= 2 &&
      nameOf[a.attributes['fairway.endpoint.address']] !== 'slow' &&
      attempts.some(
        (b) =>
          parentOf(b) === parentOf(a) &&
          b.attributes['fairway.attempt.timed_out'] === true &&
          nameOf[b.attributes['fairway.endpoint.address']] === 'slow',
      ),
  ).length;
  return { answered, attemptsPerServer, attemptSpans: attempts.length, movedRetries };
}

{
  const servers = await Promise.all([startServer('fast-0', 0), startServer('fast-1', 0), startServer('slow', 400)]);
  const target = `static:///${servers.map((s) => s.address).join(',')}`;
  // The one line: Fairway balancing, a 100 ms attempt timeout that retries on another server, a span per attempt.
  const channel = createChannel(target, grpc.credentials.createInsecure(), { retry: { attemptTimeoutMs: 100 }, observers: [createTelemetryObserver()] });
  const echo = createClient(Echo.service, channel);

  console.log(JSON.stringify(await exercise(echo, servers)));
  channel.close();
  for (const s of servers) s.server.forceShutdown();
}
