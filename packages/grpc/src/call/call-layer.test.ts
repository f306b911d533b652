// The call layer on real loopback servers (child processes), counted at the servers. The channel uses
// grpc-js's own round_robin here so that this file tests the interceptor alone; the factory-wired tests
// (different endpoints by pick context, SIGSTOP, restart) are in retry-factory.test.ts.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Metadata, status } from '@grpc/grpc-js';
import type { AttemptOutcome, CallObserverFactory, PickExplanation } from '@fairway/core';
import { createCallInterceptor, parseRetryOptions, processIncarnation, setClientIdentity } from './index.js';
import { startProbeServers } from './test-support/probe-harness.js';
import type { ProbeServer } from './test-support/probe-harness.js';
import { callStream, callUnary, roundRobinProbeClient, sleep, waitFor } from './test-support/probe-client.js';
import type { Probe } from './test-support/probe-client.js';

let servers: ProbeServer[] = [];
const clients: Probe[] = [];
let seq = 0;
const nextId = (tag: string): string => `${tag}-${process.pid}-${++seq}`;
const allCalls = (id: string) =>
  servers
    .flatMap((s) => s.callsFor(id))
    .sort((a, b) => a.t - b.t);

function client(retry: unknown, extra: Partial<Parameters<typeof createCallInterceptor>[0]> = {}): Probe {
  const interceptor = createCallInterceptor({ retry: parseRetryOptions(retry), target: 'probe', ...extra });
  const c = roundRobinProbeClient(
    servers.map((s) => s.address),
    { interceptors: [interceptor] },
  );
  clients.push(c);
  return c;
}

interface Recorded {
  method: string;
  kind: string;
  attempts: Array<{ n: number; startedAt: number; picks: PickExplanation[]; outcome?: AttemptOutcome }>;
  status?: { code: number; details: string };
}

function recordingObserver(): { factory: CallObserverFactory; calls: Recorded[] } {
  const calls: Recorded[] = [];
  return {
    calls,
    factory: {
      onCallStart(d) {
        const rec: Recorded = { method: d.method, kind: d.kind, attempts: [] };
        calls.push(rec);
        return {
          onAttemptStart(n) {
            const a: Recorded['attempts'][number] = { n, startedAt: performance.now(), picks: [] };
            rec.attempts.push(a);
            return {
              onPick: (p) => void a.picks.push(p),
              outgoingHeaders: () => ({ 'x-probe-observer': `attempt-${n}` }),
              onEnd: (o) => void (a.outcome = o),
            };
          },
          onEnd: (s) => void (rec.status = s),
        };
      },
    },
  };
}

describe('call layer: timeout-only retries on loopback servers', { timeout: 120_000 }, () => {
  before(async () => {
    servers = await startProbeServers(['a', 'b', 'c']);
    // Warm up (connections, and the servers' first-call compile time) so that only scripted slowness times out.
    const warm = roundRobinProbeClient(servers.map((s) => s.address), {});
    for (let i = 0; i < 9; i++) await callUnary(warm, { id: `warm-${i}` }, Date.now() + 10_000);
    warm.close();
  });
  after(async () => {
    for (const c of clients) c.close();
    await Promise.all(servers.map((s) => s.stop()));
  });

  test('UNAVAILABLE, INTERNAL, RESOURCE_EXHAUSTED and a server DEADLINE_EXCEEDED are never retried', { timeout: 30_000 }, async () => {
    const c = client({ attemptTimeoutMs: 3000, maxAttempts: 5, retryIntervalMs: 10 });
    for (const code of [status.UNAVAILABLE, status.INTERNAL, status.RESOURCE_EXHAUSTED, status.DEADLINE_EXCEEDED]) {
      for (let i = 0; i < 3; i++) {
        const id = nextId(`code${code}`);
        const r = await callUnary(c, { id, default: { code, details: `scripted ${code}` } }, Date.now() + 5000);
        assert.equal(r.error?.code, code, `caller gets the server's status ${code}`);
        assert.equal(r.error?.details, `scripted ${code}`);
        await sleep(50);
        assert.equal(allCalls(id).length, 1, `status ${code}: exactly one attempt reached the servers`);
      }
    }
  });

  test('a server that sleeps past the attempt timeout sees maxAttempts attempts at steady gaps, each carrying the call\'s grpc-timeout', { timeout: 40_000 }, async () => {
    const attemptTimeoutMs = 100;
    const retryIntervalMs = 100;
    const rec = recordingObserver();
    const c = client({ attemptTimeoutMs, maxAttempts: 4, retryIntervalMs, budget: { minPerSecond: 1000 } }, { observers: [rec.factory] });
    for (let round = 0; round < 5; round++) {
      const id = nextId('slow');
      const r = await callUnary(c, { id, default: { sleepMs: 2000 } }, Date.now() + 10_000);
      assert.equal(r.error?.code, status.DEADLINE_EXCEEDED);
      assert.match(r.error!.details, /attempt 4 timed out after \d+ms: all 4 attempts used \(maxAttempts 4\)/);
      // A loaded machine may print a server's log line a little late.
      await waitFor(() => allCalls(id).length >= 4, 3000);
      const calls = allCalls(id);
      assert.equal(calls.length, 4, 'four attempts reached the servers');
      assert.equal(new Set(calls.map((e) => e.server)).size, 3, '3 servers, 4 attempts: 3 distinct + 1');
      for (const e of calls) {
        assert.ok(
          e.remainingMs !== null && e.remainingMs <= 10_000 && e.remainingMs > 10_000 - 3_000,
          `each attempt carries the call's deadline (grpc-timeout), never a shorter one that could race a late answer: ${e.remainingMs}ms left at arrival`,
        );
      }
      const expected = attemptTimeoutMs + retryIntervalMs;
      // Gaps between attempt starts at the client (observer timestamps): exact lower bound, generous upper.
      const starts = rec.calls.at(-1)!.attempts.map((a) => a.startedAt);
      const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
      assert.equal(gaps.length, 3);
      for (const g of gaps) assert.ok(g >= expected - 2 && g <= expected + 250, `client gap ${g.toFixed(1)}ms not within [${expected - 2}, ${expected + 250}]`);
      assert.ok(Math.max(...gaps) - Math.min(...gaps) < 200, `gaps do not grow: ${gaps.map((g) => g.toFixed(1)).join(', ')}`);
      // The same gaps as the servers saw them (arrival times in other busy processes: coarser).
      const serverGaps = calls.slice(1).map((e, i) => e.t - calls[i]!.t);
      for (const g of serverGaps) assert.ok(g >= expected - 100 && g <= expected + 300, `server gap ${g.toFixed(1)}ms not within [${expected - 100}, ${expected + 300}]`);
    }
    // What the observers saw: four attempts, the first three with a retry reason, the last with a refusal.
    const last = rec.calls.at(-1)!;
    assert.equal(last.kind, 'unary');
    assert.equal(last.method, '/fairway.test.Probe/Unary');
    assert.deepEqual(last.attempts.map((a) => a.n), [1, 2, 3, 4]);
    for (const a of last.attempts.slice(0, 3)) {
      assert.equal(a.outcome?.timedOut, true);
      assert.match(a.outcome?.retryReason ?? '', /^attempt \d timed out after \d+ms; retrying in 100ms on another endpoint/);
    }
    assert.match(last.attempts[3]!.outcome?.retryRefusedReason ?? '', /all 4 attempts used/);
    assert.equal(last.status?.code, status.DEADLINE_EXCEEDED);
  });

  test('a slow first endpoint is retried and the call succeeds on another, with one response', { timeout: 30_000 }, async () => {
    const c = client({ attemptTimeoutMs: 400, retryIntervalMs: 20 });
    let retried = 0;
    for (let i = 0; i < 6; i++) {
      const id = nextId('one-slow');
      const r = await callUnary(c, { id, servers: { a: { sleepMs: 3000 } } }, Date.now() + 8000);
      assert.equal(r.error, undefined, r.error?.message);
      assert.notEqual(r.reply?.server, 'a');
      await waitFor(() => allCalls(id).length >= 1, 2000);
      const calls = allCalls(id);
      if (calls[0]?.server === 'a') {
        retried++;
        assert.ok(calls.length >= 2, 'the attempt on the slow server was retried');
      }
    }
    assert.ok(retried >= 1, 'round robin put at least one first attempt on the slow server');
  });

  test('the attempt timer never outlasts the call deadline; a zero or past deadline sends nothing', { timeout: 30_000 }, async () => {
    const c = client({ attemptTimeoutMs: 1000 });
    const id = nextId('deadline');
    const r = await callUnary(c, { id, default: { sleepMs: 3000 } }, Date.now() + 250);
    assert.equal(r.error?.code, status.DEADLINE_EXCEEDED);
    assert.ok(r.elapsedMs < 900, `ended by the call deadline, after ${r.elapsedMs}ms`);
    await sleep(100);
    assert.equal(allCalls(id).length, 1);

    for (const deadline of [0, Date.now() - 1000, new Date(Date.now() - 1)]) {
      const zid = nextId('zero');
      const z = await callUnary(c, { id: zid }, deadline);
      assert.equal(z.error?.code, status.DEADLINE_EXCEEDED);
      assert.match(z.error!.details, /Deadline exceeded before the call started: .*no attempt was sent/);
      await sleep(50);
      assert.equal(allCalls(zid).length, 0, 'no attempt was sent');
    }
  });

  test('cancelling a call cancels its current attempt and sends no more attempts', { timeout: 30_000 }, async () => {
    const rec = recordingObserver();
    const c = client({ attemptTimeoutMs: 100, retryIntervalMs: 50, maxAttempts: 6 }, { observers: [rec.factory] });
    const id = nextId('cancel');
    let attemptsAtCancel = 0;
    const result = new Promise<{ code: number; details: string }>((resolve) => {
      const call = c.unary({ id, default: { sleepMs: 3000 } }, new Metadata(), { deadline: Date.now() + 10_000 }, (err) =>
        resolve({ code: err?.code ?? 0, details: err?.details ?? '' }),
      );
      // Cancel while attempt 2 runs (attempt 1 times out at 100 ms, attempt 2 starts at ~150 ms).
      const started = () => rec.calls.at(-1)?.attempts.length ?? 0;
      void waitFor(() => started() >= 2, 5000).then(() =>
        setTimeout(() => {
          attemptsAtCancel = started();
          call.cancel();
        }, 20),
      );
    });
    const r = await result;
    assert.equal(r.code, status.CANCELLED);
    assert.equal(attemptsAtCancel, 2);
    await waitFor(() => servers.flatMap((s) => s.events).filter((e) => e.id === id && e.ev === 'end').length >= 2, 3000);
    const ends = servers.flatMap((s) => s.events).filter((e) => e.id === id && e.ev === 'end');
    assert.ok(ends.every((e) => e.cancelled === true), 'the servers saw every attempt cancelled');
    await sleep(600);
    assert.ok(allCalls(id).length <= 2, 'no attempt after the cancel reached a server');
    const call = rec.calls.at(-1)!;
    assert.equal(call.status?.code, status.CANCELLED);
    assert.equal(call.attempts.length, 2, 'no attempt after the cancel was made');
    assert.equal(call.attempts[1]!.outcome?.code, status.CANCELLED);

    // Cancelled during the interval between attempts: the next attempt is never sent.
    const id2 = nextId('cancel-gap');
    const r2 = await new Promise<number>((resolve) => {
      const call2 = c.unary({ id: id2, default: { sleepMs: 3000 } }, new Metadata(), { deadline: Date.now() + 10_000 }, (err) =>
        resolve(err?.code ?? 0),
      );
      setTimeout(() => call2.cancel(), 125);
    });
    assert.equal(r2, status.CANCELLED);
    await sleep(400);
    assert.equal(allCalls(id2).length, 1);
  });

  test('observers that throw never break a call; identity and observer headers reach the server', { timeout: 30_000 }, async () => {
    const rec = recordingObserver();
    const errors: unknown[] = [];
    const throwing: CallObserverFactory = {
      onCallStart: () => {
        throw new Error('boom at call start');
      },
    };
    const throwingLater: CallObserverFactory = {
      onCallStart: () => ({
        onAttemptStart: () => ({
          onPick: () => {
            throw new Error('boom at pick');
          },
          outgoingHeaders: () => {
            throw new Error('boom at headers');
          },
          onEnd: () => {
            throw new Error('boom at attempt end');
          },
        }),
        onEnd: () => {
          throw new Error('boom at call end');
        },
      }),
    };
    const c = client(
      { attemptTimeoutMs: 400, retryIntervalMs: 10 },
      {
        observers: [throwing, throwingLater, rec.factory],
        identity: { instance: 'probe-client-1', incarnation: '1764032400123-4f1c' },
        onObserverError: (e) => errors.push(e),
      },
    );
    const id = nextId('observers');
    const r = await callUnary(c, { id, servers: { a: { sleepMs: 3000 } } }, Date.now() + 8000);
    assert.equal(r.error, undefined);
    assert.ok(errors.some((e) => String(e).includes('boom at call start')));
    assert.ok(errors.some((e) => String(e).includes('boom at headers')));
    assert.ok(errors.some((e) => String(e).includes('boom at attempt end')));
    assert.ok(errors.some((e) => String(e).includes('boom at call end')));
    assert.equal(rec.calls.at(-1)!.status?.code, status.OK);
    const calls = allCalls(id);
    assert.ok(calls.length >= 1);
    for (const e of calls) {
      assert.equal(e.clientInstance, 'probe-client-1');
      assert.equal(e.clientIncarnation, '1764032400123-4f1c');
    }
  });

  test('setClientIdentity: every client of the process sends the identity; undefined stops it', { timeout: 20_000 }, async () => {
    assert.throws(() => setClientIdentity({ instance: '' }), /instance must be a non-empty string/);
    setClientIdentity({ instance: 'proc-identity-1' });
    try {
      const c = client({});
      const id = nextId('identity');
      assert.equal((await callUnary(c, { id }, Date.now() + 5000)).error, undefined);
      await waitFor(() => allCalls(id).length >= 1, 2000);
      assert.equal(allCalls(id)[0]!.clientInstance, 'proc-identity-1');
      assert.equal(allCalls(id)[0]!.clientIncarnation, processIncarnation());
      assert.match(processIncarnation(), /^\d{13}-[0-9a-f]{4}$/);
    } finally {
      setClientIdentity(undefined);
    }
    const c2 = client({});
    const id2 = nextId('no-identity');
    assert.equal((await callUnary(c2, { id: id2 }, Date.now() + 5000)).error, undefined);
    await waitFor(() => allCalls(id2).length >= 1, 2000);
    assert.equal(allCalls(id2)[0]!.clientInstance, null);
  });

  test('server streams retry only before their first message', { timeout: 30_000 }, async () => {
    const c = client({ attemptTimeoutMs: 400, retryIntervalMs: 20, maxAttempts: 3 });
    // First message late everywhere: retried up to maxAttempts.
    const id1 = nextId('stream-slow');
    const r1 = await callStream(c, { id: id1, default: { sleepMs: 3000, messages: 2 } }, Date.now() + 8000);
    assert.equal(r1.error?.code, status.DEADLINE_EXCEEDED);
    assert.match(r1.error!.details, /all 3 attempts used/);
    assert.equal(r1.messages.length, 0);
    await waitFor(() => allCalls(id1).length >= 3, 3000);
    assert.equal(allCalls(id1).length, 3);

    // First message on time, then a pause far longer than the attempt timeout: not retried, the stream completes.
    const id2 = nextId('stream-pause');
    const r2 = await callStream(c, { id: id2, default: { messages: 3, afterFirstMs: 1200, gapMs: 10 } }, Date.now() + 8000);
    assert.equal(r2.error, undefined, r2.error?.message);
    assert.equal(r2.messages.length, 3);
    assert.equal(new Set(r2.messages.map((m) => m.server)).size, 1, 'all messages from one attempt');
    assert.equal(allCalls(id2).length, 1);

    // A status after the first message is the caller's, not retried.
    const id3 = nextId('stream-fail');
    const r3 = await callStream(c, { id: id3, default: { messages: 1, code: status.UNAVAILABLE } }, Date.now() + 5000);
    assert.equal(r3.error?.code, status.UNAVAILABLE);
    assert.equal(r3.messages.length, 1);
    assert.equal(allCalls(id3).length, 1);

    // A caller that starts reading later than the attempt timeout is not mistaken for a slow server.
    const id5 = nextId('stream-late-reader');
    const s5 = c.stream({ id: id5, default: { messages: 2 } }, new Metadata(), { deadline: Date.now() + 8000 });
    let code5 = -1;
    s5.on('error', () => undefined);
    s5.on('status', (st: { code: number }) => (code5 = st.code));
    await sleep(700); // longer than the attempt timeout, before reading
    const n5 = await new Promise<number>((resolve) => {
      let n = 0;
      s5.on('data', () => n++);
      s5.on('end', () => resolve(n));
    });
    await waitFor(() => code5 !== -1, 3000);
    assert.deepEqual({ n: n5, code: code5 }, { n: 2, code: status.OK });
    assert.equal(allCalls(id5).length, 1);

    // Slow on a, fast elsewhere: the stream lands on another server once a times out.
    for (let i = 0; i < 3; i++) {
      const id4 = nextId('stream-one-slow');
      const r4 = await callStream(c, { id: id4, servers: { a: { sleepMs: 3000 } }, default: { messages: 2 } }, Date.now() + 8000);
      assert.equal(r4.error, undefined);
      assert.deepEqual(r4.messages.map((m) => m.i), [0, 1]);
      assert.notEqual(r4.messages[0]!.server, 'a');
    }
  });

  test('client-streaming and bidi calls pass through with one attempt and no attempt timer', { timeout: 30_000 }, async () => {
    const rec = recordingObserver();
    const c = client({ attemptTimeoutMs: 100 }, { observers: [rec.factory] });
    const id = nextId('upload');
    const reply = await new Promise<{ err: unknown; count?: number | undefined }>((resolve) => {
      const up = c.upload(new Metadata(), { deadline: Date.now() + 5000 }, (err, r) => resolve({ err, count: r?.i }));
      for (let i = 0; i < 5; i++) up.write({ id, default: { sleepMs: 400 } });
      up.end();
    });
    assert.equal(reply.err, null, 'a client stream slower than attemptTimeoutMs is not cut off');
    assert.equal(reply.count, 5);
    assert.equal(allCalls(id).length, 1);
    assert.equal(rec.calls.at(-1)!.kind, 'client_stream');
    assert.equal(rec.calls.at(-1)!.attempts.length, 1);

    const id2 = nextId('chat');
    const got = await new Promise<string[]>((resolve, reject) => {
      const chat = c.chat(new Metadata(), { deadline: Date.now() + 5000 });
      const seen: string[] = [];
      chat.on('data', ((m: { id: string }) => seen.push(m.id)) as never);
      chat.on('error', reject as never);
      chat.on('end', (() => resolve(seen)) as never);
      chat.write({ id: id2, default: { sleepMs: 300 } });
      chat.write({ id: id2 });
      setTimeout(() => chat.end(), 500);
    });
    assert.deepEqual(got.sort(), [id2, id2]);
    assert.equal(allCalls(id2).length, 1);
    assert.equal(rec.calls.at(-1)!.kind, 'bidi');
  });

  test('the retry budget caps a retry storm, and each refusal says so', { timeout: 30_000 }, async () => {
    const rec = recordingObserver();
    const c = client(
      { attemptTimeoutMs: 100, retryIntervalMs: 20, maxAttempts: 5, budget: { ratio: 0.2, minPerSecond: 0 } },
      { observers: [rec.factory] },
    );
    const ids = Array.from({ length: 30 }, () => nextId('storm'));
    const results = await Promise.all(ids.map((id) => callUnary(c, { id, default: { sleepMs: 3000 } }, Date.now() + 10_000)));
    await sleep(300);
    // Attempts as the client made them (exact), and as the servers saw them (never more).
    const attempts = rec.calls.reduce((n, call) => n + call.attempts.length, 0);
    const atServers = ids.reduce((n, id) => n + allCalls(id).length, 0);
    assert.ok(atServers <= attempts);
    assert.equal(rec.calls.length, ids.length);
    const retries = attempts - ids.length;
    assert.ok(retries <= Math.floor(0.2 * ids.length), `retries ${retries} > 20% of ${ids.length} calls`);
    assert.ok(retries >= 1, 'the budget did allow some retries');
    const refused = results.filter((r) => /retry budget exhausted/.test(r.error?.details ?? ''));
    assert.ok(refused.length >= ids.length - retries - 1, `refusals reported to callers: ${refused.length}`);
    for (const r of results) assert.equal(r.error?.code, status.DEADLINE_EXCEEDED);
    const refusedObserved = rec.calls.flatMap((call) => call.attempts).filter((a) => /retry budget exhausted/.test(a.outcome?.retryRefusedReason ?? ''));
    assert.equal(refusedObserved.length, refused.length, 'observers see each refusal');
  });

  test('with nothing to do (no attempt timer, observer or identity) a unary call passes straight through, and a zero deadline is still named', { timeout: 20_000 }, async () => {
    const c = client(undefined);
    const id = nextId('plain');
    const r = await callUnary(c, { id }, Date.now() + 5000);
    assert.equal(r.error, undefined);
    assert.equal(r.reply?.id, id);
    assert.equal(allCalls(id).length, 1);
    const slow = nextId('plain-slow');
    const s = await callUnary(c, { id: slow, default: { sleepMs: 400 } }, Date.now() + 150);
    assert.equal(s.error?.code, status.DEADLINE_EXCEEDED, 'no attempt timer: the call deadline ends it');
    await sleep(50);
    assert.equal(allCalls(slow).length, 1, 'and nothing retried it');
    const zid = nextId('plain-zero');
    const z = await callUnary(c, { id: zid }, 0);
    assert.match(z.error!.details, /Deadline exceeded before the call started: .*no attempt was sent/);
  });

  test('a healthy unary call makes one attempt and returns its response and headers', { timeout: 20_000 }, async () => {
    const c = client({ attemptTimeoutMs: 3000 });
    const id = nextId('ok');
    const r = await callUnary(c, { id }, Date.now() + 5000);
    assert.equal(r.error, undefined);
    assert.equal(r.reply?.id, id);
    assert.equal(allCalls(id).length, 1);
  });
});
