/**
 * Test-only child process for the telemetry end-to-end tests: one link of the chain client -> Pricer ->
 * Publisher, each in its own process, each with `setupTelemetry` and Fairway's `createClient` with the
 * telemetry observer. Configured through the environment (the `OTEL_*` variables go to `setupTelemetry`):
 *
 * - `CHAIN_ROLE`: `publisher` | `pricer` | `client`
 * - `CHAIN_ZONE`: this process's zone
 * - `CHAIN_DOWNSTREAM`: target of the next hop (pricer: the publishers; client: the pricers)
 * - `CHAIN_DELAY_MS`: publisher service time, ms (default 0)
 * - `CHAIN_CALLS`: client: number of calls (default 1)
 * - `CHAIN_SECRET`: client: a secret sent in metadata (`authorization`, `x-api-key`, `x-session-token`)
 * - `CHAIN_ATTEMPT_TIMEOUT_MS`: client/pricer: Fairway attempt timeout (retries), default none
 * - `CHAIN_EXPORTER`, `CHAIN_FILE`: `setupTelemetry`'s `exporter` and `file` options, default from `OTEL_*`
 *
 * Servers print `READY <port>` and stop on SIGTERM or an IPC `stop` message (flushing telemetry first).
 * The client prints `RESULT <json>` and exits after flushing.
 */
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createClient } from '@fairway/grpc';
import { createTelemetryObserver, traceGrpcHandlers, type TraceExporterKind } from '@fairway/telemetry';
import { setupTelemetry } from '../index.js';

const here = dirname(fileURLToPath(import.meta.url));
const role = process.env.CHAIN_ROLE;
const zone = process.env.CHAIN_ZONE || undefined;
const downstream = process.env.CHAIN_DOWNSTREAM;
const delayMs = Number(process.env.CHAIN_DELAY_MS ?? 0);
const attemptTimeoutMs = process.env.CHAIN_ATTEMPT_TIMEOUT_MS ? Number(process.env.CHAIN_ATTEMPT_TIMEOUT_MS) : undefined;

if (role !== 'publisher' && role !== 'pricer' && role !== 'client') {
  console.error(`chain-service: CHAIN_ROLE must be publisher, pricer or client, got ${String(role)}`);
  process.exit(2);
}

const telemetry = setupTelemetry({
  serviceName: role,
  ...(process.env.CHAIN_EXPORTER ? { exporter: process.env.CHAIN_EXPORTER as TraceExporterKind } : {}),
  ...(process.env.CHAIN_FILE ? { file: process.env.CHAIN_FILE } : {}),
  scheduledDelayMs: 200,
  metricExportIntervalMs: 500,
  shutdownTimeoutMs: 5000,
});

const definition = grpc.loadPackageDefinition(
  protoLoader.loadSync(join(here, 'chain.proto'), { keepCase: true, longs: String, defaults: true }),
) as unknown as {
  fairway: { chain: { Pricer: grpc.ServiceClientConstructor; Publisher: grpc.ServiceClientConstructor } };
};
const { Pricer, Publisher } = definition.fairway.chain;

function makeClient(Ctor: grpc.ServiceClientConstructor): grpc.Client & Record<string, Function> {
  if (!downstream) throw new Error('chain-service: CHAIN_DOWNSTREAM is required for this role');
  return createClient(Ctor, downstream, grpc.credentials.createInsecure(), {
    ...(zone ? { zone } : {}),
    observers: [createTelemetryObserver()],
    ...(attemptTimeoutMs ? { retry: { attemptTimeoutMs, maxAttempts: 4, retryIntervalMs: 10 } } : {}),
    logger: { info() {}, warn: (m: string) => console.error(m), error: (m: string) => console.error(m) },
  }) as grpc.Client & Record<string, Function>;
}

async function stopAndExit(server: grpc.Server | undefined, code: number): Promise<never> {
  if (server) await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  await telemetry.shutdown();
  process.exit(code);
}

async function serve(): Promise<void> {
  const server = new grpc.Server();
  if (role === 'publisher') {
    let n = 0;
    server.addService(
      Publisher.service,
      traceGrpcHandlers({
        Publish(call: grpc.ServerUnaryCall<{ symbol: string; price: number }, unknown>, callback: grpc.sendUnaryData<unknown>) {
          n += 1;
          const id = `pub-${process.pid}-${n}`;
          setTimeout(() => callback(null, { id, published_by: `publisher-${process.pid}` }), delayMs);
        },
      }),
    );
  } else {
    const publisher = makeClient(Publisher);
    server.addService(
      Pricer.service,
      traceGrpcHandlers({
        Quote(call: grpc.ServerUnaryCall<{ symbol: string }, unknown>, callback: grpc.sendUnaryData<unknown>) {
          const price = 100 + call.request.symbol.length;
          publisher.Publish!(
            { symbol: call.request.symbol, price },
            { deadline: Date.now() + 10_000 },
            (err: grpc.ServiceError | null, reply: { id: string }) => {
              if (err) callback(err);
              else callback(null, { price, publication_id: reply.id, priced_by: `pricer-${process.pid}` });
            },
          );
        },
      }),
    );
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  process.on('SIGTERM', () => void stopAndExit(server, 0));
  process.on('message', (m) => {
    if (m === 'stop') void stopAndExit(server, 0);
  });
  process.stdout.write(`READY ${port}\n`);
}

async function runClient(): Promise<void> {
  const pricer = makeClient(Pricer);
  const calls = Number(process.env.CHAIN_CALLS ?? 1);
  const secret = process.env.CHAIN_SECRET;
  const results: { ok: boolean; code?: number; details?: string; reply?: unknown }[] = [];
  for (let i = 0; i < calls; i++) {
    const metadata = new grpc.Metadata();
    if (secret) {
      metadata.set('authorization', `Bearer ${secret}`);
      metadata.set('x-api-key', secret);
      metadata.set('x-session-token', secret);
    }
    results.push(
      await new Promise((resolve) =>
        pricer.Quote!(
          { symbol: `SYM${i}` },
          metadata,
          { deadline: Date.now() + 15_000 },
          (err: grpc.ServiceError | null, reply: unknown) =>
            resolve(err ? { ok: false, code: err.code, details: err.details } : { ok: true, reply }),
        ),
      ),
    );
  }
  process.stdout.write(`RESULT ${JSON.stringify(results)}\n`);
  pricer.close();
  await stopAndExit(undefined, 0);
}

if (role === 'client') void runClient();
else void serve();
