// ts-proto 2.18 generated grpc-js clients balanced by Fairway: the one line is `createClient(EchoClient, target,
// credentials, options)` from fairway-grpc in place of `new EchoClient(address, credentials)`.
// generated/echo.ts comes from echo.proto by ./generate.sh (ts-proto's outputServices=grpc-js). Compiles as CommonJS
// or ESM (`module: node16`); needs fairway-grpc @grpc/grpc-js @bufbuild/protobuf @opentelemetry/sdk-trace-base.
// Three Echo servers on loopback, one slow; prints one JSON line: who answered, attempts per server, retries.
import * as grpc from '@grpc/grpc-js';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { createClient, createTelemetryObserver } from 'fairway-grpc';
import { EchoClient, EchoService } from './generated/echo.js';
import type { Msg } from './generated/echo.js';

// Spans kept in memory to count them (in production: setupTelemetry() from @fairway/telemetry-setup).
const spans = new InMemorySpanExporter();
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));

interface Started {
  readonly name: string;
  readonly server: grpc.Server;
  readonly address: string;
}

/** A server that answers with its name after `delayMs`; binds port 0 and reports the port it got. */
function startServer(name: string, delayMs: number): Promise<Started> {
  const server = new grpc.Server();
  server.addService(EchoService, {
    say: (call: grpc.ServerUnaryCall<Msg, Msg>, reply: grpc.sendUnaryData<Msg>) =>
      setTimeout(() => reply(null, { text: call.request.text, server: name }), delayMs),
  });
  return new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(err) : resolve({ name, server, address: `127.0.0.1:${port}` }),
    ),
  );
}

function say(client: EchoClient, text: string): Promise<Msg> {
  return new Promise((resolve, reject) =>
    client.say({ text, server: '' }, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err, reply) => (err ? reject(err) : resolve(reply))),
  );
}

/** 60 calls, 3 at a time; then who answered and what each attempt did. */
async function exercise(client: EchoClient, servers: readonly Started[]) {
  const answered: Record<string, number> = {};
  for (let round = 0; round < 20; round++) {
    const replies = await Promise.all([0, 1, 2].map((j) => say(client, `call ${round * 3 + j}`)));
    for (const r of replies) answered[r.server] = (answered[r.server] ?? 0) + 1;
  }
  const nameOf: Record<string, string> = Object.fromEntries(servers.map((s) => [s.address, s.name]));
  const serverOf = (s: ReadableSpan): string => nameOf[String(s.attributes['fairway.endpoint.address'])] ?? 'none';
  const attempts = spans.getFinishedSpans().filter((s) => s.attributes['fairway.attempt'] !== undefined);
  const attemptsPerServer: Record<string, number> = {};
  for (const a of attempts) attemptsPerServer[serverOf(a)] = (attemptsPerServer[serverOf(a)] ?? 0) + 1;
  // A retry that moved: an attempt timed out on the slow server, the next attempt of that call answered elsewhere.
  const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
  const movedRetries = attempts.filter(
    (a) =>
      Number(a.attributes['fairway.attempt']) >= 2 &&
      serverOf(a) !== 'slow' &&
      attempts.some((b) => parentOf(b) === parentOf(a) && b.attributes['fairway.attempt.timed_out'] === true && serverOf(b) === 'slow'),
  ).length;
  return { answered, attemptsPerServer, attemptSpans: attempts.length, movedRetries };
}

async function main(): Promise<void> {
  const servers = await Promise.all([startServer('fast-0', 0), startServer('fast-1', 0), startServer('slow', 400)]);
  const target = `static:///${servers.map((s) => s.address).join(',')}`;
  // Before: new EchoClient('127.0.0.1:50051', grpc.credentials.createInsecure())
  // The one line: Fairway balancing, a 100 ms attempt timeout that retries on another server, a span per attempt.
  const client = createClient(EchoClient, target, grpc.credentials.createInsecure(), {
    retry: { attemptTimeoutMs: 100 },
    observers: [createTelemetryObserver()],
  });
  console.log(JSON.stringify(await exercise(client, servers)));
  client.close();
  for (const s of servers) s.server.forceShutdown();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1); // the servers would keep the process alive
});
