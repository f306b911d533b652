import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createFakeClock } from '@fairway/testing';
import type { FakeClock } from '@fairway/testing';
import { createRetryBudget } from '../retry-budget.js';
import type { RetryBudget } from '../retry-budget.js';
import type { MethodRetrySettings } from '../retry-config.js';
import { CallMachine, HEDGE_TIMER, RETRY_TIMER } from './call-machine.js';
import type { CallCommand, CallPlan, HedgePlan } from './call-machine.js';
import { LatencyWindow } from './latency-window.js';
import { outcomeKindFor } from './outcome.js';
import { ATTEMPT_TIMEOUT_DETAILS_PREFIX, HEDGE_LOST_DETAILS_PREFIX, StatusCode } from './status.js';

const roomy = (): RetryBudget => createRetryBudget({ ratio: 0, minPerSecond: 1000, windowMs: 10_000 });
const settings = (s: Partial<MethodRetrySettings> = {}): MethodRetrySettings => ({ attemptTimeoutMs: 100, maxAttempts: 5, retryIntervalMs: 50, ...s });

type Open = Extract<CallCommand, { type: 'open' }>;

/**
 * Executes a machine's commands against a fake clock, the way the grpc-js adapter does: timers fire in time
 * order when the clock moves; each opened attempt is "picked" onto the endpoint `pickFor` names.
 */
class Driver {
  readonly clock: FakeClock = createFakeClock(1_000);
  readonly machine: CallMachine;
  readonly log: CallCommand[] = [];
  readonly opened: Array<Open & { atMs: number }> = [];
  readonly cancelled: number[] = [];
  private readonly timers = new Map<number, number>();
  finished: Extract<CallCommand, { type: 'finish' }> | undefined;

  constructor(
    plan: Partial<CallPlan> = {},
    private readonly pickFor: (attempt: number, avoid: readonly string[]) => string = (n) => `ep${n}`,
    /** The picked endpoint's latency estimate and the set's median (the pick explanation's), if any. */
    private readonly estimateFor: (attempt: number) => { rttEstimateMs: number; setMedianRttMs: number } | undefined = () => undefined,
  ) {
    this.machine = new CallMachine({ kind: 'unary', settings: settings(), budget: roomy(), ...plan });
  }

  start(deadlineInMs = Infinity): this {
    this.apply(this.machine.start(this.clock.now(), this.clock.now() + deadlineInMs));
    return this;
  }

  apply(commands: readonly CallCommand[]): void {
    for (const c of commands) {
      this.log.push(c);
      switch (c.type) {
        case 'open':
          this.opened.push({ ...c, atMs: this.clock.now() });
          this.apply(this.machine.picked(c.attempt, this.pickFor(c.attempt, c.avoid), this.clock.now(), this.estimateFor(c.attempt)));
          break;
        case 'arm':
          // Only the hedge timer is ever re-armed (brought forward for a slow endpoint): the adapters replace it.
          assert.ok(c.timer === HEDGE_TIMER || !this.timers.has(c.timer), `timer ${c.timer} armed twice`);
          this.timers.set(c.timer, this.clock.now() + c.delayMs);
          break;
        case 'disarm':
          this.timers.delete(c.timer);
          break;
        case 'cancel':
          this.cancelled.push(c.attempt);
          break;
        case 'finish':
          assert.equal(this.finished, undefined, 'finished twice');
          this.finished = c;
          break;
      }
    }
  }

  /** Moves time by `ms`, firing due timers in order. */
  advance(ms: number): this {
    const until = this.clock.now() + ms;
    for (;;) {
      let next: [number, number] | undefined;
      for (const [id, at] of this.timers) if (at <= until && (!next || at < next[1])) next = [id, at];
      if (!next) break;
      this.timers.delete(next[0]);
      this.clock.set(next[1]);
      this.apply(this.machine.timerFired(next[0], this.clock.now()));
    }
    this.clock.set(until);
    return this;
  }

  status(attempt: number, code: number, details = '', reachedServer = true): this {
    this.apply(this.machine.status(attempt, code, details, reachedServer, this.clock.now()));
    return this;
  }

  message(attempt: number): this {
    this.apply(this.machine.message(attempt, this.clock.now()));
    return this;
  }

  cancel(): this {
    this.apply(this.machine.cancel(StatusCode.CANCELLED, 'Cancelled on client', this.clock.now()));
    return this;
  }

  outcomes(): Array<Extract<CallCommand, { type: 'attemptEnded' }>> {
    return this.log.filter((c): c is Extract<CallCommand, { type: 'attemptEnded' }> => c.type === 'attemptEnded');
  }

  armedTimers(): number[] {
    return [...this.timers.keys()].sort();
  }
}

describe('CallMachine: timeout-only retries', () => {
  test('an attempt that times out is retried after the steady interval, on an endpoint not tried yet', () => {
    const d = new Driver().start().advance(1_000);
    // 5 attempts: 100 ms timer + 50 ms pause each, the last one not retried.
    assert.deepEqual(d.opened.map((o) => o.atMs - 1_000), [0, 150, 300, 450, 600]);
    assert.deepEqual(d.opened.map((o) => o.reason), ['first', 'retry', 'retry', 'retry', 'retry']);
    assert.deepEqual(d.opened.map((o) => o.avoid), [[], ['ep1'], ['ep1', 'ep2'], ['ep1', 'ep2', 'ep3'], ['ep1', 'ep2', 'ep3', 'ep4']]);
    assert.deepEqual(d.cancelled, [1, 2, 3, 4, 5]);
    const cancels = d.log.filter((c) => c.type === 'cancel');
    for (const c of cancels) assert.ok(c.type === 'cancel' && c.code === StatusCode.DEADLINE_EXCEEDED && c.details.startsWith(ATTEMPT_TIMEOUT_DETAILS_PREFIX));
    const outcomes = d.outcomes();
    assert.equal(outcomes.length, 5);
    assert.match(outcomes[0]!.outcome.retryReason ?? '', /attempt 1 timed out after 100ms; retrying in 50ms on another endpoint \(attempt 2 of 5\)/);
    assert.match(outcomes[4]!.outcome.retryRefusedReason ?? '', /all 5 attempts used/);
    assert.equal(d.finished?.code, StatusCode.DEADLINE_EXCEEDED);
    assert.match(d.finished!.details, /attempt 5 timed out after 100ms: all 5 attempts used .*Fairway retries only attempts that time out/);
    assert.deepEqual(d.armedTimers(), []);
  });

  for (const maxAttempts of [4, 5, 6]) {
    test(`maxAttempts ${maxAttempts}: exactly ${maxAttempts} attempts`, () => {
      const d = new Driver({ settings: settings({ maxAttempts }) }).start().advance(5_000);
      assert.equal(d.opened.length, maxAttempts);
      assert.equal(d.finished?.code, StatusCode.DEADLINE_EXCEEDED);
    });
  }

  test('retryIntervalMs 0 opens the next attempt at once, without a timer', () => {
    const d = new Driver({ settings: settings({ retryIntervalMs: 0, maxAttempts: 2 }) }).start().advance(100);
    assert.deepEqual(d.opened.map((o) => o.atMs - 1_000), [0, 100]);
    assert.ok(!d.log.some((c) => c.type === 'arm' && c.timer === RETRY_TIMER));
  });

  test('a status from the server is never retried, whatever it is (a server DEADLINE_EXCEEDED included)', () => {
    for (const code of [StatusCode.UNAVAILABLE, StatusCode.INTERNAL, StatusCode.DEADLINE_EXCEEDED, StatusCode.RESOURCE_EXHAUSTED]) {
      const d = new Driver().start().advance(30).status(1, code, 'from the server').advance(1_000);
      assert.equal(d.opened.length, 1);
      assert.deepEqual(d.finished, { type: 'finish', code, details: 'from the server', attempt: 1 });
      assert.deepEqual(d.armedTimers(), []);
    }
  });

  test('a unary answer commits on its status: the message (or grpc-js\'s null before a status) does not stop the timer', () => {
    const d = new Driver().start().advance(20);
    d.message(1); // the answer's message, or null just before a status with no message
    assert.ok(!d.log.some((c) => c.type === 'commit'));
    d.advance(80); // the server froze between message and trailers: the timer still fires
    assert.equal(d.opened.length, 1);
    assert.deepEqual(d.cancelled, [1]);
    d.advance(50);
    assert.equal(d.opened.length, 2);
    d.advance(10).message(2).status(2, StatusCode.OK, 'OK');
    const commitAt = d.log.findIndex((c) => c.type === 'commit');
    assert.deepEqual(d.log[commitAt], { type: 'commit', attempt: 2 });
    assert.deepEqual(d.finished, { type: 'finish', code: StatusCode.OK, details: 'OK', attempt: 2 });
    assert.ok(commitAt < d.log.indexOf(d.finished!), 'commit before finish');
  });

  test('a status of an attempt already timed out is ignored', () => {
    const d = new Driver().start().advance(100);
    d.status(1, StatusCode.OK, 'late');
    assert.equal(d.finished, undefined);
  });

  test('the call deadline shorter than the attempt timer: no attempt timer, grpc-js\'s deadline ends the call', () => {
    const d = new Driver().start(80);
    assert.ok(!d.log.some((c) => c.type === 'arm'));
    d.advance(80).status(1, StatusCode.DEADLINE_EXCEEDED, 'Deadline exceeded');
    assert.equal(d.opened.length, 1);
    assert.deepEqual(d.finished, { type: 'finish', code: StatusCode.DEADLINE_EXCEEDED, details: 'Deadline exceeded', attempt: 1 });
  });

  test('no retry when the deadline leaves no more than the retry interval', () => {
    const d = new Driver().start(140).advance(100);
    assert.equal(d.opened.length, 1);
    assert.equal(d.finished?.code, StatusCode.DEADLINE_EXCEEDED);
    assert.match(d.finished!.details, /deadline leaves 40ms, not more than the 50ms retry interval/);
  });

  test('a later attempt whose timer would pass the deadline gets no timer of its own', () => {
    const d = new Driver().start(200).advance(150);
    assert.equal(d.opened.length, 2);
    assert.ok(!d.log.some((c) => c.type === 'arm' && c.timer === 2), 'attempt 2 has 50 ms left: the deadline ends it');
  });

  test('a deadline already passed: no attempt, DEADLINE_EXCEEDED', () => {
    const d = new Driver().start(0);
    assert.equal(d.opened.length, 0);
    assert.equal(d.finished?.code, StatusCode.DEADLINE_EXCEEDED);
    assert.match(d.finished!.details, /no attempt was sent/);
  });

  test('the retry budget refuses: the call ends with the reason, and every call is a deposit', () => {
    const budget = createRetryBudget({ ratio: 0, minPerSecond: 0.1, windowMs: 10_000 }); // one retry in the window
    const first = new Driver({ budget }).start().advance(1_000);
    assert.equal(first.opened.length, 2);
    assert.match(first.finished!.details, /attempt 2 timed out after 100ms: retry budget exhausted \(1 retries for 1 calls/);
    assert.equal(budget.state(first.clock.now()).calls, 1);
  });

  test('server-streaming: retried before its first message; the first message commits and stops the timer', () => {
    const d = new Driver({ kind: 'server_stream' }).start().advance(150);
    assert.equal(d.opened.length, 2);
    d.advance(30).message(2);
    assert.deepEqual(d.log.filter((c) => c.type === 'commit'), [{ type: 'commit', attempt: 2 }]);
    assert.deepEqual(d.armedTimers(), []);
    d.advance(10_000);
    assert.equal(d.opened.length, 2, 'no timer after the first message');
    d.message(2).status(2, StatusCode.UNAVAILABLE, 'stream broke');
    assert.equal(d.finished?.code, StatusCode.UNAVAILABLE);
  });

  test('client-streaming and bidi calls: one attempt, committed from the start, no timer, never retried', () => {
    for (const kind of ['client_stream', 'bidi'] as const) {
      const d = new Driver({ kind }).start();
      assert.deepEqual(d.log.map((c) => c.type), ['open', 'commit']);
      d.advance(10_000).status(1, StatusCode.UNAVAILABLE, 'x', false);
      assert.equal(d.opened.length, 1, 'not re-picked either: its messages were not kept');
      assert.equal(d.finished?.attempt, 1);
    }
  });
});

describe('CallMachine: cancellation', () => {
  test('during an attempt: the attempt is cancelled, the call ends with the cancel status', () => {
    const d = new Driver().start().advance(30).cancel();
    assert.deepEqual(d.cancelled, [1]);
    assert.deepEqual(d.finished, { type: 'finish', code: StatusCode.CANCELLED, details: 'Cancelled on client' });
    assert.deepEqual(d.armedTimers(), []);
    d.advance(1_000);
    assert.equal(d.opened.length, 1);
  });

  test('while waiting to retry: no further attempt', () => {
    const d = new Driver().start().advance(120).cancel().advance(1_000);
    assert.equal(d.opened.length, 1);
    assert.equal(d.finished?.code, StatusCode.CANCELLED);
    assert.deepEqual(d.armedTimers(), []);
  });

  test('after commit: the committed attempt is cancelled and its own status ends the call', () => {
    const d = new Driver({ kind: 'server_stream' }).start().advance(10).message(1).cancel();
    assert.deepEqual(d.cancelled, [1]);
    assert.equal(d.finished, undefined);
    d.status(1, StatusCode.CANCELLED, 'Cancelled on client');
    assert.deepEqual(d.finished, { type: 'finish', code: StatusCode.CANCELLED, details: 'Cancelled on client', attempt: 1 });
  });

  test('every opened attempt ends exactly once for the observers', () => {
    const d = new Driver().start().advance(260).cancel();
    const ended = d.outcomes().map((o) => o.attempt).sort();
    assert.deepEqual(ended, d.opened.map((o) => o.attempt));
  });
});

describe('CallMachine: transparent re-picks', () => {
  test('an attempt that never reached a server is re-picked at once elsewhere, outside maxAttempts and the budget', () => {
    const budget = createRetryBudget({ ratio: 0, minPerSecond: 0, windowMs: 10_000 }); // no retries at all
    const d = new Driver({ budget, settings: settings({ maxAttempts: 1 }) }).start().advance(5);
    d.status(1, StatusCode.UNAVAILABLE, 'Stream refused by server', false);
    assert.equal(d.opened.length, 2);
    assert.deepEqual({ reason: d.opened[1]!.reason, at: d.opened[1]!.atMs, avoid: d.opened[1]!.avoid }, { reason: 'repick', at: 1_005, avoid: ['ep1'] });
    assert.match(d.outcomes()[0]!.outcome.repickReason ?? '', /attempt 1 never reached ep1 \(Stream refused by server\); re-picked at once/);
    assert.equal(budget.state(d.clock.now()).retries, 0);
    d.advance(10).status(2, StatusCode.OK, 'OK');
    assert.equal(d.finished?.attempt, 2);
  });

  test('bounded: one re-pick per endpoint tried', () => {
    // The picker has only ep1 to offer.
    const d = new Driver({}, () => 'ep1').start();
    d.status(1, StatusCode.UNAVAILABLE, 'refused', false);
    assert.equal(d.opened.length, 2);
    d.status(2, StatusCode.UNAVAILABLE, 'refused', false);
    assert.equal(d.opened.length, 2);
    assert.deepEqual(d.finished, { type: 'finish', code: StatusCode.UNAVAILABLE, details: 'refused', attempt: 2 });
  });

  test('a re-picked attempt keeps the attempt timer rules; the re-pick does not count as an attempt', () => {
    const d = new Driver({ settings: settings({ maxAttempts: 2 }) }).start().advance(5);
    d.status(1, StatusCode.UNAVAILABLE, 'refused', false);
    d.advance(100); // attempt 2 (the re-pick) times out: a retry follows, since it counted as attempt 1 of 2
    d.advance(1_000);
    assert.deepEqual(d.opened.map((o) => o.reason), ['first', 'repick', 'retry']);
  });

  test('no re-pick for an attempt that was never picked (nothing to avoid), or past the deadline', () => {
    const d = new Driver({}, () => '').start();
    // An attempt whose pick failed reports no endpoint: simulate by a machine whose picked() is never called.
    const m = new CallMachine({ kind: 'unary', settings: settings(), budget: roomy() });
    m.start(0, Infinity);
    const out = m.status(1, StatusCode.UNAVAILABLE, 'no ready endpoint', false, 1);
    assert.ok(!out.some((c) => c.type === 'open'));
    assert.deepEqual(out.at(-1), { type: 'finish', code: StatusCode.UNAVAILABLE, details: 'no ready endpoint', attempt: 1 });
    void d;
    const late = new Driver().start(50).advance(50).status(1, StatusCode.UNAVAILABLE, 'refused', false);
    assert.equal(late.opened.length, 1);
  });
});

function hedgePlan(p: Partial<HedgePlan> = {}): HedgePlan {
  return { delayMs: 30, maxHedges: 1, latency: new LatencyWindow(0.95), budget: roomy(), ...p };
}

describe('CallMachine: hedging', () => {
  test('no answer after the hedge delay: a hedge to an endpoint not tried; the first answer wins, the other is cancelled', () => {
    const d = new Driver({ hedge: hedgePlan() }).start().advance(30);
    assert.deepEqual(d.opened.map((o) => [o.reason, o.atMs - 1_000, o.avoid]), [['first', 0, []], ['hedge', 30, ['ep1']]]);
    assert.match(d.opened[1]!.detail, /no answer after 30ms: hedged on another endpoint/);
    d.advance(5).status(2, StatusCode.OK, 'OK');
    assert.deepEqual(d.cancelled, [1]);
    const lost = d.log.find((c) => c.type === 'cancel');
    assert.ok(lost?.type === 'cancel' && lost.code === StatusCode.CANCELLED && lost.details === `${HEDGE_LOST_DETAILS_PREFIX} attempt 2 answered first`);
    assert.deepEqual(d.finished, { type: 'finish', code: StatusCode.OK, details: 'OK', attempt: 2 });
    assert.deepEqual(d.armedTimers(), []);
    assert.deepEqual(d.outcomes().map((o) => o.attempt).sort(), [1, 2]);
  });

  test('the first attempt answers just after the hedge went out: the hedge was beaten, not late, and teaches its endpoint nothing', () => {
    const d = new Driver({ hedge: hedgePlan() }).start().advance(30);
    d.advance(2).status(1, StatusCode.OK, 'OK');
    assert.deepEqual(d.cancelled, [2]);
    const beaten = d.log.find((c) => c.type === 'cancel');
    assert.ok(beaten?.type === 'cancel' && beaten.code === StatusCode.CANCELLED);
    assert.equal(beaten.details, 'Fairway: attempt 1 answered first');
    assert.equal(outcomeKindFor(beaten.code, beaten.details), 'cancelled', 'no penalty for the hedge endpoint');
    // The late first attempt of the test above is a time-out for its endpoint.
    assert.equal(outcomeKindFor(StatusCode.CANCELLED, `${HEDGE_LOST_DETAILS_PREFIX} attempt 2 answered first`), 'timeout');
  });

  test('an answer before the hedge delay: no hedge', () => {
    const d = new Driver({ hedge: hedgePlan() }).start().advance(10).status(1, StatusCode.OK, 'OK').advance(100);
    assert.equal(d.opened.length, 1);
    assert.deepEqual(d.armedTimers(), []);
  });

  test('the hedge budget bounds the extra load', () => {
    const budget = createRetryBudget({ ratio: 0.05, minPerSecond: 0, windowMs: 10_000 });
    const plan = hedgePlan({ budget });
    let hedged = 0;
    const clock = createFakeClock(0);
    for (let i = 0; i < 200; i++) {
      const m = new CallMachine({ kind: 'unary', settings: settings(), budget: roomy(), hedge: plan });
      m.start(clock.now(), Infinity);
      if (m.timerFired(HEDGE_TIMER, clock.advance(30)).some((c) => c.type === 'open')) hedged++;
      clock.advance(1);
    }
    assert.equal(hedged, 10, '5% of 200 calls (all within the 10 s window)');
  });

  test('an UNAVAILABLE answer does not win the race while another attempt is in flight', () => {
    const d = new Driver({ hedge: hedgePlan() }).start().advance(30).status(2, StatusCode.UNAVAILABLE, 'fast failure');
    assert.equal(d.finished, undefined);
    d.advance(20).status(1, StatusCode.OK, 'OK');
    assert.deepEqual(d.finished, { type: 'finish', code: StatusCode.OK, details: 'OK', attempt: 1 });
  });

  test('the delay comes from the method\'s live latency: no hedge until enough samples, then the 95th percentile', () => {
    const latency = new LatencyWindow(0.95);
    const plan = hedgePlan({ delayMs: undefined, latency });
    const first = new Driver({ hedge: plan }).start();
    assert.ok(!first.log.some((c) => c.type === 'arm' && c.timer === HEDGE_TIMER), 'no samples yet');
    for (let i = 1; i <= 100; i++) {
      const d = new Driver({ hedge: plan }).start();
      d.advance(i % 50 === 0 ? 90 : 10).status(1, StatusCode.OK, 'OK');
    }
    const d = new Driver({ hedge: plan }).start();
    assert.deepEqual(d.log.find((c) => c.type === 'arm' && c.timer === HEDGE_TIMER), { type: 'arm', timer: HEDGE_TIMER, delayMs: 10 });
    for (let i = 0; i < 20; i++) new Driver({ hedge: plan }).start().advance(40).status(1, StatusCode.OK, 'OK');
    assert.equal(latency.value(), 40);
  });

  test('a first attempt on an endpoint far slower than the set hedges at the method\'s median latency, not its hedge delay', () => {
    const latency = new LatencyWindow(0.95);
    for (let i = 1; i <= 100; i++) latency.record(i % 10 === 0 ? 60 : 20); // 95th percentile 60 ms, median 20 ms
    const plan = hedgePlan({ delayMs: undefined, latency });
    const estimate = (rtt: number) => () => ({ rttEstimateMs: rtt, setMedianRttMs: 25 });
    const slow = new Driver({ hedge: plan }, undefined, (n) => (n === 1 ? { rttEstimateMs: 90, setMedianRttMs: 25 } : undefined)).start().advance(25);
    assert.deepEqual(slow.opened.map((o) => [o.reason, o.atMs - 1_000, o.avoid]), [['first', 0, []], ['hedge', 20, ['ep1']]]);
    assert.match(slow.opened[1]!.detail, /^no answer after 20ms \(its endpoint's estimate 90ms is above 2x the set's median 25ms, so at the method's median latency instead of 60ms\): hedged/);
    slow.status(2, StatusCode.OK, 'OK');
    assert.equal(slow.finished?.attempt, 2);

    const notSlowEnough = new Driver({ hedge: plan }, undefined, estimate(49)).start().advance(59);
    assert.equal(notSlowEnough.opened.length, 1, 'under 2x the median: the usual delay');
    assert.deepEqual(notSlowEnough.advance(1).opened.map((o) => [o.reason, o.atMs - 1_000]), [['first', 0], ['hedge', 60]]);

    const notInTheTail = new Driver({ hedge: plan }, undefined, estimate(55)).start().advance(59);
    assert.equal(notInTheTail.opened.length, 1, '2.2x the median but under the 60 ms hedge delay: the usual delay');

    const fixed = new Driver({ hedge: hedgePlan({ delayMs: 30 }) }, undefined, estimate(90)).start().advance(29);
    assert.equal(fixed.opened.length, 1, "a fixed hedge delay is the user's choice: kept");
    const unknown = new Driver({ hedge: plan }).start().advance(59);
    assert.equal(unknown.opened.length, 1, 'no estimate (the endpoint never answered): the usual delay');
    const late = new Driver({ hedge: plan }, undefined, estimate(90));
    late.clock.advance(0);
    const m = late.machine;
    m.start(late.clock.now(), Infinity);
    assert.deepEqual(m.picked(1, 'ep1', late.clock.now() + 30, { rttEstimateMs: 90, setMedianRttMs: 25 }), [{ type: 'arm', timer: HEDGE_TIMER, delayMs: 0 }], 'a pick that waited past the median hedges at once');
  });

  test('a hedge delay not shorter than the attempt timeout: no hedge (the retry covers it)', () => {
    const d = new Driver({ hedge: hedgePlan({ delayMs: 100 }) }).start();
    assert.ok(!d.log.some((c) => c.type === 'arm' && c.timer === HEDGE_TIMER));
  });

  test('a server stream hedges before its first message; the first message wins', () => {
    const d = new Driver({ kind: 'server_stream', hedge: hedgePlan() }).start().advance(30).advance(5).message(1);
    assert.deepEqual(d.cancelled, [2]);
    assert.equal(d.machine.committedAttempt, 1);
  });

  test('two attempts timing out together are followed by one retry, not two', () => {
    // Hedge at 50 ms, attempt timers 100 ms: attempt 1 times out at 100, the hedge at 150 while the retry waits.
    const d = new Driver({ hedge: hedgePlan({ delayMs: 50 }), settings: settings({ retryIntervalMs: 60, maxAttempts: 5 }) }).start().advance(155);
    assert.deepEqual(d.opened.map((o) => [o.reason, o.atMs - 1_000]), [['first', 0], ['hedge', 50]]);
    d.advance(10);
    assert.deepEqual(d.opened.map((o) => [o.reason, o.atMs - 1_000]), [['first', 0], ['hedge', 50], ['retry', 160]]);
    assert.equal(d.log.filter((c) => c.type === 'arm' && c.timer === RETRY_TIMER).length, 1);
  });

  test('a scheduled retry counts towards maxAttempts: no hedge that would exceed it', () => {
    // maxAttempts 3: attempt 1, hedge 1 at 45; attempt 1 times out at 90 (retry due at 91) as hedge 2 is due.
    const d = new Driver({ hedge: hedgePlan({ delayMs: 45, maxHedges: 2 }), settings: settings({ attemptTimeoutMs: 90, retryIntervalMs: 1, maxAttempts: 3 }) }).start().advance(5_000);
    assert.ok(d.opened.filter((o) => o.reason !== 'repick').length <= 3, JSON.stringify(d.opened.map((o) => o.reason)));
  });

  test('a hedged attempt that times out is retried like any other; attempts in all stay within maxAttempts', () => {
    const d = new Driver({ hedge: hedgePlan({ maxHedges: 2 }), settings: settings({ maxAttempts: 3 }) }).start().advance(2_000);
    assert.deepEqual(d.opened.map((o) => o.reason), ['first', 'hedge', 'hedge']);
    assert.equal(d.finished?.code, StatusCode.DEADLINE_EXCEEDED);
    assert.deepEqual(d.outcomes().map((o) => o.attempt).sort(), [1, 2, 3]);
  });
});

describe('CallMachine: properties over random event sequences', () => {
  test('finishes exactly once, every opened attempt ends exactly once, no timer outlives the call, attempts stay bounded', () => {
    const kinds = ['unary', 'server_stream', 'client_stream', 'bidi'] as const;
    const codes = [StatusCode.OK, StatusCode.UNAVAILABLE, StatusCode.DEADLINE_EXCEEDED, StatusCode.INTERNAL];
    fc.assert(
      fc.property(
        fc.record({
          kind: fc.constantFrom(...kinds),
          maxAttempts: fc.integer({ min: 1, max: 6 }),
          retryIntervalMs: fc.integer({ min: 0, max: 100 }),
          attemptTimeoutMs: fc.option(fc.integer({ min: 20, max: 200 }), { nil: undefined }),
          hedgeDelayMs: fc.option(fc.integer({ min: 5, max: 150 }), { nil: undefined }),
          maxHedges: fc.integer({ min: 1, max: 3 }),
          tightBudget: fc.boolean(),
          deadlineMs: fc.option(fc.integer({ min: 0, max: 2_000 }), { nil: undefined }),
          endpoints: fc.integer({ min: 1, max: 4 }),
        }),
        fc.array(
          fc.oneof(
            fc.record({ type: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 300 }) }),
            fc.record({ type: fc.constant('status' as const), pick: fc.nat(), code: fc.constantFrom(...codes), reached: fc.boolean() }),
            fc.record({ type: fc.constant('message' as const), pick: fc.nat() }),
            fc.record({ type: fc.constant('cancel' as const) }),
          ),
          { maxLength: 30 },
        ),
        (p, events) => {
          const budget = p.tightBudget ? createRetryBudget({ ratio: 0, minPerSecond: 0.1, windowMs: 10_000 }) : roomy();
          const hedge = p.hedgeDelayMs === undefined ? undefined : hedgePlan({ delayMs: p.hedgeDelayMs, maxHedges: p.maxHedges, budget: p.tightBudget ? budget : roomy() });
          const d = new Driver(
            { kind: p.kind, budget, hedge, settings: settings({ maxAttempts: p.maxAttempts, retryIntervalMs: p.retryIntervalMs, attemptTimeoutMs: p.attemptTimeoutMs }) },
            (n, avoid) => `ep${(avoid.length + n) % p.endpoints}`,
          ).start(p.deadlineMs ?? Infinity);
          const ended = new Map<number, number>();
          const live = () => d.opened.map((o) => o.attempt).filter((n) => !d.log.some((c) => c.type === 'attemptEnded' && c.attempt === n));
          const step = (e: (typeof events)[number]) => {
            if (e.type === 'advance') d.advance(e.ms);
            else if (e.type === 'cancel') d.cancel();
            else {
              const l = live();
              if (l.length === 0) return;
              const n = l[e.pick % l.length]!;
              if (e.type === 'message') d.message(n);
              else d.status(n, e.code, 'x', e.reached);
            }
          };
          events.forEach(step);
          // Let it run to the end: time passes, and every attempt still open eventually answers.
          for (let guard = 0; guard < 50 && !d.finished; guard++) {
            d.advance(1_000);
            for (const n of live()) d.status(n, StatusCode.OK, 'OK', true);
          }
          assert.ok(d.finished, 'the call finished');
          assert.equal(d.log.filter((c) => c.type === 'finish').length, 1);
          for (const c of d.log) if (c.type === 'attemptEnded') ended.set(c.attempt, (ended.get(c.attempt) ?? 0) + 1);
          assert.deepEqual([...ended.keys()].sort(), d.opened.map((o) => o.attempt).sort(), 'every opened attempt ended');
          assert.ok([...ended.values()].every((v) => v === 1), 'exactly once');
          assert.deepEqual(d.armedTimers(), [], 'no timer outlives the call');
          const afterFinish = d.log.slice(d.log.findIndex((c) => c.type === 'finish') + 1);
          assert.ok(!afterFinish.some((c) => c.type === 'open' || c.type === 'arm'), 'nothing starts after the finish');
          const counted = d.opened.filter((o) => o.reason !== 'repick').length;
          assert.ok(counted <= p.maxAttempts, `${counted} attempts > ${p.maxAttempts}`);
          assert.ok(d.opened.filter((o) => o.reason === 'hedge').length <= p.maxHedges);
          const repicks = d.opened.filter((o) => o.reason === 'repick').length;
          assert.ok(repicks <= new Set(d.opened.map((o) => o.avoid.length)).size + p.endpoints, 'bounded re-picks');
          if (p.kind === 'client_stream' || p.kind === 'bidi') assert.ok(d.opened.length <= 1, 'a client or bidi stream: one attempt at most');
          assert.ok(d.log.filter((c) => c.type === 'commit').length <= 1, 'at most one attempt commits');
        },
      ),
      { numRuns: 1000, seed: 20261203 },
    );
  });
});
