import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createFakeClock, createSeededRandom } from '@fairway/testing';
import { createBalancer, type Balancer, type EndpointInfo, type PickHandle } from './index.js';

const ep = (i: number, extra: Partial<EndpointInfo> = {}): EndpointInfo => ({ address: `10.0.0.${i}:50051`, instance: `i${i}`, ...extra });

function readyAll(b: Balancer, keys: readonly string[], nowMs = 0): void {
  for (const k of keys) b.setReady(k, true, nowMs);
}

/**
 * A closed loop on a fake clock: `concurrency` calls always in flight, each answering after `latencyMs` of
 * its endpoint. Returns how many calls each key got.
 */
function closedLoop(b: Balancer, calls: number, concurrency: number, latencyMs: (key: string) => number, seed: number): Map<string, number> {
  const clock = createFakeClock();
  const random = createSeededRandom(seed);
  const counts = new Map<string, number>();
  const inFlight: Array<{ h: PickHandle; endsAt: number }> = [];
  for (let started = 0; started < calls; ) {
    while (inFlight.length < concurrency && started < calls) {
      const h = b.pick(clock.now(), random)!;
      counts.set(h.key, (counts.get(h.key) ?? 0) + 1);
      inFlight.push({ h, endsAt: clock.now() + latencyMs(h.key) });
      started++;
    }
    inFlight.sort((x, y) => x.endsAt - y.endsAt);
    const next = inFlight.shift()!;
    clock.set(Math.max(clock.now(), next.endsAt));
    next.h.release({ kind: 'success', latencyMs: latencyMs(next.h.key) }, clock.now());
  }
  for (const f of inFlight) f.h.release({ kind: 'cancelled' }, clock.now());
  return counts;
}

describe('weights', () => {
  test('at equal latency under load, weight 3 takes about three times the calls of weight 1', () => {
    const b = createBalancer();
    const keys = b.update([ep(1, { weight: 3 }), ep(2), ep(3)], 0).added;
    readyAll(b, keys);
    const counts = closedLoop(b, 20_000, 20, () => 10, 7);
    const heavy = counts.get(keys[0]!)!;
    const light = (counts.get(keys[1]!)! + counts.get(keys[2]!)!) / 2;
    const ratio = heavy / light;
    assert.ok(ratio > 2.2 && ratio < 3.8, `weight 3 / weight 1 call ratio ${ratio.toFixed(2)} (${[...counts.values()]})`);
  });

  test('weight 0 drains: no new picks, calls in flight finish and are counted, weight > 0 brings it back', () => {
    const clock = createFakeClock();
    const b = createBalancer();
    const infos = [ep(1), ep(2), ep(3)];
    const keys = b.update(infos, 0).added;
    readyAll(b, keys);
    const random = createSeededRandom(3);
    const held = Array.from({ length: 30 }, () => b.pick(clock.now(), random)!);
    const onDrained = held.filter((h) => h.key === keys[0]);
    assert.ok(onDrained.length > 0, 'some calls are in flight on the endpoint about to drain');

    b.update([ep(1, { weight: 0 }), ep(2), ep(3)], clock.now());
    assert.equal(b.size, 3, 'a drained endpoint stays in the set');
    assert.equal(b.pickableCount, 2);
    const row = b.snapshot(clock.now()).find((s) => s.key === keys[0])!;
    assert.equal(row.pickable, false);
    assert.equal(row.ready, true, 'still connected');
    assert.equal(row.inFlight, onDrained.length, 'its calls in flight are still counted');
    for (let i = 0; i < 2_000; i++) {
      const h = b.pick(clock.now(), random)!;
      assert.notEqual(h.key, keys[0], 'no new call goes to a drained endpoint');
      h.release({ kind: 'success', latencyMs: 5 }, clock.now());
    }
    clock.advance(5);
    for (const h of held) h.release({ kind: 'success', latencyMs: 5 }, clock.now());
    const after = b.snapshot(clock.now()).find((s) => s.key === keys[0])!;
    assert.equal(after.inFlight, 0, 'calls in flight on the drained endpoint finished and were released');
    assert.equal(after.answered, true, 'their answers still teach its estimate');

    b.update(infos, clock.now());
    assert.equal(b.pickableCount, 3);
    const seen = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const h = b.pick(clock.now(), random)!;
      seen.add(h.key);
      h.release({ kind: 'success', latencyMs: 5 }, clock.now());
    }
    assert.ok(seen.has(keys[0]!), 'undrained, it is picked again');
  });

  test('every endpoint drained: no pick (the policy reports it), nothing thrown', () => {
    const b = createBalancer();
    const keys = b.update([ep(1, { weight: 0 }), ep(2, { weight: 0 })], 0).added;
    readyAll(b, keys);
    assert.equal(b.pickableCount, 0);
    assert.equal(b.pick(0, createSeededRandom(1)), undefined);
  });

  test('a drained endpoint that reconnects stays out of picks; zone groups stay consistent', () => {
    const b = createBalancer({ clientZone: 'a' });
    const keys = b.update([ep(1, { zone: 'a', weight: 0 }), ep(2, { zone: 'a' }), ep(3, { zone: 'b' })], 0).added;
    readyAll(b, keys);
    b.setReady(keys[0]!, false, 1);
    b.setReady(keys[0]!, true, 2);
    const random = createSeededRandom(4);
    for (let i = 0; i < 500; i++) {
      const h = b.pick(3, random)!;
      assert.notEqual(h.key, keys[0]);
      h.release({ kind: 'success', latencyMs: 1 }, 3);
    }
    // Undrain while moving zones: it joins the new zone's pool exactly once.
    b.update([ep(1, { zone: 'b', weight: 1 }), ep(2, { zone: 'a' }), ep(3, { zone: 'b' })], 4);
    assert.equal(b.pickableCount, 3);
    b.update([ep(1, { zone: 'b', weight: 0 }), ep(2, { zone: 'a' }), ep(3, { zone: 'b' })], 5);
    assert.equal(b.pickableCount, 2);
  });

  test('a removed drained endpoint with calls in flight: late releases change nothing', () => {
    const b = createBalancer();
    const keys = b.update([ep(1), ep(2)], 0).added;
    readyAll(b, keys);
    const random = createSeededRandom(5);
    const held = Array.from({ length: 10 }, () => b.pick(0, random)!);
    b.update([ep(1, { weight: 0 }), ep(2)], 1);
    b.update([ep(2)], 2);
    for (const h of held) h.release({ kind: 'success', latencyMs: 1 }, 3);
    assert.deepEqual(b.snapshot(3).map((s) => s.inFlight), [0]);
  });
});

describe('active health (setServing)', () => {
  test('NOT_SERVING leaves picks at once, SERVING brings it back with its state kept', () => {
    const b = createBalancer();
    const keys = b.update([ep(1), ep(2)], 0).added;
    readyAll(b, keys);
    const random = createSeededRandom(6);
    const inFlight = b.pick(0, random)!;
    b.setServing(inFlight.key, false, 1);
    assert.equal(b.pickableCount, 1);
    const row = b.snapshot(1).find((s) => s.key === inFlight.key)!;
    assert.equal(row.serving, false);
    assert.equal(row.inFlight, 1, 'the call already there finishes');
    for (let i = 0; i < 500; i++) {
      const h = b.pick(1, random)!;
      assert.notEqual(h.key, inFlight.key);
      h.release({ kind: 'success', latencyMs: 1 }, 1);
    }
    inFlight.release({ kind: 'success', latencyMs: 4 }, 2);
    b.setServing(inFlight.key, true, 3);
    assert.equal(b.pickableCount, 2);
    assert.equal(b.snapshot(3).find((s) => s.key === inFlight.key)!.answered, true);
    b.setServing('nobody#', false, 3); // unknown keys are ignored
  });

  test('not serving and not READY: it needs both back to be picked', () => {
    const b = createBalancer();
    const [k] = b.update([ep(1)], 0).added as [string];
    b.setServing(k, false, 0);
    b.setReady(k, true, 0);
    assert.equal(b.pick(0, createSeededRandom(1)), undefined);
    b.setServing(k, true, 1);
    assert.equal(b.pick(1, createSeededRandom(1))!.key, k);
  });
});
