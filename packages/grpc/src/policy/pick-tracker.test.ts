// Every counted pick is released exactly once: on its end, or by the sweep when it never started
// (a call cancelled between the pick and the stream's creation gets no callbacks from grpc-js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { Balancer } from '@fairway/core';
import { PickTracker } from './pick-tracker.js';
import { outcomeKindFor } from './outcome.js';
import { ATTEMPT_TIMEOUT_DETAILS_PREFIX, HEDGE_LOST_DETAILS_PREFIX } from '@fairway/core';

function recorder() {
  const releases: Array<{ kind: string; latencyMs?: number; at: number }> = [];
  return {
    releases,
    handle: { release: (o: { kind: string; latencyMs?: number }, at: number) => void releases.push({ ...o, at }) },
  };
}

test('an ended pick releases once with the latency from pick to end; repeats are ignored', () => {
  let now = 1_000;
  const tracker = new PickTracker(() => now, 2_000, 500);
  const r = recorder();
  const t = tracker.track(r.handle, 1_000, true);
  t.started();
  now = 1_012;
  t.ended(status.OK, '', now);
  t.ended(status.OK, '', now + 5);
  assert.deepEqual(r.releases, [{ kind: 'success', latencyMs: 12, at: 1_012 }]);
  tracker.close();
});

test('a pick that never starts is released as cancelled by the sweep, and its late callbacks are ignored', () => {
  let now = 0;
  const tracker = new PickTracker(() => now, 2_000, 500);
  const r = recorder();
  const t = tracker.track(r.handle, 0, true);
  assert.equal(tracker.sweep(1_999), 0);
  assert.equal(tracker.unstartedCount, 1);
  now = 2_000;
  assert.equal(tracker.sweep(now), 1);
  assert.equal(tracker.unstartedCount, 0);
  t.started();
  t.ended(status.OK, '', 3_000);
  assert.deepEqual(r.releases, [{ kind: 'cancelled', at: 2_000 }]);
  tracker.close();
});

test('a stream ending OK is a success without a latency sample; a timeout carries its latency', () => {
  const tracker = new PickTracker(() => 0, 2_000, 500);
  const a = recorder();
  const b = recorder();
  tracker.track(a.handle, 0, false).ended(status.OK, '', 60_000);
  tracker.track(b.handle, 0, true).ended(status.CANCELLED, `${ATTEMPT_TIMEOUT_DETAILS_PREFIX} attempt 1 after 200ms`, 200);
  assert.deepEqual(a.releases, [{ kind: 'success', at: 60_000 }]);
  assert.deepEqual(b.releases, [{ kind: 'timeout', latencyMs: 200, at: 200 }]);
  tracker.close();
});

test('status codes map to outcomes', () => {
  assert.equal(outcomeKindFor(status.OK), 'success');
  assert.equal(outcomeKindFor(status.NOT_FOUND), 'success');
  assert.equal(outcomeKindFor(status.UNAVAILABLE), 'failure');
  assert.equal(outcomeKindFor(status.RESOURCE_EXHAUSTED), 'failure');
  assert.equal(outcomeKindFor(status.INTERNAL), 'failure');
  assert.equal(outcomeKindFor(status.DEADLINE_EXCEEDED), 'timeout');
  assert.equal(outcomeKindFor(status.CANCELLED, 'Cancelled on client'), 'cancelled');
  // A hedge race lost: the endpoint had not answered within the hedge delay while another answered.
  assert.equal(outcomeKindFor(status.CANCELLED, `${HEDGE_LOST_DETAILS_PREFIX} attempt 2 answered first`), 'timeout');
});

test('with a real Balancer, in-flight returns to zero whatever path each pick took', () => {
  let now = 0;
  const balancer = new Balancer();
  balancer.update([{ address: '127.0.0.1:1' }, { address: '127.0.0.1:2' }], now);
  balancer.setReady('127.0.0.1:1#', true, now);
  balancer.setReady('127.0.0.1:2#', true, now);
  const tracker = new PickTracker(() => now, 1_000, 500);
  const tracked = [];
  let seed = 1;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  for (let i = 0; i < 100; i++) {
    const h = balancer.pick(now, random)!;
    tracked.push(tracker.track(h, now, true));
  }
  const inFlight = () => balancer.snapshot(now).reduce((s, e) => s + e.inFlight, 0);
  assert.equal(inFlight(), 100);
  tracked.forEach((t, i) => {
    if (i % 3 === 0) return; // never started: left to the sweep
    t.started();
    t.ended(i % 2 ? status.OK : status.UNAVAILABLE, '', now + 5);
    t.ended(status.OK, '', now + 6); // a second end is ignored
  });
  now = 1_000;
  tracker.sweep(now);
  assert.equal(inFlight(), 0);
  tracker.close();
});

test('unstarted picks leave the list in any order; the sweep releases exactly the old unstarted ones, close the rest', () => {
  let now = 0;
  const tracker = new PickTracker(() => now, 2_000, 500);
  const picks = Array.from({ length: 12 }, (_, i) => {
    const r = recorder();
    return { i, r, t: tracker.track(r.handle, i * 100, true) };
  });
  assert.equal(tracker.unstartedCount, 12);
  // Started out of order: the first, the last, and some in the middle (twice for one: a no-op).
  for (const i of [0, 11, 5, 6, 3]) picks[i]!.t.started();
  picks[5]!.t.started();
  assert.equal(tracker.unstartedCount, 7);
  // One ends without ever starting (grpc-js cancelled it after a stream was refused): out of the list too.
  picks[8]!.t.ended(status.CANCELLED, 'Cancelled on client', 900);
  assert.equal(tracker.unstartedCount, 6);
  // At 2,450 ms the picks made at 0-450 ms are old: of them 1, 2 and 4 never started.
  now = 2_450;
  assert.equal(tracker.sweep(now), 3);
  assert.deepEqual(
    picks.filter((p) => p.r.releases.some((x) => x.kind === 'cancelled' && x.at === 2_450)).map((p) => p.i),
    [1, 2, 4],
  );
  assert.equal(tracker.unstartedCount, 3); // 7, 9, 10
  tracker.close();
  assert.equal(tracker.unstartedCount, 0);
  for (const i of [7, 9, 10]) assert.deepEqual(picks[i]!.r.releases.map((x) => x.kind), ['cancelled']);
  // Started picks were never released by the tracker on its own; each pick released at most once.
  for (const i of [0, 11, 5, 6, 3]) assert.deepEqual(picks[i]!.r.releases, []);
  for (const p of picks) assert.ok(p.r.releases.length <= 1);
});
