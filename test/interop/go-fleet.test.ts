// A mixed fleet with real Go services (interop/go: grpc-go 1.85, go.etcd.io/etcd/client/v3 3.6), both ways:
// - Go servers that register the way a Go team does (etcd's naming/endpoints Manager, Metadata nil or a map)
//   are discovered and balanced by Fairway with no change on either side;
// - a Go client with etcd's naming/resolver finds and calls Node servers registered by Fairway's registrar;
// - W3C trace context continues through a Go service (the demo's Pricer, otelgrpc) to a Node publisher.
// Real etcd (Debian's 3.4), real processes, loopback only.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, ServerCredentials, Metadata, credentials, type Client, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { loadPackageDefinition } from '@grpc/grpc-js';
import { fileURLToPath } from 'node:url';
import {
  startEtcdForSuite,
  startEchoBackend,
  startGoPeer,
  runGoClient,
  buildGoPeers,
  loadEcho,
  runEchoLoad,
  countByServer,
  type EchoBackend,
  type PeerProcess,
} from '@fairway/testing';
import { createClient, registerInEtcd, type EtcdRegistration as Registration } from 'fairway-grpc';

const quiet = { info() {}, warn() {}, error() {} };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Go services in the fleet (etcd naming package on the Go side)', { timeout: 900_000 }, () => {
  const peers: PeerProcess[] = [];
  const backends: EchoBackend[] = [];
  const registrations: Registration[] = [];
  const clients: Client[] = [];
  const servers: Server[] = [];
  after(async () => {
    for (const c of clients) c.close();
    await Promise.all(registrations.map((r) => r.deregister().catch(() => undefined)));
    await Promise.all(peers.map((p) => p.kill()));
    for (const b of backends) b.forceStop();
    for (const s of servers) s.forceShutdown();
  });
  const etcd = startEtcdForSuite();
  // The first build of the Go peers on a machine downloads modules and compiles: minutes, once.
  before(async () => void (await buildGoPeers()), { timeout: 600_000 });

  test('Go servers registered with endpoints.Manager are discovered and balanced; a slow one gets a small share', { timeout: 120_000 }, async () => {
    const started = await Promise.all([
      startGoPeer({ id: 'go-a1', zone: 'zone-a', etcd: etcd.endpointsCsv, service: 'go-echo', metadata: 'zone' }),
      startGoPeer({ id: 'go-a2', zone: 'zone-a', etcd: etcd.endpointsCsv, service: 'go-echo', metadata: 'zone' }),
      // A plain Go registration: Metadata nil, so Fairway knows no zone for it.
      startGoPeer({ id: 'go-plain', etcd: etcd.endpointsCsv, service: 'go-echo', metadata: 'none' }),
      startGoPeer({ id: 'go-slow', zone: 'zone-a', etcd: etcd.endpointsCsv, service: 'go-echo', metadata: 'zone', delayMs: 150 }),
    ]);
    peers.push(...started);
    // What the Go side wrote is what Fairway reads: {"Op":0,"Addr":...,"Metadata":...} under go-echo/<instance>.
    const keys = await etcd.etcdctl(['get', '--prefix', 'go-echo/']);
    assert.match(keys, /go-echo\/go-a1\n\{"Op":0,"Addr":"127\.0\.0\.1:\d+","Metadata":\{"zone":"zone-a"\}\}/);
    assert.match(keys, /go-echo\/go-plain\n\{"Op":0,"Addr":"127\.0\.0\.1:\d+","Metadata":null\}/);

    const { EchoClient } = loadEcho();
    // Zone-blind, so the plain registration (no zone known) is a candidate like the others.
    const client = createClient(EchoClient, 'etcd:///go-echo', credentials.createInsecure(), {
      discovery: { etcd: { endpoints: etcd.endpoints, logger: quiet } },
      logger: quiet,
    });
    clients.push(client);
    // Warm up until all four are known and connected.
    const seen = new Set<string>();
    for (let i = 0; i < 50 && seen.size < 4; i++) {
      for (const x of await runEchoLoad(client, { calls: 16, concurrency: 16, deadlineMs: 5_000 })) if (x.ok) seen.add(x.reply.server_id);
    }
    assert.equal(seen.size, 4, `Fairway found ${[...seen].join(', ')}`);

    const results = await runEchoLoad(client, { calls: 600, concurrency: 16, deadlineMs: 10_000 });
    const counts = countByServer(results);
    const failed = results.filter((r) => !r.ok);
    assert.equal(failed.length, 0, `failed calls: ${JSON.stringify(counts)}`);
    const share = (id: string) => (counts[id] ?? 0) / results.length;
    // Peak-EWMA with p2c: the 150 ms server is avoided; the fast ones share the rest.
    assert.ok(share('go-slow') < 0.1, `slow Go server got ${JSON.stringify(counts)}`);
    for (const id of ['go-a1', 'go-a2', 'go-plain']) assert.ok(share(id) > 0.15, `${id} got ${JSON.stringify(counts)}`);

    // The zone in the Go Metadata is read: a zone-a client keeps its calls on the zone-a servers (the plain
    // registration's zone is unknown, so it is only spill capacity).
    const zoned = createClient(EchoClient, 'etcd:///go-echo', credentials.createInsecure(), {
      zone: 'zone-a',
      discovery: { etcd: { endpoints: etcd.endpoints, logger: quiet } },
      logger: quiet,
    });
    clients.push(zoned);
    const zonedCounts = countByServer(await runEchoLoad(zoned, { calls: 200, concurrency: 4, deadlineMs: 10_000 }));
    assert.equal(zonedCounts['go-plain'], undefined, JSON.stringify(zonedCounts));
    assert.ok((zonedCounts['go-a1'] ?? 0) + (zonedCounts['go-a2'] ?? 0) + (zonedCounts['go-slow'] ?? 0) === 200, JSON.stringify(zonedCounts));

    // A Go server that stops deregisters itself (DeleteEndpoint, lease revoked): Fairway stops picking it.
    const a2 = started[1]!;
    await a2.kill('SIGTERM');
    await sleep(500);
    const after = countByServer(await runEchoLoad(client, { calls: 120, concurrency: 8, deadlineMs: 10_000 }));
    assert.equal(after['go-a2'], undefined, `calls still reached the stopped server: ${JSON.stringify(after)}`);
    assert.equal(Object.keys(after).filter((k) => k.startsWith('status')).length, 0, JSON.stringify(after));
  });

  test("a Go client with etcd's naming resolver finds and calls Node servers registered by Fairway's registrar", { timeout: 120_000 }, async () => {
    for (const id of ['node-1', 'node-2']) {
      const b = await startEchoBackend({ id, zone: 'zone-b' });
      backends.push(b);
      registrations.push(
        await registerInEtcd({ service: 'node-echo', address: b.address, zone: 'zone-b', instance: id, endpoints: etcd.endpoints, logger: quiet }),
      );
    }
    // The value Fairway wrote is one Go's endpoints package decodes: Op, Addr, Metadata (an object).
    const keys = await etcd.etcdctl(['get', '--prefix', 'node-echo/']);
    assert.match(keys, /node-echo\/node-1\n\{"Op":0,"Addr":"127\.0\.0\.1:\d+","Metadata":\{"zone":"zone-b","instance":"node-1"/);

    const r = await runGoClient({ etcd: etcd.endpointsCsv, target: 'etcd:///node-echo', calls: 40, concurrency: 4 });
    assert.equal(r.failed, 0, `Go client errors: ${r.errors.join('; ')} ${r.stderr.slice(-500)}`);
    assert.equal(r.ok, 40);
    // round_robin over both Node servers.
    assert.ok((r.byServer['node-1'] ?? 0) >= 10 && (r.byServer['node-2'] ?? 0) >= 10, JSON.stringify(r.byServer));

    // Fairway's deregistration (delete + revoke) is seen by the Go resolver too.
    await registrations.shift()!.deregister();
    const r2 = await runGoClient({ etcd: etcd.endpointsCsv, target: 'etcd:///node-echo', calls: 20, concurrency: 2 });
    assert.equal(r2.failed, 0, r2.errors.join('; '));
    assert.deepEqual(r2.byServer, { 'node-2': 20 });
  });

  test('trace context continues through a Go pricer (otelgrpc) to a Node publisher found through etcd', { timeout: 120_000 }, async () => {
    const protoPath = fileURLToPath(new URL('../../examples/trading-pipeline/proto/trading/v1/trading.proto', import.meta.url));
    const pkg = loadPackageDefinition(loadSync(protoPath, { keepCase: false, longs: Number, defaults: true })) as unknown as {
      trading: { v1: { Publisher: { service: never }; Pricer: new (target: string, creds: unknown, options?: object) => Client } };
    };
    const seen: { traceparent: string | undefined; pricer: string }[] = [];
    const server = new Server();
    server.addService(pkg.trading.v1.Publisher.service, {
      Publish(call: ServerUnaryCall<{ symbol: string; price: number; pricer: string }, unknown>, cb: sendUnaryData<unknown>) {
        seen.push({ traceparent: call.metadata.get('traceparent')[0] as string | undefined, pricer: call.request.pricer });
        cb(null, { pod: 'publisher-node-1', zone: 'zone-a', sequence: seen.length });
      },
    });
    servers.push(server);
    const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
    registrations.push(
      await registerInEtcd({ service: 'publisher', address: `127.0.0.1:${port}`, zone: 'zone-a', instance: 'publisher-node-1', endpoints: etcd.endpoints, logger: quiet }),
    );
    peers.push(
      await startGoPeer({ id: 'pricer-go-a', instance: 'pricer-go-a', zone: 'zone-a', etcd: etcd.endpointsCsv, service: 'pricer', metadata: 'fairway', publisher: 'etcd:///publisher' }),
    );
    const pricer = createClient(pkg.trading.v1.Pricer as never, 'etcd:///pricer', credentials.createInsecure(), {
      zone: 'zone-a',
      discovery: { etcd: { endpoints: etcd.endpoints, logger: quiet } },
      logger: quiet,
    }) as unknown as Client & {
      Quote(req: object, md: Metadata, opts: { deadline: number }, cb: (e: Error | null, r?: Record<string, unknown>) => void): void;
    };
    clients.push(pricer);
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parentSpan = '00f067aa0ba902b7';
    const md = new Metadata();
    md.set('traceparent', `00-${traceId}-${parentSpan}-01`);
    const reply = await new Promise<Record<string, unknown>>((res, rej) =>
      pricer.Quote({ symbol: 'ACME', quantity: 100, side: 'buy', requestId: 1 }, md, { deadline: Date.now() + 15_000 }, (e, r) => (e ? rej(e) : res(r!))),
    );
    assert.equal(reply['pod'], 'pricer-go-a');
    assert.equal(reply['zone'], 'zone-a');
    assert.equal(reply['publisherPod'], 'publisher-node-1');
    // Registered with Fairway's identity in the Go Metadata: the incarnation the reply names.
    assert.match(String(reply['incarnation']), /^\d{13}-[0-9a-f]{4}$/);
    const stored = await etcd.etcdctl(['get', '--print-value-only', 'pricer/pricer-go-a']);
    assert.deepEqual(JSON.parse(stored).Metadata, { zone: 'zone-a', instance: 'pricer-go-a', incarnation: reply['incarnation'] });
    assert.ok(typeof reply['price'] === 'number' && (reply['price'] as number) > 100, JSON.stringify(reply));
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.pricer, 'pricer-go-a');
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(seen[0]!.traceparent ?? '');
    assert.ok(m, `the publisher got traceparent ${seen[0]!.traceparent}`);
    assert.equal(m[1], traceId, 'same trace');
    assert.notEqual(m[2], parentSpan, "the Go service's own client span is the parent");
  });
});
