// Hedging and transparent re-picks through the whole client (createClient: Fairway's policy and picker plus
// the call layer) on loopback servers: three Echo servers, one slow; servers that refuse every stream.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, constants as http2constants } from 'node:http2';
import type { Http2Server } from 'node:http2';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server, ServerCredentials, credentials, loadPackageDefinition } from '@grpc/grpc-js';
import type { Client, GrpcObject, ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { AttemptStart, CallObserverFactory, PickExplanation } from '@fairway/core';
import { createScriptedDiscovery, echoUnary, loadEcho, startEchoBackend } from '@fairway/testing';
import type { EchoBackend } from '@fairway/testing';
import { createClient, registerDiscoveryScheme } from '../index.js';
import { idempotentMethodsOf } from '../factory.js';
import type { FairwayOptions } from '../index.js';
import { requestNeverWritten } from './fairway-call.js';

const { EchoClient } = loadEcho();
const backends: EchoBackend[] = [];
const clients: Client[] = [];
const rawServers: Http2Server[] = [];
const grpcServers: Server[] = [];
const here = dirname(fileURLToPath(import.meta.url));
after(async () => {
  for (const c of clients) c.close();
  for (const s of grpcServers) s.forceShutdown();
  for (const b of backends) b.forceStop();
  await Promise.all(rawServers.map((s) => new Promise((r) => s.close(r))));
});

interface CallRecord {
  method: string;
  attempts: Array<{ n: number; reason: string | undefined; address?: string; code?: number; repickReason?: string }>;
  code?: number;
}

function recorder(): { factory: CallObserverFactory; calls: CallRecord[] } {
  const calls: CallRecord[] = [];
  return {
    calls,
    factory: {
      onCallStart(d) {
        const call: CallRecord = { method: d.method, attempts: [] };
        calls.push(call);
        return {
          onAttemptStart(n: number, start?: AttemptStart) {
            const a: CallRecord['attempts'][number] = { n, reason: start?.reason };
            call.attempts.push(a);
            return {
              onPick: (p) => void (a.address = p.address),
              outgoingHeaders: () => ({}),
              onEnd: (o) => {
                a.code = o.code;
                if (o.repickReason) a.repickReason = o.repickReason;
              },
            };
          },
          onEnd: (s) => void (call.code = s.code),
        };
      },
    },
  };
}

let schemeSeq = 0;
function clientOn(addresses: readonly string[], options: FairwayOptions): Client {
  const scheme = `hedge-test-${++schemeSeq}`;
  const discovery = createScriptedDiscovery();
  registerDiscoveryScheme(scheme, discovery.factory);
  discovery.push(addresses.map((address) => ({ address })));
  const c = createClient(EchoClient, `${scheme}:///echo`, credentials.createInsecure(), options);
  clients.push(c);
  return c;
}

async function runCalls(c: Client, total: number, concurrency: number): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next++;
        const r = await echoUnary(c, { message: 'x' }, { deadlineMs: 10_000 });
        assert.ok(r.ok, JSON.stringify(r));
        latencies.push(r.ms);
      }
    }),
  );
  return latencies;
}

describe('hedging on loopback servers', { timeout: 120_000 }, () => {
  test('three servers, one slow: hedges go to another endpoint, win, and cancel the slow attempt', async () => {
    const fast = [await startEchoBackend({ id: 'fast-1', serviceTimeMs: 2 }), await startEchoBackend({ id: 'fast-2', serviceTimeMs: 2 })];
    const slow = await startEchoBackend({ id: 'slow', serviceTimeMs: 3_000 });
    backends.push(...fast, slow);
    const rec = recorder();
    const c = clientOn([...fast, slow].map((b) => b.address), {
      retry: { hedging: { methods: ['fairway.test.Echo/Unary'], delayMs: 40, budgetRatio: 1 } },
      observers: [rec.factory],
    });
    const latencies = await runCalls(c, 300, 6);
    const onSlow = rec.calls.filter((call) => call.attempts[0]?.address === slow.address);
    assert.ok(onSlow.length > 0, 'the slow server got some first attempts (a new endpoint is probed)');
    for (const call of onSlow) {
      assert.deepEqual(call.attempts.map((a) => a.reason), ['first', 'hedge'], JSON.stringify(call));
      assert.notEqual(call.attempts[1]!.address, slow.address, `the hedge went to another endpoint: ${JSON.stringify(call)}`);
      assert.equal(call.attempts[1]!.code, 0);
      assert.equal(call.attempts[0]!.code, 1, 'the slow attempt was cancelled (CANCELLED)');
    }
    const hedges = rec.calls.flatMap((call) => call.attempts.filter((a) => a.reason === 'hedge'));
    for (const call of rec.calls) {
      const addresses = call.attempts.map((a) => a.address);
      assert.equal(new Set(addresses).size, addresses.length, `every hedge on an endpoint not tried yet: ${JSON.stringify(call)}`);
    }
    const attemptsOnSlow = rec.calls.reduce((n, call) => n + call.attempts.filter((a) => a.address === slow.address).length, 0);
    assert.equal(slow.counts.unary, attemptsOnSlow, 'the slow server saw exactly the attempts picked onto it');
    console.log(`# hedging: ${rec.calls.length} calls, ${onSlow.length} first attempts on the slow server, ${hedges.length} hedges; max latency ${Math.max(...latencies).toFixed(0)} ms`);
  });

  test('a first attempt on an endpoint far slower than the others is hedged at the method\'s median latency, not its percentile', async () => {
    const fast = [await startEchoBackend({ id: 'fast-1', serviceTimeMs: 10 }), await startEchoBackend({ id: 'fast-2', serviceTimeMs: 10 })];
    const slow = await startEchoBackend({ id: 'slow', serviceTimeMs: 300 });
    backends.push(...fast, slow);
    const calls: Array<{ first?: PickExplanation; hedgeDetail?: string; winner?: string }> = [];
    const factory: CallObserverFactory = {
      onCallStart() {
        const call: (typeof calls)[number] = {};
        calls.push(call);
        return {
          onAttemptStart(n: number, start?: AttemptStart) {
            if (start?.reason === 'hedge') call.hedgeDetail = start.detail;
            return {
              onPick: (p) => void (n === 1 ? (call.first = p) : undefined),
              outgoingHeaders: () => ({}),
              onEnd: (o) => void (o.code === 0 ? (call.winner = n === 1 ? 'first' : 'hedge') : undefined),
            };
          },
          onEnd: () => {},
        };
      },
    };
    // Live delay (the default percentile), an ample budget: what is measured is when the hedge goes out.
    const c = clientOn([...fast, slow].map((b) => b.address), {
      retry: { hedging: { methods: ['fairway.test.Echo/Unary'], budgetRatio: 1 } },
      observers: [factory],
    });
    // About 2.5 s: the slow server gets a recovery probe now and then (a lone slow answer is believed only up to
    // 3x the set's median; the second in a row in full).
    await runCalls(c, 800, 4);
    const onSlow = calls.filter((x) => x.first?.address === slow.address);
    assert.ok(onSlow.length >= 2, `the slow server got first attempts (recovery probes): ${onSlow.length}`);
    // (Its very first calls, before 20 answers gave the method a latency distribution, are not hedged.)
    for (const x of onSlow.filter((y) => y.first?.rttEstimateMs !== undefined)) assert.equal(x.winner, 'hedge', JSON.stringify(x));
    const sooner = calls.filter((x) => /method's median/.test(x.hedgeDetail ?? ''));
    for (const x of sooner) {
      const e = x.first!;
      assert.ok(e.rttEstimateMs! > 2 * e.setMedianRttMs!, `hedged sooner only for an endpoint above 2x the median: ${JSON.stringify(e)}`);
      assert.match(x.hedgeDetail!, /^no answer after \d+ms \(its endpoint's estimate \d+ms is above 2x the set's median \d+ms, so at the method's median latency instead of \d+ms\): hedged/);
    }
    const slowSooner = onSlow.filter((x) => sooner.includes(x));
    assert.ok(slowSooner.length > 0, `once the slow server's estimate was known, its calls were hedged at the median: ${JSON.stringify(onSlow.map((x) => [x.first?.rttEstimateMs, x.first?.setMedianRttMs, x.hedgeDetail]))}`);
    console.log(`# hedging sooner: ${calls.length} calls, ${onSlow.length} first attempts on the slow server, ${slowSooner.length} of them hedged at the median; ${sooner.length} sooner hedges in all`);
  });

  test('a server stream is hedged before its first message; all its messages come from the winner', async () => {
    const fast = [await startEchoBackend({ id: 'sfast-1', serviceTimeMs: 2 }), await startEchoBackend({ id: 'sfast-2', serviceTimeMs: 2 })];
    const slow = await startEchoBackend({ id: 'sslow', serviceTimeMs: 3_000 });
    backends.push(...fast, slow);
    const rec = recorder();
    const c = clientOn([...fast, slow].map((b) => b.address), {
      retry: { hedging: { methods: ['fairway.test.Echo/ServerStream'], delayMs: 40, budgetRatio: 1 } },
      observers: [rec.factory],
    });
    type Stream = { on(event: string, fn: (x?: unknown) => void): void };
    const stream = () =>
      new Promise<string[]>((resolve, reject) => {
        const servers: string[] = [];
        const s = (c as unknown as { ServerStream: (r: object, o: object) => Stream }).ServerStream({ message: 's', count: 3 }, { deadline: Date.now() + 10_000 });
        s.on('data', (m) => void servers.push((m as { server_id: string }).server_id));
        s.on('error', (e) => reject(e as Error));
        s.on('end', () => resolve(servers));
      });
    for (let i = 0; i < 20; i++) {
      const got = await Promise.all([stream(), stream(), stream()]);
      for (const servers of got) {
        assert.equal(servers.length, 3);
        assert.equal(new Set(servers).size, 1, `one server per stream: ${servers.join(',')}`);
        assert.notEqual(servers[0], 'sslow');
      }
    }
    const onSlow = rec.calls.filter((call) => call.attempts[0]?.address === slow.address);
    assert.ok(onSlow.length > 0, 'the slow server got some first attempts');
    for (const call of onSlow) assert.deepEqual(call.attempts.map((a) => [a.reason, a.code]), [['first', 1], ['hedge', 0]]);
  });

  test('the hedge budget bounds the extra calls (default 5 %)', async () => {
    const servers = [1, 2, 3].map((i) => startEchoBackend({ id: `b-${i}`, serviceTimeMs: 20 }));
    const started = await Promise.all(servers);
    backends.push(...started);
    const rec = recorder();
    // A hedge delay of 1 ms: every call would be hedged if the budget let it.
    const c = clientOn(started.map((b) => b.address), {
      retry: { hedging: { methods: ['/fairway.test.Echo/Unary'], delayMs: 1 } },
      observers: [rec.factory],
    });
    await runCalls(c, 400, 4);
    const hedges = rec.calls.reduce((n, call) => n + call.attempts.filter((a) => a.reason === 'hedge').length, 0);
    const served = started.reduce((n, b) => n + b.counts.unary, 0);
    console.log(`# hedge budget: 400 calls, ${hedges} hedges, ${served} calls at the servers`);
    assert.ok(hedges > 0, 'some calls were hedged');
    assert.ok(hedges <= 400 * 0.05, `${hedges} hedges > 5 % of 400 calls`);
    assert.ok(served <= 400 + hedges, `${served} calls served`);
  });

  test('a method not named is never hedged', async () => {
    const b = await startEchoBackend({ id: 'plain', serviceTimeMs: 30 });
    backends.push(b);
    const rec = recorder();
    const c = clientOn([b.address], { retry: { hedging: { methods: ['fairway.test.Other/Unary'], delayMs: 1, budgetRatio: 1 } }, observers: [rec.factory] });
    await runCalls(c, 20, 2);
    assert.equal(b.counts.unary, 20);
    assert.ok(rec.calls.every((call) => call.attempts.length === 1));
  });

  test('retry.hedging.idempotent hedges the methods whose proto says idempotency_level NO_SIDE_EFFECTS, and no other', async () => {
    const def = loadSync(join(here, 'test-support', 'lookup.proto'));
    const Store = ((loadPackageDefinition(def)['fairway'] as GrpcObject)['hedgetest'] as GrpcObject)['Store'] as ServiceClientConstructor;
    assert.deepEqual([...idempotentMethodsOf(Store)], ['fairway.hedgetest.Store/Lookup']);
    const start = async (id: string, delayMs: number): Promise<string> => {
      const server = new Server();
      const answer = (_: unknown, cb: (e: null, v: { server: string }) => void) => void setTimeout(() => cb(null, { server: id }), delayMs);
      server.addService(Store.service, { Lookup: answer, Write: answer });
      grpcServers.push(server);
      const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
      );
      return `127.0.0.1:${port}`;
    };
    // Both servers take 100 ms, so every Lookup outlives the 20 ms hedge delay wherever the balancer sends it
    // (with one fast server, whether a Lookup ever meets the slow one depends on the balancer's mood).
    const addresses = [await start('store-a', 100), await start('store-b', 100)];
    const rec = recorder();
    const scheme = `hedge-test-${++schemeSeq}`;
    const discovery = createScriptedDiscovery();
    registerDiscoveryScheme(scheme, discovery.factory);
    discovery.push(addresses.map((address) => ({ address })));
    const c = createClient(Store, `${scheme}:///store`, credentials.createInsecure(), {
      retry: { hedging: { idempotent: true, delayMs: 20, budgetRatio: 1 } },
      observers: [rec.factory],
    });
    clients.push(c);
    const call = (method: 'Lookup' | 'Write') =>
      new Promise<void>((resolve, reject) =>
        (c as unknown as Record<string, (k: object, o: object, cb: (e: Error | null) => void) => void>)[method]!({ key: 'k' }, { deadline: Date.now() + 5_000 }, (e) => (e ? reject(e) : resolve())),
      );
    for (let i = 0; i < 10; i++) await Promise.all([call('Lookup'), call('Write')]);
    const byMethod = (m: string) => rec.calls.filter((r) => r.method.endsWith(m));
    assert.ok(byMethod('/Lookup').some((r) => r.attempts.some((a) => a.reason === 'hedge')), 'some Lookup calls were hedged');
    assert.ok(byMethod('/Write').every((r) => r.attempts.length === 1), 'no Write call was hedged');
  });

  test('retry.hedging.idempotent with an idempotent method left one attempt is refused at createClient, naming the method', () => {
    const def = loadSync(join(here, 'test-support', 'lookup.proto'));
    const Store = ((loadPackageDefinition(def)['fairway'] as GrpcObject)['hedgetest'] as GrpcObject)['Store'] as ServiceClientConstructor;
    // Core accepts this (Write has two attempts, so some method could be hedged); only the class knows that
    // Lookup is the idempotent one, and it would never be hedged.
    const retry = { maxAttempts: 1, methods: { 'fairway.hedgetest.Store/Write': { maxAttempts: 2 } }, hedging: { idempotent: true } };
    assert.throws(
      () => createClient(Store, 'static:///127.0.0.1:1', credentials.createInsecure(), { retry }),
      (e: Error) => {
        assert.equal(e.name, 'RetryOptionsError');
        assert.match(e.message, /^retry\.maxAttempts: 1 leaves no attempt for a hedge of 'fairway\.hedgetest\.Store\/Lookup', which the proto declares idempotent/);
        return true;
      },
    );
    const own = { maxAttempts: 3, methods: { 'fairway.hedgetest.Store/Lookup': { maxAttempts: 1 } }, hedging: { idempotent: true } };
    assert.throws(() => createClient(Store, 'static:///127.0.0.1:1', credentials.createInsecure(), { retry: own }), /^RetryOptionsError: retry\.methods\['fairway\.hedgetest\.Store\/Lookup'\]\.maxAttempts: 1 leaves no attempt/);
    // Given its own attempts, the same options make a client.
    const fixed = { ...retry, methods: { ...retry.methods, 'fairway.hedgetest.Store/Lookup': { maxAttempts: 2 } } };
    const c = createClient(Store, 'static:///127.0.0.1:1', credentials.createInsecure(), { retry: fixed });
    clients.push(c);
  });
});

/** A plain HTTP/2 server that refuses every stream (RST_STREAM REFUSED_STREAM), as a server over its limit does. */
async function startRefuser(): Promise<string> {
  const server = createServer();
  server.on('stream', (stream) => {
    stream.on('error', () => undefined); // the refusal itself is reported as the stream's error
    stream.close(http2constants.NGHTTP2_REFUSED_STREAM);
  });
  rawServers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return `127.0.0.1:${address.port}`;
}

/**
 * A plain HTTP/2 server that never reads a request and, 50 ms after a stream opens, shuts its connection down
 * (GOAWAY with CANCEL, then closes it): a big request message is then still being written, stalled on HTTP/2 flow
 * control, so it never arrives. Node 24's http2 fails that write (grpc-js: UNAVAILABLE "Write error: Session
 * closed with error code 8"); Node 20's cancels the stream first (grpc-js: CANCELLED "Call cancelled", which is
 * also how a call the server had read ends, so it cannot be re-picked).
 */
async function startGoawayWhileWriting(): Promise<{ address: string; received: () => number }> {
  const server = createServer();
  let received = 0;
  server.on('session', (session) => session.on('error', () => undefined));
  server.on('stream', (stream) => {
    stream.on('error', () => undefined);
    stream.pause();
    stream.on('data', (d: Buffer) => void (received += d.length));
    setTimeout(() => {
      if (stream.session === undefined || stream.session.destroyed) return;
      stream.session.goaway(http2constants.NGHTTP2_CANCEL);
      stream.session.destroy();
    }, 50);
  });
  rawServers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return { address: `127.0.0.1:${address.port}`, received: () => received };
}

describe('a request that was never written', () => {
  test('only an UNAVAILABLE "Write error" / "Write failed" counts as never written', () => {
    assert.equal(requestNeverWritten(14, 'Write error: Session closed with error code 8'), true);
    assert.equal(requestNeverWritten(14, 'Write failed with error ERR_HTTP2_INVALID_STREAM'), true);
    assert.equal(requestNeverWritten(13, 'Write error: write after end'), false, 'INTERNAL: grpc-js wrote after the end itself');
    for (const details of ['Connection dropped', 'read ECONNRESET', 'Call cancelled', 'Stream refused by server', 'error: Write error']) {
      assert.equal(requestNeverWritten(14, details), false, details);
    }
  });
});

describe('transparent re-picks on loopback servers', { timeout: 60_000 }, () => {
  test('a request whose message could not be written (the connection went away under it) is re-picked', async () => {
    const goaway = await startGoawayWhileWriting();
    const good = await startEchoBackend({ id: 'good-write', serviceTimeMs: 1 });
    backends.push(good);
    const rec = recorder();
    const c = clientOn([goaway.address, good.address], { retry: { budget: { ratio: 0, minPerSecond: 0 } }, observers: [rec.factory], channelOptions: { 'grpc.enable_retries': 0 } });
    const big = 'x'.repeat(1_000_000); // far above HTTP/2's initial 64 KiB window: still being written at the GOAWAY
    const results = [];
    for (let i = 0; i < 12; i++) results.push(await echoUnary(c, { message: big }, { deadlineMs: 10_000 }));
    const onGoaway = rec.calls.flatMap((call) => call.attempts.filter((a) => a.address === goaway.address));
    assert.ok(onGoaway.length > 0, 'some attempts went to the server that goes away');
    assert.equal(goaway.received() < 12 * big.length, true);
    const writeErrors = onGoaway.filter((a) => a.repickReason !== undefined);
    for (const a of writeErrors) assert.match(a.repickReason!, /never reached .*Write error: .*re-picked at once/);
    const failed = results.filter((r) => !r.ok);
    if (Number(process.versions.node.split('.')[0]) >= 22) {
      // Node 22 and later report the failed write: every such attempt is re-picked on the good server.
      assert.ok(writeErrors.length > 0, `no attempt was re-picked: ${JSON.stringify(onGoaway)}`);
      assert.deepEqual(failed, [], 'every call answered');
      assert.equal(good.counts.unary, 12);
    } else {
      // Node 20 ends these calls CANCELLED, which a server that had read the request also produces: not re-picked.
      for (const r of failed) assert.ok(!r.ok && r.code === 1, JSON.stringify(r));
    }
    console.log(`# never written (node ${process.version}): ${onGoaway.length} attempts on the server that went away, ${writeErrors.length} re-picked, ${failed.length} calls failed`);
  });

  for (const grpcRetries of ['off', 'on'] as const) {
    test(`streams refused by two servers are re-picked on the third, outside the retry budget (grpc-js's own transparent retries ${grpcRetries})`, async () => {
      const refusers = [await startRefuser(), await startRefuser()];
      const good = await startEchoBackend({ id: `good-${grpcRetries}`, serviceTimeMs: 1 });
      backends.push(good);
      const rec = recorder();
      // No attempt timer and a budget that allows no retry at all: only re-picks can save these calls. With
      // grpc-js's transparent retries off, every refusal reaches the call layer.
      const c = clientOn([...refusers, good.address], {
        retry: { budget: { ratio: 0, minPerSecond: 0 } },
        observers: [rec.factory],
        ...(grpcRetries === 'off' ? { channelOptions: { 'grpc.enable_retries': 0 } } : {}),
      });
      await runCalls(c, 60, 3);
      assert.equal(good.counts.unary, 60);
      const repicked = rec.calls.flatMap((call) => call.attempts.filter((a) => a.repickReason));
      if (grpcRetries === 'off') assert.ok(repicked.length > 0, 'some attempts were refused and re-picked');
      for (const a of repicked) {
        assert.ok(refusers.includes(a.address!), a.address);
        assert.match(a.repickReason!, /never reached .*Stream refused by server.*re-picked at once/);
      }
      for (const call of rec.calls) {
        const addresses = call.attempts.map((a) => a.address);
        assert.equal(new Set(addresses).size, addresses.length, `one attempt per endpoint: ${addresses.join(', ')}`);
      }
      console.log(`# re-picks (grpc-js transparent retries ${grpcRetries}): 60 calls, ${repicked.length} attempts refused and re-picked`);
    });
  }

  test('an UNAVAILABLE answer from a server is not re-picked', async () => {
    const failing = await startEchoBackend({ id: 'failing', failCode: 14 });
    backends.push(failing);
    const c = clientOn([failing.address], { retry: { attemptTimeoutMs: 1_000 }, observers: [recorder().factory] });
    const r = await echoUnary(c, { message: 'x' }, { deadlineMs: 5_000 });
    assert.ok(!r.ok && r.code === 14, JSON.stringify(r));
    assert.equal(failing.counts.unary, 1);
  });
});
