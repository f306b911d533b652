// Stands in for YOUR service and servers: the framework examples next to this folder share it so that each of
// them shows only what is framework-specific (its imports, the one Fairway line, how the framework makes its
// client, printing the result). In your app the service is your .proto and the servers are your deployment.
// CommonJS so that both the .cjs and the .mjs examples load it (`require('../shared/echo-fixture.cjs')`,
// `import fixture from '../shared/echo-fixture.cjs'`); needs @grpc/grpc-js and @grpc/proto-loader, and
// @opentelemetry/api with @opentelemetry/sdk-trace-base for recordSpans().
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

// service Echo { rpc Say (Msg) returns (Msg); }  message Msg { string text = 1; string server = 2; }
// (examples/frameworks/ts-proto/echo.proto), inline so that no .proto file has to be found at run time.
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

/**
 * Three Echo servers on loopback: fast-0 and fast-1 answer at once, slow answers in 400 ms (against the examples'
 * 100 ms attempt timeout). `target` lists them all for Fairway's static resolver; `shutdown()` stops them.
 */
async function startServers() {
  const servers = await Promise.all([startServer('fast-0', 0), startServer('fast-1', 0), startServer('slow', 400)]);
  return {
    servers,
    target: `static:///${servers.map((s) => s.address).join(',')}`,
    shutdown: () => servers.forEach((s) => s.server.forceShutdown()),
  };
}

/**
 * Keeps every finished span in memory so that exercise() can count the attempts (in production:
 * setupTelemetry() from @fairway/telemetry-setup). Call it before the clients and their observers are made.
 */
function recordSpans() {
  // Required here, not above: only the examples that count spans need OpenTelemetry installed.
  const { trace } = require('@opentelemetry/api');
  const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
  const spans = new InMemorySpanExporter();
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));
  return spans;
}

/**
 * 60 calls, 3 at a time, each made by `say(text)` (the framework's own way to call Echo.Say, returning a promise
 * of the reply); then who answered and what each attempt did, from the spans recorded since the call began.
 */
async function exercise(say, { servers }, spans) {
  spans.reset();
  const answered = {};
  for (let round = 0; round < 20; round++) {
    const replies = await Promise.all([0, 1, 2].map((j) => say(`call ${round * 3 + j}`)));
    for (const r of replies) answered[r.server] = (answered[r.server] ?? 0) + 1;
  }
  const nameOf = Object.fromEntries(servers.map((s) => [s.address, s.name]));
  const serverOf = (span) => nameOf[span.attributes['fairway.endpoint.address']] ?? 'none';
  const attempts = spans.getFinishedSpans().filter((s) => s.attributes['fairway.attempt'] !== undefined);
  const attemptsPerServer = {};
  for (const a of attempts) attemptsPerServer[serverOf(a)] = (attemptsPerServer[serverOf(a)] ?? 0) + 1;
  // A retry that moved: an attempt timed out on the slow server, the next attempt of that call answered elsewhere.
  const parentOf = (s) => s.parentSpanContext?.spanId ?? s.parentSpanId;
  const movedRetries = attempts.filter(
    (a) =>
      a.attributes['fairway.attempt'] >= 2 &&
      serverOf(a) !== 'slow' &&
      attempts.some(
        (b) => parentOf(b) === parentOf(a) && b.attributes['fairway.attempt.timed_out'] === true && serverOf(b) === 'slow',
      ),
  ).length;
  return { answered, attemptsPerServer, attemptSpans: attempts.length, movedRetries };
}

module.exports = { packageDefinition, Echo, startServer, startServers, recordSpans, exercise };
