// The rate-limited log with a fake clock: once per key per interval, held-back counts reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRateLimitedLog } from './rate-limited-log.js';

test('the same key is logged at most once per interval; other keys are independent', () => {
  let now = 0;
  const lines: string[] = [];
  const log = createRateLimitedLog({ info: (m) => lines.push(`i ${m}`), warn: (m) => lines.push(`w ${m}`), error: (m) => lines.push(`e ${m}`) }, 30_000, () => now);
  log.warn('bad:k1', 'key k1 is bad');
  log.warn('bad:k1', 'key k1 is bad');
  log.warn('bad:k2', 'key k2 is bad');
  now = 29_999;
  log.warn('bad:k1', 'key k1 is bad');
  assert.deepEqual(lines, ['w key k1 is bad', 'w key k2 is bad']);
  now = 30_000;
  log.warn('bad:k1', 'key k1 is bad');
  assert.equal(lines.at(-1), 'w key k1 is bad (2 similar message(s) held back)');
  log.error('x', 'boom');
  assert.equal(lines.at(-1), 'e boom');
});

test('a throwing logger never breaks the caller', () => {
  const log = createRateLimitedLog({ info() { throw new Error('x'); }, warn() { throw new Error('x'); }, error() { throw new Error('x'); } }, 0);
  assert.doesNotThrow(() => log.info('k', 'm'));
});
