import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createFakeClock, createSeededRandom } from '@fairway/testing';
import { createBalancer, maxEjected, resolveEjectionOptions, type BalancerOptions, type EjectionEvent, type EndpointInfo } from './index.js';
import { evaluateInterval, type EjectionState } from './ejection.js';

const ep = (i: number): EndpointInfo => ({ address: `10.0.0.${i}:50051` });

/** `n` READY endpoints taught 10 ms answers; `bad` is the first key. Events land in `events`. */
function fleet(n: number, options: BalancerOptions = {}, seed = 1) {
  const clock = createFakeClock();
  const events: EjectionEvent[] = [];
  const b = createBalancer({ slowStart: false, onEjection: (e) => events.push(e), ...options });
  const keys = b.update(Array.from({ length: n }, (_, i) => ep(i + 1)), 0).added;
  for (const k of keys) b.setReady(k, true, 0);
  const random = createSeededRandom(seed);
  for (let i = 0; i < 20 * n; i++) b.pick(clock.now(), random)!.release({ kind: 'success', latencyMs: 10 }, clock.now());
  const others = (k: string) => new Set(keys.filter((x) => x !== k));
  /** One attempt forced onto `key` (the others avoided), ended with `kind`. */
  const hit = (key: string, kind: 'success' | 'failure' | 'timeout') => {
    const h = b.pick(clock.now(), random, others(key))!;
    assert.equal(h.key, key);
    h.release(kind === 'success' ? { kind, latencyMs: 10 } : { kind, latencyMs: 500 }, clock.now());
  };
  const row = (key: string) => b.snapshot(clock.now()).find((r) => r.key === key)!;
  return { clock, b, keys, random, events, hit, row };
}

describe('outlier ejection: consecutive failures', () => {
  test('5 failures or timeouts in a row eject; a success in between resets the count', () => {
    const { keys, events, hit, row } = fleet(6);
    const bad = keys[0]!;
    for (let i = 0; i < 4; i++) hit(bad, 'failure');
    hit(bad, 'success');
    for (let i = 0; i < 4; i++) hit(bad, i % 2 === 0 ? 'failure' : 'timeout');
    assert.equal(row(bad).ejection, 'none', 'four in a row since the success');
    hit(bad, 'failure');
    assert.equal(row(bad).ejection, 'ejected');
    assert.equal(row(bad).ejectionReason, 'consecutive-failures');
    assert.equal(row(bad).ejectedForMs, 10_000);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.kind, 'ejected');
    assert.match(events[0]!.detail, /10\.0\.0\.1:50051 ejected for 10000 ms \(ejection 1 in a row\): 5 failures or timeouts in a row/);
  });

  test('lost hedge races are not counted: a short stall that makes many late attempts in a row ejects nothing', () => {
    const { b, clock, keys, random, events, hit, row } = fleet(6);
    const stalled = keys[0]!;
    const others = new Set(keys.filter((x) => x !== stalled));
    for (let i = 0; i < 10; i++) b.pick(clock.now(), random, others)!.release({ kind: 'timeout', latencyMs: 40, hedgeLost: true }, clock.now());
    assert.equal(row(stalled).ejection, 'none', 'ten lost hedge races in a row');
    assert.equal(events.length, 0);
    // Real time-outs still count (the same endpoint, five in a row).
    for (let i = 0; i < 5; i++) hit(stalled, 'timeout');
    assert.equal(row(stalled).ejection, 'ejected');
  });

  test('an ejected endpoint is never picked, even when it is the only one not yet tried', () => {
    const { b, clock, keys, random, hit } = fleet(6);
    const bad = keys[0]!;
    for (let i = 0; i < 5; i++) hit(bad, 'failure');
    for (let i = 0; i < 2_000; i++) {
      const h = b.pick(clock.now(), random, new Set(keys.slice(1)))!;
      assert.notEqual(h.key, bad);
      h.release({ kind: 'success', latencyMs: 10 }, clock.now());
    }
  });

  test('after the ejection time, one probe call: while it is out nothing else goes there; a normal answer re-admits', () => {
    const { b, clock, keys, random, events, hit, row } = fleet(6);
    const bad = keys[0]!;
    for (let i = 0; i < 5; i++) hit(bad, 'failure');
    clock.advance(9_999);
    for (let i = 0; i < 500; i++) {
      const h = b.pick(clock.now(), random)!;
      assert.notEqual(h.key, bad, 'still ejected at 9,999 ms');
      h.release({ kind: 'success', latencyMs: 10 }, clock.now());
    }
    clock.advance(1);
    assert.equal(row(bad).ejection, 'probe');
    let probe;
    for (let i = 0; i < 500 && probe === undefined; i++) {
      const h = b.pick(clock.now(), random)!;
      if (h.key === bad) probe = h;
      else h.release({ kind: 'success', latencyMs: 10 }, clock.now());
    }
    assert.ok(probe, 'the probe was sent');
    assert.match(probe.explanation.reason, /re-admission probe/);
    for (let i = 0; i < 500; i++) {
      const h = b.pick(clock.now(), random)!;
      assert.notEqual(h.key, bad, 'one probe at a time');
      h.release({ kind: 'success', latencyMs: 10 }, clock.now());
    }
    probe.release({ kind: 'success', latencyMs: 11 }, clock.now());
    assert.equal(row(bad).ejection, 'none');
    assert.equal(row(bad).rttEstimateMs, 11, 'the probe answer replaces the penalty');
    assert.deepEqual(
      events.map((e) => e.kind),
      ['ejected', 'probe', 'readmitted'],
    );
  });

  test('a failed probe ejects again for longer: 10, 20, 30 ... s, capped at maxEjectionMs', () => {
    const { clock, keys, hit, row } = fleet(6, { ejection: { maxEjectionMs: 35_000 } });
    const bad = keys[0]!;
    for (let i = 0; i < 5; i++) hit(bad, 'failure');
    const durations = [row(bad).ejectedForMs];
    for (let i = 0; i < 4; i++) {
      clock.advance(row(bad).ejectedForMs!);
      hit(bad, 'timeout'); // the probe times out
      durations.push(row(bad).ejectedForMs);
    }
    assert.deepEqual(durations, [10_000, 20_000, 30_000, 35_000, 35_000]);
  });

  test('share cap: of 6 endpoints failing at once only one is ejected; of 2, never both; of 1, none', () => {
    for (const [n, failing, expected] of [
      [6, 6, 1],
      [2, 2, 1],
      [1, 1, 0],
      [30, 30, 3],
    ] as const) {
      const { b, keys, hit } = fleet(n);
      for (const k of keys.slice(0, failing)) for (let i = 0; i < 5; i++) if (b.snapshot(0).find((r) => r.key === k)!.ejection === 'none') hit(k, 'failure');
      assert.equal(b.ejectedCount, expected, `${n} endpoints`);
    }
  });

  test('when every endpoint not ejected leaves READY, the ejected ones come back at once (the set is never emptied)', () => {
    const { b, clock, keys, random, hit, row } = fleet(2);
    const [bad, good] = keys as [string, string];
    for (let i = 0; i < 5; i++) hit(bad, 'failure');
    assert.equal(row(bad).ejection, 'ejected');
    b.setReady(good, false, clock.now());
    const h = b.pick(clock.now(), random);
    assert.equal(h?.key, bad);
    assert.equal(row(bad).ejection, 'none');
  });

  test('no ejection when the peers fail too (a request slow everywhere, a fleet-wide outage): only removes capacity', () => {
    const { b, keys, hit } = fleet(3);
    for (let round = 0; round < 5; round++) for (const k of keys) hit(k, 'timeout');
    assert.equal(b.ejectedCount, 0);
    // Once the peers answer normally again, the streak of the one that still times out counts.
    hit(keys[1]!, 'success');
    hit(keys[2]!, 'success');
    hit(keys[0]!, 'timeout');
    assert.equal(b.ejectedCount, 1);
  });

  test('ejection: false never ejects', () => {
    const { b, keys, hit } = fleet(6, { ejection: false });
    for (let i = 0; i < 50; i++) hit(keys[0]!, 'failure');
    assert.equal(b.ejectedCount, 0);
  });

  test('a late answer of a call sent before the ejection changes nothing; removal of an ejected endpoint frees its share', () => {
    const { b, clock, keys, random, hit, row } = fleet(6);
    const bad = keys[0]!;
    const late = b.pick(clock.now(), random, new Set(keys.slice(1)))!;
    for (let i = 0; i < 5; i++) hit(bad, 'failure');
    late.release({ kind: 'success', latencyMs: 10 }, clock.now());
    assert.equal(row(bad).ejection, 'ejected');
    assert.equal(row(bad).inFlight, 0);
    b.update(keys.slice(1).map((_, i) => ep(i + 2)), clock.now());
    assert.equal(b.ejectedCount, 0);
    for (let i = 0; i < 5; i++) hit(keys[1]!, 'failure');
    assert.equal(b.ejectedCount, 1, 'the share is free again');
  });
});

describe('outlier ejection: interval rules', () => {
  const opts = resolveEjectionOptions({})!;
  const state = (calls: number, successes: number): EjectionState => ({
    ejection: 'none',
    ejectionReason: undefined,
    ejectedUntilMs: 0,
    ejections: 0,
    readmittedAtMs: Number.NEGATIVE_INFINITY,
    consecutiveFailures: 0,
    intervalCalls: calls,
    intervalSuccesses: successes,
    latencyFlagged: false,
  });

  test('success rate below mean - 1.9 stdev with >= 5 hosts of >= 100 calls; not with 4 hosts; counters reset', () => {
    const rows = [100, 100, 99, 100, 100, 100, 60].map((ok) => ({ s: state(100, ok), rttMs: 10 }));
    const out = evaluateInterval(rows, 10, opts);
    assert.deepEqual(
      out.map((x) => [rows.findIndex((r) => r.s === x.s), x.reason]),
      [[6, 'success-rate']],
    );
    assert.ok(rows.every((r) => r.s.intervalCalls === 0 && r.s.intervalSuccesses === 0));
    const few = [100, 100, 100, 60].map((ok) => ({ s: state(100, ok), rttMs: 10 }));
    assert.equal(evaluateInterval(few, 10, opts).length, 0, 'fewer than 5 hosts with volume');
    const low = [100, 100, 100, 100, 100, 60].map((ok, i) => ({ s: state(i === 5 ? 99 : 100, ok), rttMs: 10 }));
    assert.equal(evaluateInterval(low, 10, opts).length, 0, 'below the minimum volume');
  });

  test('latency: above 5 x the median at two evaluations in a row, while others answer', () => {
    const rows = [10, 10, 10, 10, 60].map((rtt) => ({ s: state(10, 10), rttMs: rtt }));
    assert.equal(evaluateInterval(rows, 10, opts).length, 0, 'first time flagged only');
    assert.equal(rows[4]!.s.latencyFlagged, true);
    for (const r of rows) r.s.intervalCalls = r.s.intervalSuccesses = 10;
    const out = evaluateInterval(rows, 10, opts);
    assert.deepEqual(
      out.map((x) => x.reason),
      ['latency'],
    );
    assert.equal(out[0]!.s, rows[4]!.s);
    // Not when it stops being slow in between, nor when it got no calls (a stale estimate is no evidence).
    const again = [10, 10, 10, 10, 60].map((rtt) => ({ s: state(10, 10), rttMs: rtt }));
    evaluateInterval(again, 10, opts);
    again[4]!.s.intervalCalls = 0;
    for (const r of again.slice(0, 4)) r.s.intervalCalls = 10;
    assert.equal(evaluateInterval(again, 10, opts).length, 0);
  });

  test('the balancer ejects a success-rate outlier at the end of an interval (failing every 3rd call, never 2 in a row)', () => {
    const { b, clock, keys, random, events, row } = fleet(6);
    const flaky = keys[0]!;
    let n = 0;
    for (let t = 0; t < 10_500; t += 10) {
      clock.advance(10);
      for (const k of keys) {
        const h = b.pick(clock.now(), random, new Set(keys.filter((x) => x !== k)))!;
        if (h.key !== k) {
          h.release({ kind: 'cancelled' }, clock.now());
          continue;
        }
        const fail = k === flaky && n++ % 3 === 2;
        h.release(fail ? { kind: 'failure' } : { kind: 'success', latencyMs: 10 }, clock.now());
      }
      if (row(flaky).ejection !== 'none') break;
    }
    assert.equal(row(flaky).ejectionReason, 'success-rate');
    assert.ok(clock.now() >= 10_000 && clock.now() < 10_100, `ejected at ${clock.now()} ms (first evaluation)`);
    assert.match(events[0]!.detail, /success rate \d+\.\d points below the set's mean - 1\.9 stdev over the last 10000 ms/);
  });

  test('the balancer ejects a latency outlier after two intervals, and says why', () => {
    const { b, clock, keys, random, events, row } = fleet(6);
    const slow = keys[0]!;
    // Every 10 ms one call to each endpoint (forced), the slow one answering in 80 ms: its estimate stays 8x.
    for (let t = 0; t < 25_000; t += 10) {
      clock.advance(10);
      for (const k of keys) {
        const h = b.pick(clock.now(), random, new Set(keys.filter((x) => x !== k)))!;
        if (h.key !== k) {
          h.release({ kind: 'cancelled' }, clock.now());
          continue;
        }
        h.release({ kind: 'success', latencyMs: k === slow ? 80 : 10 }, clock.now());
      }
      if (row(slow).ejection !== 'none') break;
    }
    assert.equal(row(slow).ejection, 'ejected');
    assert.equal(row(slow).ejectionReason, 'latency');
    assert.match(events[0]!.detail, /stayed above 5 x the set median \(10\.0 ms\) for two intervals/);
    assert.ok(clock.now() >= 20_000 && clock.now() < 20_100, `ejected at ${clock.now()} ms (second evaluation)`);
  });
});

describe('outlier ejection options', () => {
  test('maxEjected', () => {
    assert.deepEqual(
      [0, 1, 2, 6, 10, 19, 20, 100].map((n) => maxEjected(n, 10)),
      [0, 0, 1, 1, 1, 1, 2, 10],
    );
    assert.equal(maxEjected(6, 0), 0);
    assert.equal(maxEjected(6, 100), 5, 'never the last one');
  });

  test('bad options are errors naming the field', () => {
    assert.throws(() => createBalancer({ ejection: { consecutiveFailures: 0 } }), /ejection\.consecutiveFailures must be a number >= 1, got 0/);
    assert.throws(() => createBalancer({ ejection: { maxEjectedPercent: 120 } }), /ejection\.maxEjectedPercent must be <= 100/);
    assert.throws(() => createBalancer({ ejection: { baseEjectionMs: 5_000, maxEjectionMs: 1_000 } }), /maxEjectionMs \(1000\) must be >= baseEjectionMs \(5000\)/);
    assert.throws(() => createBalancer({ ejection: 'on' as never }), /ejection must be an object or false/);
    assert.throws(() => createBalancer({ onEjection: 1 as never }), /onEjection must be a function/);
  });

  test('an observer that throws never breaks a pick', () => {
    const { b, keys, hit } = fleet(6, {
      onEjection: () => {
        throw new Error('boom');
      },
    });
    for (let i = 0; i < 5; i++) hit(keys[0]!, 'failure');
    assert.equal(b.ejectedCount, 1);
  });
});
