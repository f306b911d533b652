// The connect transport against real connect-node gRPC servers on loopback (port 0): balancing away from a
// slow endpoint, timeout-only retries onto another endpoint, a span per attempt through the telemetry
// observer, readiness, and clear errors for bad input.
import { test, after, describe } from 'node:test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { createClient, Code, ConnectError } from '@connectrpc/connect';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createTelemetryObserver, FairwayAttributes as A } from '@fairway/telemetry';
import type { AttemptOutcome, AttemptStart, CallObserverFactory, PickExplanation } from '@fairway/core';
import { createFairwayTransport, FairwayTransportOptionsError, TargetError } from './index.js';
import type { FairwayTransport } from './index.js';
import { Echo, startEchoServer } from './test-support/echo.js';
import type { EchoServer } from './test-support/echo.js';

interface EchoClient {
  say(req: { value: string }, opts?: { timeoutMs?: number; signal?: AbortSignal }): Promise<{ value: string }>;
  count(req: { value: string }, opts?: { timeoutMs?: number }): AsyncIterable<{ value: string }>;
}

const servers: EchoServer[] = [];
const transports: FairwayTransport[] = [];
after(async () => {
  await Promise.all(transports.map((t) => t.close()));
  await Promise.all(servers.map((s) => s.close()));
});

async function start(name: string, delayMs = 0): Promise<EchoServer> {
  const s = await startEchoServer(name, delayMs);
  servers.push(s);
  return s;
}
function transport(options: Parameters<typeof createFairwayTransport>[0]): FairwayTransport {
  const t = createFairwayTransport({ logger: { info() {}, warn() {} }, ...options });
  transports.push(t);
  return t;
}
const staticTarget = (ss: EchoServer[]) => `static:///${ss.map((s) => s.address).join(',')}`;
const clientOf = (t: FairwayTransport) => createClient(Echo, t) as unknown as EchoClient;

/** Records every call's attempts: where each went, why it started, how it ended. */
function recorder() {
  const calls: Array<{ attempts: Array<{ start: AttemptStart | undefined; pick?: PickExplanation; outcome?: AttemptOutcome }>; end?: { code: number; details: string } }> = [];
  const factory: CallObserverFactory = {
    onCallStart() {
      const call: (typeof calls)[number] = { attempts: [] };
      calls.push(call);
      return {
        onAttemptStart(_n, start) {
          const a: (typeof call.attempts)[number] = { start };
          call.attempts.push(a);
          return { onPick: (p) => void (a.pick = p), outgoingHeaders: () => ({ 'x-test-attempt': String(call.attempts.length) }), onEnd: (o) => void (a.outcome = o) };
        },
        onEnd: (s) => void (call.end = s),
      };
    },
  };
  return { calls, factory };
}

describe('balancing over connect-node servers', () => {
  test('three servers, one slow: the slow one gets a small share, every call answers', async () => {
    const fast1 = await start('fast1');
    const fast2 = await start('fast2');
    // 150 ms: clearly slower than the fast servers' own latency with 6 calls in flight in this process, on a busy machine too.
    const slow = await start('slow', 150);
    const t = transport({ target: staticTarget([fast1, slow, fast2]) });
    const client = clientOf(t);
    const byServer = new Map<string, number>();
    const total = 240;
    let next = 0;
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        while (next < total) {
          next += 1;
          const reply = await client.say({ value: 'hi' });
          const name = reply.value.split(':')[0]!;
          byServer.set(name, (byServer.get(name) ?? 0) + 1);
        }
      }),
    );
    const counted = [...byServer.values()].reduce((a, b) => a + b, 0);
    assert.equal(counted, total);
    const slowShare = (byServer.get('slow') ?? 0) / total;
    assert.ok(slowShare < 0.15, `slow share ${slowShare.toFixed(3)} (${JSON.stringify([...byServer])})`);
    assert.ok((byServer.get('fast1') ?? 0) > 0 && (byServer.get('fast2') ?? 0) > 0, 'both fast servers take calls');
    assert.deepEqual(t.endpoints().map((e) => e.ready), [true, true, true]);
  });

  test('a server killed while serving: later calls are re-picked onto the other endpoint and succeed', async () => {
    const stays = await start('stays');
    const dies = await start('dies');
    const rec = recorder();
    const t = transport({ target: staticTarget([stays, dies]), observers: [rec.factory] });
    const client = clientOf(t);
    const before = new Set<string>();
    for (let i = 0; i < 30; i++) before.add((await client.say({ value: 'b' })).value.split(':')[0]!);
    assert.ok(before.has('dies'), 'both servers took calls before the kill');
    await dies.close();
    for (let i = 0; i < 30; i++) assert.equal((await client.say({ value: String(i) })).value, `stays:${i}`);
    const repicked = rec.calls.slice(30).filter((c) => c.attempts.some((a) => a.start?.reason === 'repick')).length;
    assert.ok(repicked <= 2, `at most the first calls after the kill were re-picked (${repicked})`);
    // The connection watch (or a call that tried it) takes it out of the ready set; it stays out (refused).
    const readyOfDead = () => t.endpoints().find((e) => e.address === dies.address)?.ready;
    for (let i = 0; i < 200 && readyOfDead() !== false; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(readyOfDead(), false);
  });

  test('a server-streaming call goes to one endpoint and streams every message', async () => {
    const s = await start('stream');
    const client = clientOf(transport({ target: staticTarget([s]) }));
    const got: string[] = [];
    for await (const m of client.count({ value: 'n' })) got.push(m.value);
    assert.deepEqual(got, ['stream:n:0', 'stream:n:1', 'stream:n:2']);
  });

  test('an endpoint that refuses connections is not ready and never picked; the others serve', async () => {
    const up = await start('up');
    const down = await start('down');
    const downAddress = down.address;
    await down.close();
    const t = transport({ target: `static:///${up.address},${downAddress}` });
    const client = clientOf(t);
    for (let i = 0; i < 20; i++) assert.equal((await client.say({ value: String(i) })).value, `up:${i}`);
    const byAddress = new Map(t.endpoints().map((e) => [e.address, e.ready]));
    assert.equal(byAddress.get(up.address), true);
    assert.equal(byAddress.get(downAddress), false);
  });
});

test('outlier ejection: an endpoint that keeps failing is ejected, and observers hear of it', async () => {
  const bad = await start('ejected');
  const good = await start('kept');
  bad.failWith = Code.Unavailable;
  const events: Array<{ kind: string; address: string }> = [];
  const observer: CallObserverFactory = { ...recorder().factory, onEndpointEvent: (e) => void events.push({ kind: e.kind, address: e.address }) };
  const client = clientOf(transport({ target: staticTarget([bad, good]), outlierEjection: { consecutiveFailures: 2, maxEjectedPercent: 50 }, observers: [observer] }));
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next++ < 200 && !events.some((e) => e.kind === 'ejected')) await client.say({ value: 'e' }).catch(() => undefined);
    }),
  );
  assert.deepEqual(events.find((e) => e.kind === 'ejected'), { kind: 'ejected', address: bad.address });
});

describe('timeout-only retries', () => {
  test('an attempt timeout moves the call to another endpoint', async () => {
    const slow = await start('stalled', 2_000);
    const fast = await start('quick');
    let retried: (ReturnType<typeof recorder>['calls'][number]) | undefined;
    // The first pick between two unknown endpoints is a tie broken at random: try a few random sources until
    // one sends a first attempt to the stalled server (each try a fresh transport, so fresh estimates).
    for (const r of [() => 0.01, () => 0.99, () => 0.5, Math.random, Math.random, Math.random, Math.random, Math.random]) {
      const rec = recorder();
      const client = clientOf(transport({ target: staticTarget([slow, fast]), retry: { attemptTimeoutMs: 150, retryIntervalMs: 0 }, observers: [rec.factory], random: r }));
      const reply = await client.say({ value: 'x' }, { timeoutMs: 5_000 });
      assert.equal(reply.value, 'quick:x', 'every call is answered by the quick server');
      retried = rec.calls.find((c) => c.attempts.length > 1);
      if (retried) break;
    }
    assert.ok(retried, 'some first attempt went to the stalled server');
    const [first, second] = retried.attempts;
    assert.equal(first!.pick?.address, slow.address);
    assert.equal(first!.outcome?.timedOut, true);
    assert.match(first!.outcome?.retryReason ?? '', /timed out/);
    assert.equal(second!.start?.reason, 'retry');
    assert.equal(second!.pick?.address, fast.address);
    assert.equal(second!.outcome?.code, 0);
    assert.equal(retried.end?.code, 0);
    assert.equal(fast.lastHeaders?.get('x-test-attempt'), '2', 'observer headers go out on each attempt');
  });

  test('a server-streaming call whose first message does not come in time is retried on another endpoint', async () => {
    const slow = await start('stream-stalled', 2_000);
    const fast = await start('stream-quick');
    let retried: (ReturnType<typeof recorder>['calls'][number]) | undefined;
    for (const r of [() => 0.01, () => 0.99, () => 0.5, Math.random, Math.random, Math.random, Math.random]) {
      const rec = recorder();
      const client = clientOf(transport({ target: staticTarget([slow, fast]), retry: { attemptTimeoutMs: 150, retryIntervalMs: 0 }, observers: [rec.factory], random: r }));
      const got: string[] = [];
      for await (const m of client.count({ value: 's' }, { timeoutMs: 5_000 })) got.push(m.value);
      assert.deepEqual(got, ['stream-quick:s:0', 'stream-quick:s:1', 'stream-quick:s:2']);
      assert.equal(rec.calls[0]!.end?.code, 0, 'the call span ends when the stream does');
      retried = rec.calls.find((c) => c.attempts.length > 1);
      if (retried) break;
    }
    assert.ok(retried, 'some first attempt went to the stalled server');
    assert.equal(retried.attempts[0]!.pick?.address, slow.address);
    assert.equal(retried.attempts[0]!.outcome?.timedOut, true);
    assert.equal(retried.attempts[1]!.start?.reason, 'retry');
  });

  test('any other error is never retried: the server status goes back as it is, after one attempt', async () => {
    const failing = await start('failing');
    const other = await start('other');
    failing.failWith = Code.Unavailable;
    other.failWith = Code.Internal;
    const rec = recorder();
    const client = clientOf(transport({ target: staticTarget([failing, other]), retry: { attemptTimeoutMs: 1_000 }, observers: [rec.factory] }));
    for (let i = 0; i < 6; i++) {
      await assert.rejects(client.say({ value: 'x' }), (e: unknown) => {
        assert.ok(e instanceof ConnectError);
        assert.ok(e.code === Code.Unavailable || e.code === Code.Internal, `code ${e.code}`);
        assert.match(e.rawMessage, /fails on purpose/);
        return true;
      });
    }
    assert.equal(failing.calls + other.calls, 6, 'one attempt per call');
    assert.ok(rec.calls.every((c) => c.attempts.length === 1));
  });

  test("the caller's abort ends the call with CANCELLED and is not retried", async () => {
    const slow = await start('aborted', 5_000);
    const rec = recorder();
    const client = clientOf(transport({ target: staticTarget([slow]), retry: { attemptTimeoutMs: 2_000 }, observers: [rec.factory] }));
    const controller = new AbortController();
    const pending = client.say({ value: 'a' }, { signal: controller.signal });
    while (slow.calls === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    await assert.rejects(pending, (e: unknown) => e instanceof ConnectError && e.code === Code.Canceled);
    assert.equal(rec.calls[0]!.attempts.length, 1);
    assert.equal(rec.calls[0]!.end?.code, Code.Canceled);
    assert.equal(slow.calls, 1);
  });

  test('with no attemptTimeoutMs a slow answer is waited for (no retry)', async () => {
    const slow = await start('patient', 150);
    const client = clientOf(transport({ target: staticTarget([slow]) }));
    assert.equal((await client.say({ value: 'y' })).value, 'patient:y');
    assert.equal(slow.calls, 1);
  });
});

for (const [what, hedging] of [
  ['a named method', { methods: ['fairway.test.Echo/Say'], delayMs: 50, budgetRatio: 1 }],
  ['a method the proto declares NO_SIDE_EFFECTS (idempotent: true)', { idempotent: true, delayMs: 50, budgetRatio: 1 }],
] as const) test(`hedging of ${what}: a call whose first attempt stalls is answered by the hedge on another endpoint`, async () => {
  const slow = await start('hedge-stalled', 2_000);
  const fast = await start('hedge-quick');
  let hedged: (ReturnType<typeof recorder>['calls'][number]) | undefined;
  for (const r of [() => 0.01, () => 0.99, Math.random, Math.random, Math.random, Math.random, Math.random]) {
    const rec = recorder();
    const client = clientOf(transport({ target: staticTarget([slow, fast]), retry: { hedging }, observers: [rec.factory], random: r }));
    assert.equal((await client.say({ value: 'h' }, { timeoutMs: 5_000 })).value, 'hedge-quick:h');
    hedged = rec.calls.find((c) => c.attempts.some((a) => a.start?.reason === 'hedge'));
    if (hedged) break;
  }
  assert.ok(hedged, 'some call was hedged');
  assert.equal(hedged.attempts[0]!.pick?.address, slow.address);
  assert.equal(hedged.attempts[1]!.pick?.address, fast.address);
  assert.equal(hedged.end?.code, 0);
});

test('telemetry: a span per call and per attempt, with the observer attribute names', async () => {
  const slow = await start('tel-slow', 2_000);
  const fast = await start('tel-fast');
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  let done = false;
  for (const r of [() => 0.01, () => 0.99, Math.random, Math.random, Math.random, Math.random]) {
    exporter.reset();
    const t = transport({ target: staticTarget([slow, fast]), retry: { attemptTimeoutMs: 150, retryIntervalMs: 0 }, observers: [createTelemetryObserver({ tracerProvider })], random: r });
    await clientOf(t).say({ value: 'z' }, { timeoutMs: 5_000 });
    const spans = exporter.getFinishedSpans();
    const attempts = spans.filter((s) => s.attributes[A.ATTEMPT] !== undefined);
    const calls = spans.filter((s) => s.attributes[A.ATTEMPTS] !== undefined);
    assert.equal(calls.length, 1, 'one call span');
    assert.equal(calls[0]!.attributes[A.RPC_SERVICE], 'fairway.test.Echo');
    assert.equal(calls[0]!.attributes[A.RPC_METHOD], 'Say');
    assert.equal(attempts.length, calls[0]!.attributes[A.ATTEMPTS], 'a span per attempt');
    for (const a of attempts) assert.equal(a.parentSpanContext?.spanId ?? (a as unknown as { parentSpanId?: string }).parentSpanId, calls[0]!.spanContext().spanId);
    if (attempts.length === 2) {
      const [first, second] = [...attempts].sort((x, y) => Number(x.attributes[A.ATTEMPT]) - Number(y.attributes[A.ATTEMPT]));
      assert.equal(first!.attributes[A.ATTEMPT_TIMED_OUT], true);
      assert.equal(`${second!.attributes[A.SERVER_ADDRESS]}:${second!.attributes[A.SERVER_PORT]}`, fast.address);
      assert.ok(fast.lastHeaders?.get('traceparent')?.includes(second!.spanContext().traceId), 'the attempt span travels as traceparent');
      done = true;
      break;
    }
  }
  assert.ok(done, 'a call was retried and traced');
});

test('the client identity goes out on every attempt (fairway-client-instance / -incarnation)', async () => {
  const s = await start('identity');
  const client = clientOf(transport({ target: staticTarget([s]), identity: { instance: 'pod-7', incarnation: '1700000000000-abcd' } }));
  await client.say({ value: 'i' });
  assert.equal(s.lastHeaders?.get('fairway-client-instance'), 'pod-7');
  assert.equal(s.lastHeaders?.get('fairway-client-incarnation'), '1700000000000-abcd');
  const bare = await start('no-identity');
  await clientOf(transport({ target: staticTarget([bare]) })).say({ value: 'i' });
  assert.equal(bare.lastHeaders?.get('fairway-client-instance'), null, 'none unless set (FAIRWAY_INSTANCE is unset here)');
});

test('tls: the endpoints are reached over https with the CA from transportOptions.nodeOptions', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fairway-connect-tls-'));
  try {
    const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    run(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=fairway-connect-test-ca']);
    writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
    run(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
    run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'server.ext']);
    const tls = { key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.crt')) };
    const s1 = await startEchoServer('tls1', 0, tls);
    const s2 = await startEchoServer('tls2', 0, tls);
    servers.push(s1, s2);
    const client = clientOf(transport({ target: staticTarget([s1, s2]), tls: true, transportOptions: { nodeOptions: { ca: readFileSync(join(dir, 'ca.crt')) } } }));
    const names = new Set<string>();
    for (let i = 0; i < 20; i++) names.add((await client.say({ value: 't' })).value.split(':')[0]!);
    assert.deepEqual([...names].sort(), ['tls1', 'tls2']);
    // Without the CA the servers' certificates are not trusted: no connection, so no endpoint is ready.
    const untrusting = clientOf(transport({ target: staticTarget([s1]), tls: true }));
    await assert.rejects(untrusting.say({ value: 't' }, { timeoutMs: 300 }), (e: unknown) => e instanceof ConnectError && e.code === Code.Unavailable && /no endpoint to send the call to/.test(e.rawMessage));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('bad input gets a clear error', () => {
  test('malformed targets, unknown schemes and options are refused when the transport is made', () => {
    assert.throws(() => createFairwayTransport({ target: 'static:///' }), TargetError);
    assert.throws(() => createFairwayTransport({ target: 'static:///127.0.0.1:notaport' }), /port/);
    assert.throws(() => createFairwayTransport({ target: 'nope://x/y' }), (e: unknown) => e instanceof FairwayTransportOptionsError && /no discovery source for scheme "nope"/.test(e.message));
    assert.throws(() => createFairwayTransport({ target: '' }), /target must be a non-empty string/);
    assert.throws(() => createFairwayTransport(undefined as never), /must be an object/);
    assert.throws(() => createFairwayTransport({ target: 'static:///127.0.0.1:1', retry: { attemptTimeoutMs: -5 } }), /retry is invalid: .*attemptTimeoutMs/);
    assert.throws(() => createFairwayTransport({ target: 'static:///127.0.0.1:1', zonee: 'a' } as never), /zonee is not an option/);
    assert.throws(() => createFairwayTransport({ target: 'static:///127.0.0.1:1', logger: { warn() {} } as never }), /logger must be an object with info\(message\) and warn\(message\)/);
    assert.throws(() => createFairwayTransport({ target: 'static:///127.0.0.1:1', decayMs: -1 }), /decayMs/);
    assert.throws(() => createFairwayTransport({ target: 'static:///127.0.0.1:1', transportOptions: { baseUrl: 'http://x' } as never }), /transportOptions.baseUrl is set by Fairway/);
  });

  test('option messages show NaN and Infinity as they are, never as "null"', () => {
    const refused = (options: object): string => {
      try {
        createFairwayTransport({ target: 'static:///127.0.0.1:1', logger: { info() {}, warn() {} }, ...options } as never);
      } catch (e) {
        return (e as Error).message;
      }
      assert.fail(`accepted ${Object.keys(options).join(', ')}`);
    };
    assert.match(refused({ tls: Number.NaN }), /tls must be true or false, got NaN$/);
    assert.match(refused({ zone: Number.NaN }), /zone must be a non-empty string, got NaN$/);
    assert.match(refused({ identity: { instance: Number.POSITIVE_INFINITY } }), /identity\.instance must be a non-empty string, got Infinity$/);
    assert.match(refused({ zoneBandLow: Number.NaN }), /zoneBand .*got \{"low":NaN,"high":2\}$/);
    assert.match(refused({ outlierEjection: Number.NaN }), /ejection must be an object or false, got NaN$/);
    assert.match(refused({ retry: { budget: { windowMs: Number.NaN } } }), /retry\.budget\.windowMs: NaN is not a number/);
    for (const message of [refused({ decayMs: Number.NaN }), refused({ slowStart: Number.NaN }), refused({ retry: Number.NaN })]) {
      assert.doesNotMatch(message, /null/, message);
    }
  });

  test('a misspelt field of outlierEjection or slowStart is refused, naming the transport option (as on the grpc-js path)', () => {
    const refused = (options: object): FairwayTransportOptionsError => {
      try {
        createFairwayTransport({ target: 'static:///127.0.0.1:1', logger: { info() {}, warn() {} }, ...options } as never);
      } catch (e) {
        assert.ok(e instanceof FairwayTransportOptionsError, String(e));
        return e;
      }
      assert.fail(`accepted ${JSON.stringify(options)}`);
    };
    const ejection = refused({ outlierEjection: { failureRateThreshold: 5 } });
    assert.equal(ejection.option, 'outlierEjection.failureRateThreshold');
    assert.match(ejection.message, /is not a known field \(known: consecutiveFailures, /);
    assert.equal(refused({ slowStart: { window: 5_000 } }).option, 'slowStart.window');
    assert.equal(refused({ outlierEjection: { consecutiveFailures: 0 } }).option, 'outlierEjection.consecutiveFailures');
  });

  test('a zero deadline ends the call at once with DEADLINE_EXCEEDED, saying so; nothing is sent', async () => {
    const s = await start('deadline');
    const client = clientOf(transport({ target: staticTarget([s]), retry: { attemptTimeoutMs: 100 } }));
    await assert.rejects(client.say({ value: 'x' }, { timeoutMs: 0 }), (e: unknown) => e instanceof ConnectError && e.code === Code.DeadlineExceeded && /before the call started/.test(e.rawMessage));
    // The message shows the value as it is (JSON.stringify would say "got null").
    await assert.rejects(client.say({ value: 'x' }, { timeoutMs: Number.NaN }), (e: unknown) => e instanceof ConnectError && e.code === Code.InvalidArgument && /timeoutMs must be a number of milliseconds, got NaN$/.test(e.rawMessage));
    assert.equal(s.calls, 0);
  });

  test('a timeout longer than gRPC can carry (3e9 ms, ~35 days; 2e8 ms) waits for the answer, unary and streaming', async () => {
    // Node fires a setTimeout above 2^31 - 1 ms at once: the wait for an endpoint, and connect-node's own deadline
    // signal, used to end the call at once; below that, a server refuses a grpc-timeout of more than 8 digits. Such
    // a timeout is held at 99,999,999 ms (~27.8 hours).
    const s = await start('long');
    const client = clientOf(transport({ target: staticTarget([s]) }));
    assert.equal((await client.say({ value: 'x' }, { timeoutMs: 3e9 })).value, 'long:x');
    assert.equal((await client.say({ value: 'y' }, { timeoutMs: 2e8 })).value, 'long:y');
    const got: string[] = [];
    for await (const m of client.count({ value: 's' }, { timeoutMs: 3e9 })) got.push(m.value);
    assert.ok(got.length > 0);
  });

  test('a call with no reachable endpoint ends at its deadline with UNAVAILABLE naming why', async () => {
    const gone = await start('gone');
    const address = gone.address;
    await gone.close();
    const client = clientOf(transport({ target: `static:///${address}` }));
    await assert.rejects(client.say({ value: 'x' }, { timeoutMs: 300 }), (e: unknown) => e instanceof ConnectError && e.code === Code.Unavailable && /no endpoint to send the call to/.test(e.rawMessage));
  });
});
