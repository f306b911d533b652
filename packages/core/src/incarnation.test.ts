import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSeededRandom } from '@fairway/testing';
import { compareIncarnations, incarnationStartMs, newIncarnation } from './incarnation.js';

test('newIncarnation is <start ms>-<4 hex digits>', () => {
  const random = createSeededRandom(7);
  const a = newIncarnation(1764032400123, random);
  assert.match(a, /^1764032400123-[0-9a-f]{4}$/);
  assert.equal(incarnationStartMs(a), 1764032400123);
  assert.equal(newIncarnation(5.9, () => 0), '5-0000');
  assert.equal(newIncarnation(5, () => 0.99999999), '5-ffff');
  assert.throws(() => newIncarnation(Number.NaN, () => 0), /nowMs must be a finite time/);
});

test('incarnations order by start time, then by the whole string; unordered without a timestamp', () => {
  assert.equal(compareIncarnations('1764032400123-4f1c', '1764032400123-4f1c'), 0);
  assert.ok(compareIncarnations('1764032400123-ffff', '1764032400124-0000')! < 0);
  assert.ok(compareIncarnations('900-0000', '1000-0000')! < 0, 'numeric, not lexical');
  assert.ok(compareIncarnations('1000-0001', '1000-0000')! > 0);
  assert.equal(compareIncarnations('1000-0000', '6b7f2a40-uid'), undefined);
  assert.equal(compareIncarnations('pod-uid-a', 'pod-uid-b'), undefined);
  assert.equal(incarnationStartMs('pod-uid'), undefined);
});
