import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createFakeTimers, type FakeTimers } from '../fake-clock.js';
import { createSeededRandom } from '../seeded-random.js';
import { createPod, PodFailingError, PodOverloadedError, PodStoppedError, type Pod, type PodOptions, type PodServed } from './pod-model.js';

/** A pod on fake timers, and a helper that sends a call at a given time and keeps its outcome. */
function setup(options: Omit<PodOptions, 'timers'>): { pod: Pod; clock: FakeTimers; at: (ms: number, signal?: AbortSignal) => Promise<PodServed> } {
  const clock = createFakeTimers();
  const pod = createPod({ ...options, timers: clock });
  const at = (ms: number, signal?: AbortSignal) => {
    clock.set(ms);
    const p = pod.serve(signal);
    p.catch(() => undefined);
    return p;
  };
  return { pod, clock, at };
}

test('FIFO with one slot: the queueing delay of a known arrival pattern, exactly', async () => {
  const { pod, clock, at } = setup({ slots: 1, serviceTime: { kind: 'fixed', ms: 10 } });
  // Three at once, one at 5 ms, one at 35 ms: served 0-10, 10-20, 20-30, 30-40, 40-50.
  const calls = [at(0), at(0), at(0), at(5), at(35)];
  // At 35 ms the 4th call (30-40) is in service and the 5th waits.
  assert.equal(pod.stats().inService, 1);
  assert.equal(pod.stats().queueLength, 1);
  clock.set(50);
  const served = await Promise.all(calls);
  assert.deepEqual(
    served.map((s) => s.queuedMs),
    [0, 10, 20, 25, 5],
  );
  assert.deepEqual(
    served.map((s) => s.serviceMs),
    [10, 10, 10, 10, 10],
  );
  const s = pod.stats();
  assert.equal(s.served, 5);
  assert.equal(s.maxQueueLength, 3, 'at 5 ms the 2nd, 3rd and 4th waited');
  assert.equal(s.queueDelayMs.mean, 12);
  assert.equal(s.queueDelayMs.max, 25);
  // Percentiles come from an HDR histogram (3 significant digits).
  assert.ok(Math.abs(s.queueDelayMs.p50 - 10) <= 0.01, `p50 ${s.queueDelayMs.p50}`);
  assert.ok(Math.abs(s.queueDelayMs.p99 - 25) <= 0.025, `p99 ${s.queueDelayMs.p99}`);
  assert.equal(s.utilization, 1, 'busy the whole 50 ms');
  assert.equal(s.capacityPerSec, 100);
});

test('timers that fire late (a busy event loop) delay replies but do not cost the pod capacity', async () => {
  const clock = createFakeTimers();
  // Every timer fires 5 ms after it is due; `fired` notes when.
  const fired: number[] = [];
  const late = {
    now: () => clock.now(),
    setTimeout: (fn: () => void, ms: number) => clock.setTimeout(() => (fired.push(clock.now()), fn()), ms + 5),
    clearTimeout: (h: unknown) => clock.clearTimeout(h),
  };
  const pod = createPod({ slots: 1, serviceTime: { kind: 'fixed', ms: 10 }, timers: late });
  const calls = [0, 1, 2].map(() => pod.serve());
  clock.set(14); // the first call's end (10) is due, its timer fires at 15
  assert.equal(pod.stats().utilization, 10 / 14, 'busy until its end, not until its late timer');
  clock.set(100);
  const served = await Promise.all(calls);
  // The model's schedule is 0-10, 10-20, 20-30 ...
  assert.deepEqual(served.map((s) => [s.queuedMs, s.serviceMs]), [[0, 10], [10, 10], [20, 10]]);
  // ... while each reply left 5 ms late (a late timer) and not later: lateness does not pile up.
  assert.deepEqual(fired, [15, 25, 35]);
  assert.equal(pod.stats().utilization, 0.3, '30 busy ms of 100');
});

test('a starved event loop that runs one late timer gets through the whole queue at the pod\'s capacity', async () => {
  const clock = createFakeTimers();
  let fired = 0;
  // The host is so busy that the first timer runs 90 ms late.
  const starved = {
    now: () => clock.now(),
    setTimeout: (fn: () => void, ms: number) => clock.setTimeout(() => (fired++, fn()), ms + 90),
    clearTimeout: (h: unknown) => clock.clearTimeout(h),
  };
  const pod = createPod({ slots: 1, serviceTime: { kind: 'fixed', ms: 10 }, timers: starved });
  const calls = [0, 1, 2, 3, 4].map(() => pod.serve());
  clock.set(100);
  // One timer ran; the four calls whose model end (20..50) had passed ended with it, in FIFO order.
  assert.equal(fired, 1);
  assert.equal(pod.stats().served, 5);
  assert.deepEqual(
    (await Promise.all(calls)).map((s) => s.queuedMs),
    [0, 10, 20, 30, 40],
  );
  assert.equal(pod.stats().utilization, 0.5);
});

test('two slots halve the queueing of the same pattern', async () => {
  const { clock, at } = setup({ slots: 2, serviceTime: { kind: 'fixed', ms: 10 } });
  const calls = [at(0), at(0), at(0), at(5), at(35)];
  clock.set(50);
  assert.deepEqual(
    (await Promise.all(calls)).map((s) => s.queuedMs),
    [0, 0, 10, 5, 0],
  );
});

test('a capacity cut stretches the calls already in service and the ones after, and lifting it speeds them up again', async () => {
  const { pod, clock, at } = setup({ slots: 1, serviceTime: { kind: 'fixed', ms: 10 } });
  const a = at(0);
  const b = at(0);
  clock.set(4);
  pod.setCapacityFactor(0.5); // a has 6 ms of work left: 12 ms at half capacity -> ends at 16
  assert.equal(pod.stats().capacityPerSec, 50);
  assert.equal(pod.stats().capacityFactor, 0.5);
  clock.set(15);
  assert.equal(pod.stats().served, 0, 'a is not done at 15 ms');
  clock.set(16);
  assert.deepEqual(await a, { queuedMs: 0, serviceMs: 16 });
  // b starts at 16 at half capacity (20 ms); at 26 it has 5 ms of work left, at full capacity again -> ends at 31.
  clock.set(26);
  pod.setCapacityFactor(1);
  clock.set(31);
  assert.deepEqual(await b, { queuedMs: 16, serviceMs: 15 });
  assert.throws(() => pod.setCapacityFactor(0), /capacity factor must be a number with 0 < factor <= 1, got 0/);
  assert.throws(() => pod.setCapacityFactor(1.5), /got 1.5/);
});

test('a stop-the-world pause holds the calls in service and keeps waiting calls out of free slots', async () => {
  const { pod, clock, at } = setup({ slots: 2, serviceTime: { kind: 'fixed', ms: 10 }, pause: { everyMs: 100, pauseMs: 30 } });
  const a = at(95); // 5 ms of work before the pause at 100, the rest after it ends at 130 -> done at 135
  clock.set(110);
  assert.equal(pod.stats().paused, true);
  const b = at(110); // a slot is free, but nothing runs during the pause: waits until 130, done at 140
  assert.equal(pod.stats().queueLength, 1);
  clock.set(130);
  assert.equal(pod.stats().paused, false);
  clock.set(140);
  assert.deepEqual(await a, { queuedMs: 0, serviceMs: 40 });
  assert.deepEqual(await b, { queuedMs: 20, serviceMs: 10 });
  // The next pause starts 100 ms after the previous one began.
  clock.set(199);
  assert.equal(pod.stats().paused, false);
  clock.set(200);
  assert.equal(pod.stats().paused, true);
  pod.stop();
  assert.equal(pod.stats().paused, false, 'stop ends a pause');
  assert.equal(clock.pending(), 0, 'stop leaves no timer behind');
});

test('a cold start makes the first calls slower', async () => {
  const { clock, at } = setup({ slots: 1, serviceTime: { kind: 'fixed', ms: 10 }, coldStart: { calls: 2, factor: 3 } });
  const calls = [at(0), at(0), at(0), at(0)];
  clock.set(100);
  assert.deepEqual(
    (await Promise.all(calls)).map((s) => [s.queuedMs, s.serviceMs]),
    [
      [0, 30],
      [30, 30],
      [60, 10],
      [70, 10],
    ],
  );
});

test('a queue bound refuses the call beyond it with PodOverloadedError, and a freed place is taken again', async () => {
  const { pod, clock, at } = setup({ slots: 1, serviceTime: { kind: 'fixed', ms: 10 }, queueBound: 2 });
  const ok = [at(0), at(0), at(0)]; // one in service, two waiting
  await assert.rejects(at(0), (e: unknown) => e instanceof PodOverloadedError && e.queueBound === 2 && /2 calls already waiting/.test(e.message));
  assert.equal(pod.stats().rejected, 1);
  clock.set(10); // the first is done, one waiting call got its slot: one place free
  ok.push(at(10));
  await assert.rejects(at(10), PodOverloadedError);
  clock.set(40);
  assert.deepEqual(
    (await Promise.all(ok)).map((s) => s.queuedMs),
    [0, 10, 20, 20],
  );
  assert.equal(pod.stats().rejected, 2);
  assert.equal(pod.stats().served, 4);
});

test('an aborted call frees its queue place or its slot at once', async () => {
  const { pod, clock, at } = setup({ slots: 1, serviceTime: { kind: 'fixed', ms: 10 }, queueBound: 1 });
  const running = new AbortController();
  const waiting = new AbortController();
  const a = at(0, running.signal);
  const b = at(0, waiting.signal);
  await assert.rejects(at(0), PodOverloadedError);
  clock.set(2);
  waiting.abort(new Error('client cancelled b'));
  await assert.rejects(b, /client cancelled b/);
  assert.equal(pod.stats().queueLength, 0);
  const c = at(3); // takes b's queue place
  clock.set(4);
  running.abort(new Error('client cancelled a'));
  await assert.rejects(a, /client cancelled a/);
  // a's slot went to c at 4 ms.
  clock.set(14);
  assert.deepEqual(await c, { queuedMs: 1, serviceMs: 10 });
  const s = pod.stats();
  assert.equal(s.aborted, 2);
  assert.equal(s.served, 1);
  assert.equal(clock.pending(), 0, 'no timer left for the aborted call');
  // A signal aborted before the call is refused at once.
  await assert.rejects(at(14, AbortSignal.abort(new Error('already'))), /already/);
});

test('utilization is occupied slot-time over slots x elapsed, per stats window', async () => {
  const { pod, clock, at } = setup({ slots: 2, serviceTime: { kind: 'fixed', ms: 10 } });
  const a = at(0);
  clock.set(20);
  await a;
  assert.equal(pod.stats().utilization, 0.25); // 10 of 2 x 20 slot-ms
  assert.equal(pod.stats().windowMs, 20);
  pod.resetStats();
  const calls = [at(20), at(20), at(20)];
  clock.set(40);
  await Promise.all(calls);
  const s = pod.stats();
  assert.equal(s.utilization, 0.75); // 30 of 2 x 20 slot-ms
  assert.equal(s.served, 3);
  assert.equal(s.queueDelayMs.max, 10);
});

test('service times: seeded draws are reproducible and have the asked mean and a tail', async () => {
  const draws = async (serviceTime: PodOptions['serviceTime'], seed: number) => {
    const clock = createFakeTimers();
    const pod = createPod({ slots: Infinity, serviceTime, random: createSeededRandom(seed), timers: clock });
    const calls = Array.from({ length: 2000 }, () => pod.serve());
    clock.advance(60_000);
    const ms = (await Promise.all(calls)).map((s) => s.serviceMs).sort((x, y) => x - y);
    assert.equal(pod.stats().queueDelayMs.max, 0, 'unlimited slots: nobody waits');
    assert.equal(pod.stats().utilization, 0);
    return { mean: ms.reduce((x, y) => x + y, 0) / ms.length, p99: ms[Math.floor(ms.length * 0.99)]!, all: ms };
  };
  const logn = await draws({ kind: 'lognormal', meanMs: 20, sigma: 0.5 }, 7);
  assert.ok(Math.abs(logn.mean - 20) < 1, `log-normal mean ${logn.mean}`);
  assert.ok(logn.p99 > 2.2 * 20 && logn.p99 < 3.5 * 20, `log-normal p99 ${logn.p99} (expected about 2.8 x mean)`);
  const expo = await draws({ kind: 'exponential', meanMs: 20 }, 7);
  assert.ok(Math.abs(expo.mean - 20) < 1.5, `exponential mean ${expo.mean}`);
  assert.ok(expo.p99 > 3.5 * 20, `exponential p99 ${expo.p99} (expected about 4.6 x mean)`);
  const uni = await draws({ kind: 'uniform', minMs: 5, maxMs: 15 }, 7);
  assert.ok(uni.all[0]! >= 5 && uni.all.at(-1)! <= 15 && Math.abs(uni.mean - 10) < 0.5);
  assert.deepEqual((await draws({ kind: 'lognormal', meanMs: 20, sigma: 0.5 }, 7)).all, logn.all, 'same seed, same draws');
});

test('zero service time completes without a timer; setServiceTime applies to later calls', async () => {
  const { pod, clock, at } = setup({ slots: 1, serviceTime: { kind: 'fixed', ms: 0 } });
  assert.deepEqual(await at(0), { queuedMs: 0, serviceMs: 0 });
  assert.equal(clock.pending(), 0);
  assert.equal(pod.stats().capacityPerSec, Infinity);
  pod.setServiceTime({ kind: 'fixed', ms: 7 });
  const b = at(0);
  clock.set(7);
  assert.deepEqual(await b, { queuedMs: 0, serviceMs: 7 });
  assert.throws(() => pod.setServiceTime({ kind: 'fixed', ms: -1 }), /setServiceTime: fixed service time needs ms/);
});

test('per-call extra work holds the slot longer', async () => {
  const clock = createFakeTimers();
  const pod = createPod({ slots: 1, serviceTime: { kind: 'fixed', ms: 10 }, timers: clock });
  const a = pod.serve(undefined, { extraServiceMs: 5 });
  const b = pod.serve();
  clock.set(30);
  assert.deepEqual(await a, { queuedMs: 0, serviceMs: 15 });
  assert.deepEqual(await b, { queuedMs: 15, serviceMs: 10 });
  await assert.rejects(pod.serve(undefined, { extraServiceMs: Number.NaN }), /extraServiceMs must be a finite number >= 0, got NaN/);
});

test('stop rejects waiting and later calls and lets calls in service finish', async () => {
  const { pod, clock, at } = setup({ slots: 1, serviceTime: { kind: 'fixed', ms: 10 } });
  const a = at(0);
  const b = at(0);
  pod.stop();
  await assert.rejects(b, PodStoppedError);
  await assert.rejects(at(1), /pod stopped/);
  clock.set(10);
  assert.deepEqual(await a, { queuedMs: 0, serviceMs: 10 });
});

test('bad options are refused with an error naming the field', () => {
  const base = { slots: 1, serviceTime: { kind: 'fixed', ms: 1 } } as const;
  assert.throws(() => createPod({ ...base, slots: 0 }), /slots must be an integer >= 1 or Infinity, got 0/);
  assert.throws(() => createPod({ ...base, slots: 1.5 }), /slots must be .* got 1.5/);
  assert.throws(() => createPod({ ...base, serviceTime: { kind: 'exponential', meanMs: 0 } }), /exponential service time needs meanMs/);
  assert.throws(() => createPod({ ...base, serviceTime: { kind: 'lognormal', meanMs: 10, sigma: -1 } }), /sigma between 0 and 5/);
  assert.throws(() => createPod({ ...base, serviceTime: { kind: 'uniform', minMs: 5, maxMs: 1 } }), /0 <= minMs <= maxMs/);
  assert.throws(() => createPod({ ...base, serviceTime: { kind: 'gamma' } as never }), /unknown kind/);
  assert.throws(() => createPod({ ...base, queueBound: -1 }), /queueBound must be an integer >= 0, got -1/);
  assert.throws(() => createPod({ ...base, pause: { everyMs: 10, pauseMs: 10 } }), /0 < pauseMs < everyMs/);
  assert.throws(() => createPod({ ...base, coldStart: { calls: -2, factor: 3 } }), /coldStart needs calls/);
});

test('fail-fast mode: calls are refused with the code at once or after afterMs, take no slot, and the pod serves again when it ends', async () => {
  const { pod, clock, at } = setup({ slots: 1, serviceTime: { kind: 'fixed', ms: 10 } });
  const busy = at(0); // admitted before the failure: served as usual
  pod.setFailing({ code: 'UNAVAILABLE' });
  const refused = at(1);
  await assert.rejects(refused, (e: unknown) => e instanceof PodFailingError && e.code === 'UNAVAILABLE');
  assert.equal(pod.stats().queueLength, 0, 'a refused call takes no queue place');
  pod.setFailing({ code: 'INTERNAL', afterMs: 3 });
  let settled = false;
  const late = at(2);
  late.then(() => (settled = true), () => (settled = true));
  clock.set(4);
  await Promise.resolve();
  assert.equal(settled, false, 'not before afterMs');
  clock.set(5);
  await assert.rejects(late, (e: unknown) => e instanceof PodFailingError && e.code === 'INTERNAL');
  pod.setFailing(undefined);
  const again = at(6);
  clock.set(30);
  assert.deepEqual(await busy, { queuedMs: 0, serviceMs: 10 });
  assert.deepEqual(await again, { queuedMs: 4, serviceMs: 10 });
  const s = pod.stats();
  assert.equal(s.failed, 2);
  assert.equal(s.served, 2);
  pod.resetStats();
  assert.equal(pod.stats().failed, 0);
});

test('fail-fast mode from the options, and bad failures are refused naming the field', async () => {
  const { at } = setup({ slots: 1, serviceTime: { kind: 'fixed', ms: 10 }, failing: { code: 'INTERNAL' } });
  await assert.rejects(at(0), PodFailingError);
  const { pod } = setup({ slots: 1, serviceTime: { kind: 'fixed', ms: 10 } });
  assert.throws(() => pod.setFailing({ code: 'NOT_FOUND' as 'INTERNAL' }), /Pod.setFailing: expected \{ code/);
  assert.throws(() => pod.setFailing({ code: 'UNAVAILABLE', afterMs: -1 }), /afterMs must be a finite number >= 0/);
  assert.throws(() => createPod({ slots: 1, serviceTime: { kind: 'fixed', ms: 1 }, failing: { code: 'x' as 'INTERNAL' } }), /createPod: failing/);
});
