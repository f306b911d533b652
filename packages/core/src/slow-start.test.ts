import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createFakeClock, createSeededRandom } from '@fairway/testing';
import { createBalancer, resolveSlowStartOptions, slowStartFactor, type EndpointInfo } from './index.js';

const ep = (i: number): EndpointInfo => ({ address: `10.0.0.${i}:50051` });

describe('slow start', () => {
  const o = resolveSlowStartOptions({})!;

  test('the factor ramps linearly from 10 % over the window against an old set', () => {
    assert.deepEqual(
      [0, 2_500, 5_000, 9_999, 10_000, 60_000].map((age) => Number(slowStartFactor(age, 3_600_000, o).toFixed(4))),
      [0.1, 0.325, 0.55, 0.9999, 1, 1],
    );
  });

  test('ranked by age: the ramp runs over the age of the oldest endpoint when that is shorter than the window', () => {
    // Every endpoint new (a full rollout, or a client that just started): the oldest always has weight 1 ...
    assert.equal(slowStartFactor(2_000, 2_000, o), 1);
    // ... and a younger one ramps against it: half the oldest's age is half-way up.
    assert.equal(slowStartFactor(1_000, 2_000, o), 0.55);
    // Endpoints that became READY milliseconds apart at start-up are all near 1 within a few hundred ms (and in
    // a balancer they do not ramp at all: see the next test).
    assert.ok(slowStartFactor(297, 300, o) > 0.99);
  });

  test('a client\'s first connections started together: READY within 1 s of the first, none ramps; a later one does', () => {
    const b = createBalancer({ ejection: false });
    const keys = b.update([ep(1), ep(2), ep(3), ep(4)], 0).added;
    // Connections up 3 ms, 40 ms and 900 ms after the first (a slow handshake): all started together.
    [1_000, 1_003, 1_040, 1_900].forEach((t, i) => b.setReady(keys[i]!, true, t));
    for (const at of [1_950, 5_000]) assert.deepEqual(b.snapshot(at).map((r) => r.slowStartFactor), [1, 1, 1, 1], `at ${at} ms`);
    const random = createSeededRandom(3);
    for (let i = 0; i < 50; i++) {
      const h = b.pick(2_000, random)!;
      assert.doesNotMatch(h.explanation.reason, /slow start/);
      h.release({ kind: 'success', latencyMs: 5 }, 2_000);
    }
    // One that becomes READY 1.5 s after the first is new to the set: it ramps against the oldest (age 2.5 s).
    const late = b.update([ep(1), ep(2), ep(3), ep(4), ep(5)], 2_500).added[0]!;
    b.setReady(late, true, 2_500);
    const row = (at: number) => b.snapshot(at).find((r) => r.key === late)!.slowStartFactor;
    assert.equal(row(2_500), 0.1);
    assert.ok(row(4_000) > 0.1 && row(4_000) < 1, `${row(4_000)}`);
    assert.equal(row(12_500), 1);
  });

  test('bad options name the field; false turns it off', () => {
    assert.throws(() => resolveSlowStartOptions({ windowMs: 0 }), /slowStart\.windowMs must be a positive finite number of ms, got 0/);
    assert.throws(() => resolveSlowStartOptions({ minWeightPercent: 0 }), /slowStart\.minWeightPercent must be in \(0, 100\], got 0/);
    assert.equal(resolveSlowStartOptions(false), undefined);
  });

  test('in the balancer: a newcomer to a warm set is chosen less while young, equally once warm; the snapshot shows the factor', () => {
    const clock = createFakeClock();
    const b = createBalancer({ ejection: false });
    const keys = b.update([ep(1), ep(2), ep(3)], 0).added;
    for (const k of keys) b.setReady(k, true, 0);
    const random = createSeededRandom(5);
    // 60 s of warm traffic, every call 10 ms, released at once.
    for (let t = 0; t < 60_000; t += 10) b.pick(clock.advance(10), random)!.release({ kind: 'success', latencyMs: 10 }, clock.now());
    const added = b.update([ep(1), ep(2), ep(3), ep(4)], clock.now()).added[0]!;
    b.setReady(added, true, clock.now());
    // Concurrency 4 held per step: each step picks 4 calls, then releases them, so in-flight counts matter.
    const shareOver = (ms: number): number => {
      let mine = 0;
      let all = 0;
      for (let t = 0; t < ms; t += 10) {
        clock.advance(10);
        const hs = [0, 1, 2, 3].map(() => b.pick(clock.now(), random)!);
        for (const h of hs) ((all += 1), (mine += h.key === added ? 1 : 0), h.release({ kind: 'success', latencyMs: 10 }, clock.now()));
      }
      return mine / all;
    };
    const row = () => b.snapshot(clock.now()).find((r) => r.key === added)!;
    assert.equal(row().slowStartFactor, 0.1);
    const first = shareOver(1_000);
    let explained = '';
    for (let i = 0; i < 200 && explained === ''; i++) {
      const h = b.pick(clock.now(), random)!;
      if (/slow start/.test(h.explanation.reason)) explained = h.explanation.reason;
      h.release({ kind: 'success', latencyMs: 10 }, clock.now());
    }
    assert.match(explained, /slow start \(cost \/ weight\): 10\.0\.0\.4:50051 at 19 % weight/);
    clock.advance(9_000);
    assert.equal(row().slowStartFactor, 1);
    const warm = shareOver(2_000);
    console.log(`newcomer share: first second ${(100 * first).toFixed(1)} %, warm ${(100 * warm).toFixed(1)} %`);
    assert.ok(first > 0 && first < 0.1, `first second: ${first} (its probe, then a small share)`);
    assert.ok(warm > 0.2, `warm: ${warm}`);
  });

  test('a full rollout (every endpoint replaced): the ramp runs against the new oldest, not against the window alone', () => {
    const b = createBalancer({ ejection: false });
    const old = b.update([ep(1), ep(2), ep(3)], 0).added;
    for (const k of old) b.setReady(k, true, 0);
    // All three replaced, the new ones READY at 60, 62 and 64 s; the old ones leave at 64 s.
    const all = [ep(1), ep(2), ep(3), ep(11), ep(12), ep(13)];
    const added = b.update(all, 60_000).added;
    added.forEach((k, i) => b.setReady(k, true, 60_000 + 2_000 * i));
    b.update([ep(11), ep(12), ep(13)], 64_000);
    const factors = () =>
      b
        .snapshot(66_000)
        .sort((x, y) => x.address.localeCompare(y.address))
        .map((r) => Number(r.slowStartFactor.toFixed(3)));
    // Oldest READY for 6 s: weight 1; the others ramp over 6 s (4/6 and 2/6 of it done), not over 10 s.
    assert.deepEqual(factors(), [1, 0.7, 0.4]);
  });
});
