import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSeededRandom } from '@fairway/testing';
import { CanaryController, resolveCanaryOptions, stickyFraction } from './index.js';

test('share: 10,000 seeded calls send the share to the canary within 2 percentage points (1 %, 10 %, 50 %)', () => {
  for (const share of [0.01, 0.1, 0.5]) {
    const c = new CanaryController(resolveCanaryOptions({ share }));
    const random = createSeededRandom(`canary-${share}`);
    let canary = 0;
    for (let i = 0; i < 10_000; i++) if (c.choose(random) === 'canary') canary++;
    // 2 points absolute: 2 % relative would be under one standard deviation at 10,000 calls (0.3 points at 10 %).
    assert.ok(Math.abs(canary / 10_000 - share) <= 0.02, `share ${share}: got ${canary / 10_000}`);
  }
  const none = new CanaryController(resolveCanaryOptions({ share: 0 }));
  assert.equal(none.choose(() => 0), 'stable', 'share 0 sends nothing');
});

test('stickiness: the same key always gets the same group, and keys split by the share', () => {
  const c = new CanaryController(resolveCanaryOptions({ share: 0.1, stickyHeader: 'x-user' }));
  const random = createSeededRandom(1);
  let canary = 0;
  for (let i = 0; i < 10_000; i++) {
    const key = `user-${i}`;
    const g = c.choose(random, key);
    for (let j = 0; j < 3; j++) assert.equal(c.choose(random, key), g, key);
    if (g === 'canary') canary++;
  }
  assert.ok(Math.abs(canary / 10_000 - 0.1) <= 0.02, `keys on the canary: ${canary / 10_000}`);
  assert.ok(stickyFraction('a') >= 0 && stickyFraction('a') < 1);
});

test('auto-halt on the error rate: only after both groups have enough calls in the window; then no canary calls', () => {
  const c = new CanaryController(resolveCanaryOptions({ share: 0.1, halt: { windowMs: 10_000, minCalls: 20, errorRateMargin: 0.05 } }));
  let now = 0;
  // Healthy for 20 s: no halt.
  for (; now < 20_000; now += 10) {
    assert.equal(c.record(now % 100 === 0 ? 'canary' : 'stable', true, 5, now), undefined);
  }
  assert.equal(c.halted, undefined);
  // The canary fails 40 % of its calls: halted within the window, with the reason.
  let halt;
  let i = 0;
  for (; now < 40_000 && halt === undefined; now += 10, i++) {
    halt = c.record(now % 100 === 0 ? 'canary' : 'stable', now % 100 !== 0 || i % 5 >= 2, 5, now);
  }
  assert.ok(halt, 'halted');
  assert.equal(halt.cause, 'error_rate');
  assert.ok(now - 20_000 <= 10_000, `within its window (${now - 20_000} ms)`);
  assert.match(halt.reason, /canary error rate \d+\.\d% vs stable 0\.0% over 10000ms \(margin 5\.0%\): canary halted/);
  assert.equal(c.choose(() => 0), 'stable', 'halted: no canary calls');
  c.resume();
  assert.equal(c.choose(() => 0), 'canary', 'resumed');
});

test('auto-halt on p99; a canary as good as stable, or with too few calls, is never halted', () => {
  const slow = new CanaryController(resolveCanaryOptions({ share: 0.5, halt: { windowMs: 5_000, minCalls: 20, p99Ratio: 2 } }));
  let halt;
  for (let now = 0; now < 10_000 && halt === undefined; now += 10) halt = slow.record(now % 20 === 0 ? 'canary' : 'stable', true, now % 20 === 0 ? 50 : 10, now);
  assert.equal(halt?.cause, 'p99');
  assert.match(halt!.reason, /canary p99 50\.0ms vs stable 10\.0ms over 5000ms \(limit 2x\)/);

  const same = new CanaryController(resolveCanaryOptions({ share: 0.5, halt: { windowMs: 5_000 } }));
  for (let now = 0; now < 60_000; now += 10) assert.equal(same.record(now % 20 === 0 ? 'canary' : 'stable', now % 70 !== 0, 10 + (now % 7), now), undefined);

  const few = new CanaryController(resolveCanaryOptions({ share: 0.5, halt: { windowMs: 5_000, minCalls: 20 } }));
  for (let now = 0; now < 60_000; now += 1000) assert.equal(few.record('canary', false, 10, now), undefined, 'stable has no calls: no verdict');

  const never = new CanaryController(resolveCanaryOptions({ share: 0.5, halt: false }));
  for (let now = 0; now < 60_000; now += 10) assert.equal(never.record(now % 20 === 0 ? 'canary' : 'stable', now % 20 !== 0, 10, now), undefined);
});

test('bad canary options name the field', () => {
  assert.throws(() => resolveCanaryOptions({ share: 1.5 }), /^RangeError: share must be a number from 0 to 1, got 1.5/);
  assert.throws(() => resolveCanaryOptions({ share: 0.1, halt: { windowMs: 5 } }), /halt\.windowMs must be a number of ms from 1000/);
  assert.throws(() => resolveCanaryOptions({ share: 0.1, halt: { p99Ratio: 1 } }), /halt\.p99Ratio must be a number above 1, got 1/);
  assert.throws(() => resolveCanaryOptions({ share: 0.1, stickyHeader: 'X-User' }), /stickyHeader must be a lower-case metadata key/);
});

test('a canary endpoint ejected for failing halts the canary at once (its later calls would count as stable)', () => {
  const c = new CanaryController(resolveCanaryOptions({ share: 0.2, halt: { windowMs: 2_000, minCalls: 20 } }));
  // 200 canary successes in the window, then 5 failures and the endpoint is ejected: the error rate alone
  // (5 / 205 = 2.4 %) stays under the 5 % margin, so only the ejection says the canary failed.
  let now = 0;
  for (let i = 0; i < 1_000; i++, now += 1) assert.equal(c.record(i % 5 === 0 ? 'canary' : 'stable', true, 2, now), undefined);
  for (let i = 0; i < 5; i++, now += 1) assert.equal(c.record('canary', false, 1, now), undefined);
  assert.equal(c.halted, undefined, 'the error rate alone does not halt it');
  const halt = c.haltForEjection('127.0.0.1:7001 ejected for 10000 ms (ejection 1 in a row): 5 failures or timeouts in a row', now);
  assert.ok(halt);
  assert.equal(halt.cause, 'ejection');
  assert.equal(halt.reason, 'canary endpoint ejected (127.0.0.1:7001 ejected for 10000 ms (ejection 1 in a row): 5 failures or timeouts in a row): canary halted');
  assert.equal(c.choose(() => 0), 'stable', 'halted: no canary calls');
  assert.equal(c.haltForEjection('again', now + 1), undefined, 'halted once');
  // Without halting configured, an ejection halts nothing.
  const free = new CanaryController(resolveCanaryOptions({ share: 0.2, halt: false }));
  assert.equal(free.haltForEjection('x', 0), undefined);
  assert.equal(free.choose(() => 0), 'canary');
});
