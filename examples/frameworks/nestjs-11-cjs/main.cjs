// NestJS 11 (CommonJS) gRPC clients balanced by Fairway: the one line is `channelOptions: clientOptions({...})`,
// in ClientsModule.register and in ClientProxyFactory.create alike.
// Runs as copied: `npm install fairway-grpc @grpc/grpc-js @grpc/proto-loader @nestjs/microservices@11
// @nestjs/core@11 @nestjs/common@11 reflect-metadata rxjs @opentelemetry/sdk-trace-base`, then `node main.cjs`.
// Three Echo servers on loopback, one slow; prints one JSON line: who answered, attempts per server, retries.
require('reflect-metadata');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const { Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { ClientsModule, ClientProxyFactory, Transport } = require('@nestjs/microservices');
const { trace } = require('@opentelemetry/api');
const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { firstValueFrom } = require('rxjs');
const { clientOptions, createTelemetryObserver } = require('fairway-grpc');

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

/** 60 calls, 3 at a time, through a Nest gRPC service; then who answered and what each attempt did. */
async function exercise(echo, servers) {
  spans.reset();
  const answered = {};
  for (let round = 0; round < 20; round++) {
    const replies = await Promise.all(
      [0, 1, 2].map((j) => firstValueFrom(echo.say({ text: `call ${round * 3 + j}` }, new grpc.Metadata(), { deadline: Date.now() + 5000 }))),
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

async function main() {
  const servers = await Promise.all([startServer('fast-0', 0), startServer('fast-1', 0), startServer('slow', 400)]);
  const grpcOptions = {
    package: 'demo',
    packageDefinition,
    url: `static:///${servers.map((s) => s.address).join(',')}`,
    // The one line: Fairway balancing, a 100 ms attempt timeout that retries on another server, a span per attempt.
    channelOptions: clientOptions({ retry: { attemptTimeoutMs: 100 }, observers: [createTelemetryObserver()] }),
  };

  class AppModule {}
  Module({ imports: [ClientsModule.register([{ name: 'ECHO', transport: Transport.GRPC, options: grpcOptions }])] })(AppModule);
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  const viaModule = await exercise(app.get('ECHO').getService('Echo'), servers);

  const proxy = ClientProxyFactory.create({ transport: Transport.GRPC, options: { ...grpcOptions, channelOptions: clientOptions({ retry: { attemptTimeoutMs: 100 }, observers: [createTelemetryObserver()] }) } });
  const viaFactory = await exercise(proxy.getService('Echo'), servers);

  console.log(JSON.stringify({ clientsModule: viaModule, clientProxyFactory: viaFactory }));
  proxy.close();
  await app.close();
  for (const s of servers) s.server.forceShutdown();
}

main().catch((err) => {
  console.error(err);
  process.exit(1); // the servers would keep the process alive
});
