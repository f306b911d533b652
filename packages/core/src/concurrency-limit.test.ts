import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSeededRandom } from '@fairway/testing';
import { createConcurrencyLimiter, type ConcurrencyLimiter, type LimitTicket } from './index.js';

let clockMs = 0;
/**
 * Holds the limiter at `inFlight` calls and feeds `n` samples of `rttMs` (each released, then replaced), each
 * in a window of its own (the limit moves once per window of one long RTT; the clock moves 1 s per sample).
 */
function feed(l: ConcurrencyLimiter, n: number, rttMs: number, inFlight = l.limit): void {
  const held: LimitTicket[] = [];
  for (let i = 0; i < inFlight - 1; i++) {
    const t = l.tryAcquire();
    if (t) held.push(t);
  }
  for (let i = 0; i < n; i++) l.tryAcquire()?.release(rttMs, (clockMs += 1_000));
  for (const t of held) t.release(undefined, clockMs);
}

describe('adaptive concurrency limiter (Gradient2-like)', () => {
  test('starts at 20: the 21st call in flight is refused with a message naming the limit; a release admits again', () => {
    const l = createConcurrencyLimiter();
    const tickets = Array.from({ length: 20 }, () => l.tryAcquire());
    assert.ok(tickets.every((t) => t !== undefined));
    assert.equal(l.tryAcquire(), undefined);
    assert.equal(l.refusedCount, 1);
    assert.match(l.refusal(), /adaptive concurrency limit reached: 20 calls in flight, limit 20/);
    tickets[0]!.release(undefined, 0);
    tickets[0]!.release(undefined, 0); // twice: ignored
    assert.equal(l.inFlight, 19);
    assert.ok(l.tryAcquire());
    assert.equal(l.tryAcquire(), undefined);
  });

  test('steady latency at the limit: grows by 0.8 per sample (queueSize 4 x smoothing 0.2) up to maxLimit', () => {
    const l = createConcurrencyLimiter();
    feed(l, 1, 10);
    feed(l, 10, 10);
    assert.equal(l.limit, 28); // 20 + 11 x 0.8 = 28.8
    for (let i = 0; i < 300; i++) feed(l, 1, 10);
    assert.equal(l.limit, 200);
  });

  test('latency rising above 1.5x the long-term RTT shrinks the limit (gradient floored at 0.5), down to minLimit', () => {
    const l = createConcurrencyLimiter({ initialLimit: 100 });
    feed(l, 20, 10);
    const before = l.limit;
    feed(l, 1, 40); // gradient 1.5 x 10 / 40 = 0.375 -> 0.5: next = 0.8 L + 0.2 (0.5 L + 4) = 0.9 L + 0.8
    assert.ok(l.limit < before, `${l.limit} < ${before}`);
    for (let i = 0; i < 200; i++) feed(l, 1, 40 + i);
    assert.equal(l.limit, 20);
  });

  test('samples within 1.5x the long-term RTT (a tailed service time) do not shrink it', () => {
    const l = createConcurrencyLimiter({ initialLimit: 50 });
    const random = createSeededRandom(3);
    feed(l, 20, 10);
    const before = l.limit;
    for (let i = 0; i < 100; i++) feed(l, 1, 10 * (0.7 + 0.7 * random()));
    assert.ok(l.limit >= before, `${l.limit} >= ${before}`);
  });

  test('the limit moves at most once per window of one long RTT', () => {
    const l = createConcurrencyLimiter();
    feed(l, 20, 10);
    const before = l.limit;
    const held = Array.from({ length: before - 1 }, () => l.tryAcquire()!);
    const t0 = clockMs;
    for (let i = 0; i < 9; i++) l.tryAcquire()!.release(10, t0 + i); // 9 samples within 9 ms < 10 ms
    assert.equal(l.limit, before);
    l.tryAcquire()!.release(10, t0 + 10);
    assert.equal(l.limit, Math.floor(before + 0.8), 'one step for the whole window');
    for (const t of held) t.release(undefined, t0 + 10);
  });

  test('a service that became slower for good is learnt: the limit falls to the floor, the floor teaches the new RTT, it leaves the floor again', () => {
    const l = createConcurrencyLimiter({ initialLimit: 100 });
    feed(l, 20, 10);
    for (let i = 0; i < 40; i++) feed(l, 1, 20);
    assert.ok(l.limit <= 30, `twice the RTT: down near the floor (${l.limit})`);
    for (let i = 0; i < 3_000; i++) feed(l, 1, 20);
    // It learns until the limit leaves the floor's headroom (a partial relearn: long RTT ~12 ms, limit ~33,
    // stable), so a slower service keeps a working limit instead of being pinned to the floor.
    assert.ok(l.longRtt > 11, `learnt at the floor: ${l.longRtt}`);
    assert.ok(l.limit > 30, `off the floor again: ${l.limit}`);
  });

  test('app-limited (fewer than half the limit in flight): no growth', () => {
    const l = createConcurrencyLimiter();
    for (let i = 0; i < 500; i++) l.tryAcquire()!.release(10, (clockMs += 1_000));
    assert.equal(l.limit, 20);
  });

  test('bad options name the field', () => {
    assert.throws(() => createConcurrencyLimiter({ minLimit: 50, maxLimit: 10 }), /concurrencyLimit\.maxLimit \(10\) must be >= minLimit \(50\)/);
    assert.throws(() => createConcurrencyLimiter({ smoothing: 2 }), /concurrencyLimit\.smoothing must be a finite number in \[0\.000001, 1\], got 2/);
    assert.throws(() => createConcurrencyLimiter({ initialLimit: 5 }), /initialLimit \(5\) must be within \[minLimit, maxLimit\] = \[20, 200\]/);
    assert.equal(createConcurrencyLimiter({ minLimit: 50 }).limit, 50, 'the default initial limit is raised to minLimit');
  });
});

/**
 * B11 in miniature: one pod of 40 slots, service 8-12 ms (capacity 4 calls/ms), offered 130 % of capacity in an
 * open loop for 20 s of simulated time; a caller's attempt times out after 100 ms and is retried once (a
 * timeout retry). The pod works through its FIFO queue whether or not the caller still waits (a worst case).
 * Goodput = answers within the timeout, per ms, over the last 15 s.
 */
function overload(limiter: ConcurrencyLimiter | undefined, seed: number) {
  const random = createSeededRandom(seed);
  const slots = new Array<number>(40).fill(0);
  type Call = { arrived: number; ticket: LimitTicket | undefined; retry: boolean; done: boolean };
  const queue: Call[] = [];
  const completions: ({ call: Call; end: number }[] | undefined)[] = [];
  let qHead = 0;
  const timeouts: { at: number; call: Call }[] = [];
  let tHead = 0;
  let good = 0;
  const answered: number[] = [];
  let retries = 0;
  let refused = 0;
  let offered = 0;
  let credit = 0;
  const admit = (now: number, retry: boolean): void => {
    const ticket = limiter?.tryAcquire();
    if (limiter && !ticket) {
      refused++;
      return; // RESOURCE_EXHAUSTED at once: never retried (not a timeout)
    }
    const call = { arrived: now, ticket, retry, done: false };
    queue.push(call);
    timeouts.push({ at: now + 100, call });
  };
  for (let now = 0; now < 20_000; now++) {
    // Timeouts first: the caller gives up (and retries once).
    while (tHead < timeouts.length && timeouts[tHead]!.at <= now) {
      const { call } = timeouts[tHead++]!;
      if (call.done) continue;
      call.done = true;
      call.ticket?.release(100, now);
      if (!call.retry) (retries++, admit(now, true));
    }
    // Answers that arrive now (before the caller's timer, if both are due).
    for (const { call, end } of completions[now] ?? []) {
      if (call.done) continue;
      call.done = true;
      call.ticket?.release(end - call.arrived, now);
      if (now >= 5_000) (good++, answered.push(end - call.arrived));
    }
    completions[now] = undefined;
    credit += 5.2;
    while (credit >= 1) (credit--, offered++, admit(now, false));
    for (let s = 0; s < slots.length; s++) {
      while (slots[s]! <= now && qHead < queue.length) {
        const call = queue[qHead++]!;
        const end = Math.max(now, slots[s]!) + 8 + 4 * random();
        slots[s] = end;
        const at = Math.ceil(end);
        (completions[at] ??= []).push({ call, end });
      }
    }
  }
  answered.sort((a, b) => a - b);
  const p99 = answered[Math.floor(0.99 * (answered.length - 1))] ?? Number.NaN;
  return { goodputShare: good / 15_000 / 4, retries, refused, offered, limit: limiter?.limit, p99 };
}

describe('adaptive concurrency simulation (B11 in miniature)', () => {
  test('130 % offered load with timeout retries: goodput >= 90 % of capacity with the limiter, collapse without', () => {
    for (const seed of [1, 2]) {
      const on = overload(createConcurrencyLimiter(), seed);
      const off = overload(undefined, seed);
      console.log(
        `seed ${seed}: limiter: goodput ${(100 * on.goodputShare).toFixed(1)} % of capacity, p99 answered ${on.p99.toFixed(1)} ms, limit ${on.limit}, refused ${on.refused}, retries ${on.retries}; no limiter: goodput ${(100 * off.goodputShare).toFixed(1)} %, retries ${off.retries} of ${off.offered} calls`,
      );
      assert.ok(on.goodputShare >= 0.9, `goodput with the limiter: ${on.goodputShare}`);
      assert.ok(on.retries < 0.01 * on.offered, `no retry storm: ${on.retries} retries`);
      assert.ok(off.goodputShare < 0.5, `without it the queue grows past the timeout: ${off.goodputShare}`);
    }
  });
});
