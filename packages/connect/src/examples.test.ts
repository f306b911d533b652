// Runs the connect-node examples as a user would, each in its own process, loopback only:
// examples/frameworks/connect/main.mjs (ESM, import), examples/frameworks/connect/main.cjs (CommonJS, require),
// and the README's examples/readme/connect.ts. With FAIRWAY_TEST_FROM_DIST=1 they load the built dist of
// @fairway/connect (through import and through require respectively).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { childNodeArgs } from '@fairway/testing';

const root = new URL('../../..', import.meta.url).pathname;

function runExample(file: string): Record<string, unknown> {
  const r = spawnSync(process.execPath, [...childNodeArgs(), join(root, file)], {
    cwd: root,
    encoding: 'utf8',
    timeout: 80_000,
    env: { ...process.env, FAIRWAY_ZONE: '' },
  });
  assert.equal(r.status, 0, `${file} failed (status ${r.status}, signal ${r.signal}):\n${r.stderr}\n${r.stdout}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

function checkBalancingAndRetry(out: Record<string, unknown>, file: string): void {
  const share = out['share'] as Record<string, number>;
  const total = Object.values(share).reduce((a, b) => a + b, 0);
  assert.equal(total, 300, `${file}: every call answered`);
  assert.ok((share['c'] ?? 0) / total < 0.15, `${file}: the slow server c gets a small share: ${JSON.stringify(share)}`);
  const answeredBy = out['answeredBy'] as string[];
  assert.equal(answeredBy.length, 12);
  assert.deepEqual(answeredBy, Array(12).fill('c'), `${file}: the stalled servers a and b answer nothing`);
  // The first call's first attempt goes to a or b (c's estimate is 150 ms higher), times out and is retried on c.
  assert.ok((out['attemptsOnStalled'] as number) >= 1, `${file}: some attempt went to a stalled server and was retried elsewhere`);
}

test('examples/frameworks/connect/main.mjs (ESM): balancing, a retry after a timeout, a span per attempt', { timeout: 90_000 }, () => {
  const out = runExample('examples/frameworks/connect/main.mjs');
  checkBalancingAndRetry(out, 'main.mjs');
  assert.equal(out['callSpans'], 12, 'a span per call');
  assert.equal(out['attemptSpans'], 12 + (out['attemptsOnStalled'] as number), 'a span per attempt: one per call plus one per retried attempt');
});

test('examples/frameworks/connect/main.cjs (CommonJS, require): balancing and a retry after a timeout', { timeout: 90_000 }, () => {
  checkBalancingAndRetry(runExample('examples/frameworks/connect/main.cjs'), 'main.cjs');
});

test('README connect example (connect.ts): every call answered, the slow server gets a small share', { timeout: 90_000 }, () => {
  const out = runExample('examples/readme/connect.ts') as Record<string, number>;
  assert.equal(Object.values(out).reduce((a, b) => a + b, 0), 100);
  assert.ok((out['c'] ?? 0) < 15, JSON.stringify(out));
});
