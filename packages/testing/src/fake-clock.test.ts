import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createFakeClock } from './fake-clock.js';

test('a fake clock moves only when told to', () => {
  const clock = createFakeClock(100);
  assert.equal(clock.now(), 100);
  assert.equal(clock.advance(25), 125);
  assert.equal(clock.now(), 125);
  assert.equal(clock.set(200), 200);
  assert.equal(createFakeClock().now(), 0);
});

test('a fake clock refuses to go back or take bad input, naming the problem', () => {
  const clock = createFakeClock(10);
  assert.throws(() => clock.advance(-1), /advance: ms must be a finite number >= 0, got -1/);
  assert.throws(() => clock.advance(Number.NaN), /got NaN/);
  assert.throws(() => clock.set(5), /not before now \(10\)/);
  assert.throws(() => createFakeClock(Number.POSITIVE_INFINITY), /startMs must be a finite number/);
  assert.equal(clock.now(), 10);
});
