// Active health checks end to end (gRFC A17): grpc-js servers on loopback serving grpc.health.v1 through
// serveHealth, a Fairway client whose service config has healthCheckConfig.serviceName.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, ServerCredentials, credentials, type Client, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { loadEcho, type EchoReply, type EchoRequest } from '@fairway/testing';
import { createClient, healthServiceDefinition } from '@fairway/grpc';
import { serveHealth, type HealthService } from './index.js';

type EchoClient = Client & {
  Unary(req: EchoRequest, opts: { deadline: number }, cb: (err: (Error & { code?: number }) | null, reply?: EchoReply) => void): void;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const { service: echoService, EchoClient: EchoCtor } = loadEcho();

interface Backend {
  id: string;
  address: string;
  server: Server;
  health: HealthService | undefined;
}

const servers: Server[] = [];
const clients: Client[] = [];
after(() => {
  for (const c of clients) c.close();
  for (const s of servers) s.forceShutdown();
});

async function backend(id: string, withHealth = true, serviceNames: string[] = []): Promise<Backend> {
  const server = new Server();
  server.addService(echoService, {
    Unary: (call: ServerUnaryCall<EchoRequest, EchoReply>, reply: sendUnaryData<EchoReply>) => {
      const delay = call.request.delay_ms ?? 1;
      setTimeout(() => reply(null, { message: call.request.message ?? '', server_id: id } as EchoReply), delay);
    },
  });
  const health = withHealth ? serveHealth(server, { serviceNames }) : undefined;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  servers.push(server);
  return { id, address: `127.0.0.1:${port}`, server, health };
}

function client(bs: Backend[], serviceName: string | undefined, logs: string[] = []): EchoClient {
  const serviceConfig = serviceName === undefined ? {} : { healthCheckConfig: { serviceName } };
  const log = (m: string) => logs.push(m);
  const c = createClient(EchoCtor, `static:///${bs.map((b) => b.address).join(',')}`, credentials.createInsecure(), {
    channelOptions: { 'grpc.service_config': JSON.stringify(serviceConfig) },
    logger: { info: log, warn: log, error: log },
  }) as unknown as EchoClient;
  clients.push(c);
  return c;
}

const call = (c: EchoClient, req: EchoRequest = { message: 'hi' }) =>
  new Promise<EchoReply>((resolve, reject) => c.Unary(req, { deadline: Date.now() + 5000 }, (err, reply) => (err ? reject(err) : resolve(reply!))));

/** 8 callers in a loop until stopped; every reply with the time it was sent. */
function load(c: EchoClient) {
  const log: Array<{ sentAt: number; server: string }> = [];
  const failures: unknown[] = [];
  let running = true;
  const workers = Array.from({ length: 8 }, async () => {
    while (running) {
      const sentAt = performance.now();
      try {
        log.push({ sentAt, server: (await call(c)).server_id });
      } catch (err) {
        failures.push(err);
      }
    }
  });
  return {
    log,
    failures,
    stop: async () => {
      running = false;
      await Promise.all(workers);
    },
  };
}

async function until(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await sleep(10);
  }
}

describe('active health checks (gRFC A17)', { timeout: 60_000, concurrency: false }, () => {
  test('NOT_SERVING removes the endpoint within 100 ms under load with no failed call; SERVING brings it back', async () => {
    const bs = [await backend('h1', true, ['echo.Echo']), await backend('h2', true, ['echo.Echo']), await backend('h3', true, ['echo.Echo'])];
    const c = client(bs, 'echo.Echo');
    const l = load(c);
    try {
      await until(() => new Set(l.log.map((r) => r.server)).size === 3, 'all three take calls');
      bs[0]!.health!.setServing(false);
      const flippedAt = performance.now();
      await sleep(600);
      const late = l.log.filter((r) => r.sentAt > flippedAt + 100 && r.server === 'h1');
      assert.equal(late.length, 0, `calls sent more than 100 ms after NOT_SERVING still reached h1: ${late.length}`);
      assert.ok(l.log.filter((r) => r.sentAt > flippedAt + 100).length > 20, 'the others keep taking calls');

      bs[0]!.health!.setServing(true);
      const backAt = performance.now();
      await until(() => l.log.some((r) => r.sentAt > backAt && r.server === 'h1'), 'h1 back after SERVING');
      assert.deepEqual(l.failures, [], 'no call failed');
    } finally {
      await l.stop();
    }
  });

  test('an endpoint is not picked before its first SERVING answer; a service it does not know is not SERVING', async () => {
    const known = await backend('k1', true, ['echo.Echo']);
    const unknown = await backend('u1', true, []); // answers SERVICE_UNKNOWN for echo.Echo
    const c = client([known, unknown], 'echo.Echo');
    const seen = new Set<string>();
    for (let i = 0; i < 60; i++) seen.add((await call(c)).server_id);
    assert.deepEqual([...seen], ['k1']);
  });

  test('every endpoint NOT_SERVING: calls fail with UNAVAILABLE naming it, not hang; SERVING again recovers', async () => {
    const b = await backend('n1');
    const c = client([b], '');
    assert.equal((await call(c)).server_id, 'n1');
    b.health!.setServing(false);
    await sleep(100);
    const err = await call(c).then(
      () => undefined,
      (e: Error & { code?: number }) => e,
    );
    assert.ok(err, 'the call failed');
    assert.equal(err.code, 14, err.message);
    assert.match(err.message, /not serving \(health check\)/);
    b.health!.setServing(true);
    await until(() => true, '');
    let ok = false;
    for (let i = 0; i < 50 && !ok; i++) {
      ok = await call(c).then(
        () => true,
        () => false,
      );
      if (!ok) await sleep(50);
    }
    assert.ok(ok, 'calls succeed again after SERVING');
  });

  test('a server without the health service (UNIMPLEMENTED) is used, as A17 says, and logged once', async () => {
    const plain = await backend('p1', false);
    const logs: string[] = [];
    const c = client([plain], '', logs);
    for (let i = 0; i < 5; i++) assert.equal((await call(c)).server_id, 'p1');
    const notes = logs.filter((m) => m.includes('does not implement grpc.health.v1.Health'));
    assert.equal(notes.length, 1, logs.join('\n'));
    assert.match(notes[0]!, new RegExp(plain.address.replace(/\./g, '\\.')));
  });

  test('without healthCheckConfig no health watch is made', async () => {
    const b = await backend('x1');
    const c = client([b], undefined);
    assert.equal((await call(c)).server_id, 'x1');
    assert.equal(b.health!.watchCount, 0);
  });

  test('endWatches ends the watch streams so a graceful shutdown completes; a duplicate health service is refused', async () => {
    const b = await backend('s1');
    const c = client([b], '');
    assert.equal((await call(c)).server_id, 's1');
    await until(() => b.health!.watchCount === 1, 'one watch open');
    assert.throws(() => serveHealth(b.server), /serveHealth: cannot add grpc\.health\.v1\.Health/);
    b.health!.setServing(false);
    b.health!.endWatches();
    assert.equal(b.health!.watchCount, 0);
    await new Promise<void>((resolve) => b.server.tryShutdown(() => resolve()));
    assert.ok(healthServiceDefinition['Watch'], 'the definition is exported for servers');
  });
});
