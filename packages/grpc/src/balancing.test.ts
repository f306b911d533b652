// Real grpc-js servers on loopback, one client connection: per-request spreading, slow endpoints avoided,
// zone preference, same-tick bursts spread, and every call kind passing through unchanged.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, Metadata, status, makeGenericClientConstructor } from '@grpc/grpc-js';
import type { ClientDuplexStream, ClientReadableStream, ClientWritableStream, Client, ServiceError } from '@grpc/grpc-js';
import { startEchoBackend, loadEcho, runEchoLoad, countByServer, echoUnary } from '@fairway/testing';
import type { EchoBackend, EchoReply, EchoRequest } from '@fairway/testing';
import { createClient, createChannel, clientOptions } from './index.js';

const creds = credentials.createInsecure();
const { EchoClient } = loadEcho();
const backends: EchoBackend[] = [];
const clients: Client[] = [];
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(backends.map((b) => b.forceStop()));
});

async function start(n: number, opts: { zone?: string; serviceTimeMs?: number; id?: string }[]): Promise<EchoBackend[]> {
  const out = await Promise.all(Array.from({ length: n }, (_, i) => startEchoBackend({ ...opts[i] })));
  backends.push(...out);
  return out;
}
const staticTarget = (bs: EchoBackend[]) => `static:///${bs.map((b) => (b.zone ? `${b.address}@${b.zone}` : b.address)).join(',')}`;
function client(target: string, zone?: string): Client {
  const c = createClient(EchoClient, target, creds, zone ? { zone } : {});
  clients.push(c);
  return c;
}

describe('balancing on one client connection', { concurrency: false }, () => {
  test('calls spread per request across endpoints; a slow endpoint gets <= 5%', { timeout: 60_000 }, async () => {
    const bs = await start(4, [
      { id: 'fast-1', serviceTimeMs: 2 },
      { id: 'fast-2', serviceTimeMs: 2 },
      { id: 'fast-3', serviceTimeMs: 2 },
      { id: 'slow', serviceTimeMs: 1_000 },
    ]);
    const c = client(staticTarget(bs));
    const results = await runEchoLoad(c, { calls: 400, concurrency: 4, deadlineMs: 10_000 });
    const counts = countByServer(results);
    assert.equal(results.filter((r) => r.ok).length, 400, JSON.stringify(counts));
    for (const id of ['fast-1', 'fast-2', 'fast-3']) assert.ok((counts[id] ?? 0) >= 60, `${id} got ${counts[id]}: ${JSON.stringify(counts)}`);
    assert.ok((counts['slow'] ?? 0) <= 20, `slow got ${counts['slow']} of 400: ${JSON.stringify(counts)}`);
  });

  test('>= 95% of calls stay in the caller zone while it can carry the load', { timeout: 60_000 }, async () => {
    const bs = await start(4, [
      { id: 'a1', zone: 'zone-a', serviceTimeMs: 2 },
      { id: 'a2', zone: 'zone-a', serviceTimeMs: 2 },
      { id: 'b1', zone: 'zone-b', serviceTimeMs: 2 },
      { id: 'b2', zone: 'zone-b', serviceTimeMs: 2 },
    ]);
    const c = client(staticTarget(bs), 'zone-a');
    const results = await runEchoLoad(c, { calls: 400, concurrency: 2, deadlineMs: 10_000 });
    const inZone = results.filter((r) => r.ok && r.reply.zone === 'zone-a').length;
    const counts = countByServer(results);
    assert.ok(inZone >= 380, `${inZone} of 400 in zone-a: ${JSON.stringify(counts)}`);
    // Both local endpoints serve. Not an even split: at 2 calls in flight peak-EWMA prefers whichever of the pair
    // answered faster lately, and on a busy 2-core machine one of them looks 3x slower for a while now and then
    // (measured 57/343 once in CI); a recovery probe ends each such spell, so neither is starved.
    assert.ok((counts['a1'] ?? 0) >= 40 && (counts['a2'] ?? 0) >= 40, JSON.stringify(counts));
  });

  test('a burst of picks in one tick spreads (in-flight counted at pick time)', { timeout: 60_000 }, async () => {
    const bs = await start(3, [
      { id: 'h1', serviceTimeMs: 150 },
      { id: 'h2', serviceTimeMs: 150 },
      { id: 'h3', serviceTimeMs: 150 },
    ]);
    const c = client(staticTarget(bs));
    // Warm: every endpoint connected and answered once.
    await runEchoLoad(c, { calls: 9, concurrency: 3 });
    const burst = await Promise.all(Array.from({ length: 90 }, () => echoUnary(c, {}, { deadlineMs: 10_000 })));
    const counts = countByServer(burst);
    assert.equal(burst.filter((r) => r.ok).length, 90, JSON.stringify(counts));
    for (const id of ['h1', 'h2', 'h3']) assert.ok((counts[id] ?? 0) >= 12 && (counts[id] ?? 0) <= 50, `${JSON.stringify(counts)}`);
  });

  test('a cold burst (calls queued before any connection) spreads too', { timeout: 60_000 }, async () => {
    const bs = await start(3, [
      { id: 'c1', serviceTimeMs: 100 },
      { id: 'c2', serviceTimeMs: 100 },
      { id: 'c3', serviceTimeMs: 100 },
    ]);
    const c = client(staticTarget(bs));
    const burst = await Promise.all(Array.from({ length: 60 }, () => echoUnary(c, {}, { deadlineMs: 10_000 })));
    const counts = countByServer(burst);
    assert.equal(burst.filter((r) => r.ok).length, 60, JSON.stringify(counts));
    assert.ok(Object.keys(counts).length >= 2, `all on one endpoint: ${JSON.stringify(counts)}`);
  });

  test('grpc-js ipv4: and dns: targets are balanced too (zone-blind)', { timeout: 60_000 }, async () => {
    const bs = await start(3, [{ id: 'v1' }, { id: 'v2' }, { id: 'v3' }]);
    const c = client(`ipv4:${bs.map((b) => b.address).join(',')}`);
    const results = await runEchoLoad(c, { calls: 300, concurrency: 6, request: { delay_ms: 20 } });
    const counts = countByServer(results);
    for (const id of ['v1', 'v2', 'v3']) assert.ok((counts[id] ?? 0) >= 30, JSON.stringify(counts));
    const d = client(`dns:///127.0.0.1:${bs[0]!.port}`);
    const r = await echoUnary(d, { message: 'via dns' });
    assert.ok(r.ok && r.reply.server_id === 'v1' && r.reply.message === 'via dns');
  });
});

test('when every endpoint refuses connections, calls fail fast with UNAVAILABLE saying so', { timeout: 30_000 }, async () => {
  const dead = await Promise.all([startEchoBackend({ id: 'dead-1' }), startEchoBackend({ id: 'dead-2' })]);
  dead.forEach((b) => b.forceStop());
  const c = client(staticTarget(dead));
  const r = await echoUnary(c, {}, { deadlineMs: 10_000 });
  assert.ok(!r.ok && r.code === status.UNAVAILABLE, JSON.stringify(r));
  assert.ok(r.ms < 9_000, `failed after ${r.ms} ms: should not wait for the deadline`);
  assert.match(r.details, /no endpoint reachable|ECONNREFUSED|connect/i);
});

describe('every call kind passes through unchanged', { concurrency: false }, () => {
  let c: Client;
  const ready = (async () => {
    const bs = await start(2, [{ id: 'p1' }, { id: 'p2' }]);
    c = client(staticTarget(bs));
  })();

  test('unary: metadata both ways, application errors as they are', { timeout: 30_000 }, async () => {
    await ready;
    const md = new Metadata();
    md.set('x-echo', 'hello');
    const got = await new Promise<{ reply: EchoReply; headers: Metadata }>((resolve, reject) => {
      let headers: Metadata | undefined;
      const call = (c as unknown as { Unary: Function }).Unary({ message: 'm' }, md, (e: ServiceError | null, r: EchoReply) =>
        e ? reject(e) : resolve({ reply: r, headers: headers! }),
      );
      call.on('metadata', (h: Metadata) => (headers = h));
    });
    assert.equal(got.reply.message, 'm');
    assert.deepEqual(got.headers.get('x-echo'), ['hello']);
    const failed = await echoUnary(c, { fail_code: status.NOT_FOUND });
    assert.ok(!failed.ok && failed.code === status.NOT_FOUND);
  });

  test('server streaming, client streaming and bidi', { timeout: 30_000 }, async () => {
    await ready;
    const any = c as unknown as Record<string, Function>;
    const streamed = await new Promise<EchoReply[]>((resolve, reject) => {
      const out: EchoReply[] = [];
      const s = any['ServerStream']!.call(c, { message: 's', count: 3 }) as ClientReadableStream<EchoReply>;
      s.on('data', (r) => out.push(r));
      s.on('error', reject);
      s.on('end', () => resolve(out));
    });
    assert.deepEqual(streamed.map((r) => r.sequence), [1, 2, 3]);
    assert.equal(new Set(streamed.map((r) => r.server_id)).size, 1, 'a stream stays on one endpoint');

    const joined = await new Promise<EchoReply>((resolve, reject) => {
      const s = any['ClientStream']!.call(c, (e: ServiceError | null, r: EchoReply) => (e ? reject(e) : resolve(r))) as ClientWritableStream<EchoRequest>;
      for (const m of ['a', 'b', 'c']) s.write({ message: m });
      s.end();
    });
    assert.equal(joined.message, 'a,b,c');
    assert.equal(joined.sequence, 3);

    const echoed = await new Promise<string[]>((resolve, reject) => {
      const out: string[] = [];
      const s = any['Bidi']!.call(c) as ClientDuplexStream<EchoRequest, EchoReply>;
      s.on('data', (r: EchoReply) => {
        out.push(r.message);
        if (out.length === 3) s.end();
      });
      s.on('error', reject);
      s.on('end', () => resolve(out));
      for (const m of ['x', 'y', 'z']) s.write({ message: m });
    });
    assert.deepEqual(echoed, ['x', 'y', 'z']);
  });

  test('a generated-style client (makeGenericClientConstructor) and a shared channel work unchanged', { timeout: 30_000 }, async () => {
    await ready;
    const Generated = makeGenericClientConstructor(EchoClient.service, 'Echo');
    const target = staticTarget(backends.filter((b) => b.id === 'p1' || b.id === 'p2'));
    const g = createClient(Generated, target, creds, {});
    clients.push(g);
    const r = await echoUnary(g, { message: 'generated' });
    assert.ok(r.ok && r.reply.message === 'generated');
    const channel = createChannel(target, creds);
    const s1 = new EchoClient(target, creds, { ...clientOptions(), channelOverride: channel });
    const s2 = new Generated(target, creds, { ...clientOptions(), channelOverride: channel });
    clients.push(s1, s2);
    assert.ok((await echoUnary(s1)).ok && (await echoUnary(s2)).ok);
    assert.equal(s1.getChannel(), s2.getChannel());
  });

  test('deadlines and cancellation', { timeout: 30_000 }, async () => {
    await ready;
    const late = await echoUnary(c, { delay_ms: 3_000 }, { deadlineMs: 200 });
    assert.ok(!late.ok && late.code === status.DEADLINE_EXCEEDED, JSON.stringify(late));
    const cancelled = await new Promise<number>((resolve) => {
      const call = (c as unknown as { Unary: Function }).Unary({ delay_ms: 3_000 }, (e: ServiceError | null) => resolve(e?.code ?? -1));
      setTimeout(() => call.cancel(), 100);
    });
    assert.equal(cancelled, status.CANCELLED);
    // The channel still works afterwards.
    assert.ok((await echoUnary(c, { message: 'after' })).ok);
  });
});
