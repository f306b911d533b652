import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createFakeClock, createFakeTimers } from './fake-clock.js';

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

test('fake timers run due timers in order, each at its own time, including ones they schedule', () => {
  const timers = createFakeTimers(0);
  const log: string[] = [];
  timers.setTimeout(() => log.push(`b@${timers.now()}`), 20);
  timers.setTimeout(() => {
    log.push(`a@${timers.now()}`);
    timers.setTimeout(() => log.push(`c@${timers.now()}`), 5);
  }, 10);
  const dropped = timers.setTimeout(() => log.push('never'), 12);
  timers.clearTimeout(dropped);
  timers.setTimeout(() => log.push(`same@${timers.now()}`), 20);
  assert.equal(timers.advance(9), 9);
  assert.deepEqual(log, []);
  assert.equal(timers.advance(21), 30);
  assert.deepEqual(log, ['a@10', 'c@15', 'b@20', 'same@20']);
  assert.equal(timers.pending(), 0);
  assert.throws(() => timers.advance(-1), /FakeTimers.advance: ms must be a finite number >= 0, got -1/);
});
