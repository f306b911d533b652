/**
 * Affinity by key with bounded load: the ring alone (ownership, movement on a set change, a restarted instance
 * getting its keys back) and the Balancer's `pickByKey` in a seeded closed-loop simulation with a Zipf-skewed key
 * stream: max/mean calls per endpoint <= 1.25 with the bound, > 3 without it.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSeededRandom } from '@fairway/testing';
import { createAffinityRing, createBalancer, type EndpointInfo } from './index.js';
import { runClosedLoop } from './test-support/closed-loop.js';

const ring = (ids: readonly string[], epsilon?: number) =>
  createAffinityRing(
    ids.map((id) => ({ key: `key-of-${id}`, identity: id })),
    epsilon === undefined ? {} : { epsilon },
  );

/** A Zipf(s) sampler over `n` keys, `user-0` the hottest. */
function zipf(n: number, s: number, random: () => number): () => string {
  const cdf: number[] = [];
  let acc = 0;
  let total = 0;
  for (let i = 1; i <= n; i++) total += 1 / Math.pow(i, s);
  for (let i = 1; i <= n; i++) cdf.push((acc += 1 / Math.pow(i, s) / total));
  return () => {
    const u = random();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return `user-${lo}`;
  };
}

describe('affinity ring', () => {
  test('at a low load the bound is minBound (4): a key\'s few concurrent calls stay on its owner', () => {
    const r = ring(['a', 'b', 'c', 'd']);
    const owner = r.owner('p')!;
    assert.equal(r.route('p', (k) => (k === owner ? 3 : 0), 3), owner, '3 in flight on the owner, the 4th still goes there');
    assert.notEqual(r.route('p', (k) => (k === owner ? 4 : 0), 4), owner, 'a 5th does not');
  });

  test('rejects bad options, naming them', () => {
    assert.throws(() => createAffinityRing([], { epsilon: 0 }), /epsilon must be > 0, got 0/);
    assert.throws(() => createAffinityRing([], { virtualNodes: 1.5 }), /virtualNodes/);
    assert.equal(createAffinityRing([]).route('k', () => 0, 0), undefined);
  });

  test('about 1/n of the keys move when an endpoint joins, and only to it', () => {
    const ids = Array.from({ length: 20 }, (_, i) => `pricer-${i}`);
    const before = ring(ids);
    const after = ring([...ids, 'pricer-20']);
    let moved = 0;
    for (let k = 0; k < 20_000; k++) {
      const a = before.owner(`user-${k}`);
      const b = after.owner(`user-${k}`);
      if (a !== b) {
        moved++;
        assert.equal(b, 'key-of-pricer-20', 'a key that moves moves to the newcomer');
      }
    }
    const share = moved / 20_000;
    assert.ok(share > 0.5 / 21 && share < 1.5 / 21, `moved ${share}, expected about 1/21`);
  });

  test('the load bound sends a key on to the next endpoint clockwise, and only then', () => {
    const r = ring(['a', 'b', 'c', 'd']);
    const owner = r.owner('hot')!;
    assert.equal(r.route('hot', () => 0, 0), owner);
    // 8 calls in flight, all on the owner: the cap is max(4, floor(1.25 x 9 / 4)) = 4, so the owner (8) is over it.
    const next = r.route('hot', (k) => (k === owner ? 8 : 0), 8);
    assert.notEqual(next, owner);
    assert.equal(r.route('hot', (k) => (k === owner ? 8 : 0), 8, (k) => k !== next), r.route('hot', (k) => (k === owner || k === next ? 8 : 0), 16));
  });
});

describe('Balancer.pickByKey', () => {
  function fleet(n: number, epsilon?: number) {
    const b = createBalancer(epsilon === undefined ? {} : { affinity: { epsilon } });
    const eps: EndpointInfo[] = Array.from({ length: n }, (_, i) => ({ address: `10.0.0.${i + 1}:50051`, instance: `pricer-${i}`, incarnation: '1' }));
    for (const k of b.update(eps, 0).added) b.setReady(k, true, 0);
    return { b, eps };
  }

  test('a restarted instance (new incarnation, same instance) gets its keys back', () => {
    const { b, eps } = fleet(10);
    const owners = new Map<string, string>();
    for (let k = 0; k < 200; k++) {
      const h = b.pickByKey(`user-${k}`, 0)!;
      owners.set(`user-${k}`, h.explanation.instance!);
      h.release({ kind: 'success', latencyMs: 1 }, 1);
    }
    const restarted = eps.map((e) => (e.instance === 'pricer-3' ? { ...e, address: '10.0.1.99:50051', incarnation: '2' } : e));
    const r = b.update(restarted, 10);
    assert.equal(r.added.length, 1);
    b.setReady(r.added[0]!, true, 10);
    for (const [key, instance] of owners) {
      const h = b.pickByKey(key, 20)!;
      assert.equal(h.explanation.instance, instance, `${key} moved`);
      if (instance === 'pricer-3') assert.equal(h.explanation.address, '10.0.1.99:50051', 'the new incarnation serves it');
      h.release({ kind: 'success', latencyMs: 1 }, 21);
    }
  });

  test('the explanation of a pick by key gives the figures at the pick, however late it is read', () => {
    const AFFINITY_OWNER = "affinity: the owner of the call's key on the consistent-hash ring";
    const { b } = fleet(3);
    // Warm the owner of user-1 (an answer at t = 0).
    const warm = b.pickByKey('user-1', 0)!;
    warm.release({ kind: 'success', latencyMs: 4 }, 0);
    const rtt = b.snapshot(1_000).find((r) => r.key === warm.key)!.rttEstimateMs!; // decayed to t = 1 s
    const a = b.pickByKey('user-1', 1_000)!; // nothing in flight
    const other = b.pickByKey('user-1', 1_000)!; // a second call to the same owner, counted after a
    assert.equal(other.key, a.key);
    // The owner's estimate moves (a slow answer replaces it) before a's explanation is first read.
    other.release({ kind: 'success', latencyMs: 40 }, 1_001);
    assert.ok(rtt > 1 && rtt < 30, `a warm estimate: ${rtt}`);
    assert.equal(a.explanation.reason, `${AFFINITY_OWNER}: ${a.explanation.address} cost=${rtt.toFixed(1)}ms (rtt=${rtt.toFixed(1)}ms x 1)`);
    const rtt2 = b.snapshot(1_002).find((r) => r.key === warm.key)!.rttEstimateMs!;
    assert.ok(rtt2 > rtt, `the slow answer raised the estimate: ${rtt} -> ${rtt2}`);
    const b2 = b.pickByKey('user-1', 1_002)!; // a is still in flight: x 2
    assert.ok(b2.explanation.reason.endsWith(`cost=${(2 * rtt2).toFixed(1)}ms (rtt=${rtt2.toFixed(1)}ms x 2)`), b2.explanation.reason);
    a.release({ kind: 'success', latencyMs: 4 }, 1_003);
    b2.release({ kind: 'success', latencyMs: 4 }, 1_003);
  });

  test('keys avoid endpoints already tried and endpoints not READY', () => {
    const { b } = fleet(3);
    const first = b.pickByKey('user-1', 0)!;
    const second = b.pickByKey('user-1', 0, new Set([first.key]))!;
    assert.notEqual(second.key, first.key);
    assert.match(second.explanation.reason, /next endpoint clockwise/);
    b.setReady(first.key, false, 1);
    assert.notEqual(b.pickByKey('user-1', 2)!.key, first.key);
  });

  for (const [label, epsilon, check] of [
    ['bounded (epsilon 0.25): max/mean <= 1.25', 0.25, (r: number) => r <= 1.25],
    ['unbounded ring: max/mean > 3', Infinity, (r: number) => r > 3],
  ] as const) {
    test(`Zipf(1.1) keys over 10,000 users, 20 endpoints, 200 in flight, 200,000 calls: ${label}`, () => {
      const { b } = fleet(20, epsilon);
      const random = createSeededRandom(1810);
      const nextKey = zipf(10_000, 1.1, random);
      const res = runClosedLoop({
        balancer: b,
        random,
        picks: 200_000,
        concurrency: () => 200,
        latencyMs: () => 5 + 10 * random(),
        pick: (now) => b.pickByKey(nextKey(), now),
      });
      const counts = [...res.picks.values()];
      const ratio = Math.max(...counts) / (200_000 / 20);
      console.log(`affinity ${label}: max/mean calls per endpoint ${ratio.toFixed(3)}`);
      assert.equal(res.failedPicks, 0);
      assert.ok(check(ratio), `max/mean ${ratio}`);
    });
  }
});
