// Runs the README resilience examples (examples/readme/hedging.ts, examples/readme/transparent-repicks.ts) as a
// user would: each in its own process, loopback only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { childNodeArgs } from '@fairway/testing';

const root = new URL('../../../..', import.meta.url).pathname;

function run(name: string): Record<string, number> {
  const r = spawnSync(process.execPath, [...childNodeArgs(), join(root, 'examples', 'readme', name)], {
    cwd: root,
    encoding: 'utf8',
    timeout: 80_000,
    env: { ...process.env, FAIRWAY_ZONE: '' },
  });
  assert.equal(r.status, 0, `${name} failed (status ${r.status}, signal ${r.signal}):\n${r.stderr}\n${r.stdout}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>;
}

test('README hedging example (hedging.ts): every call answered, the stalled server hedged, extra attempts within the 5 % budget', { timeout: 90_000 }, () => {
  const out = run('hedging.ts');
  assert.ok(out['calls']! >= 100, JSON.stringify(out));
  assert.equal(out['ok'], out['calls']);
  // "c" is picked within the measured second (p2c or its recovery probe), and its attempt is hedged unless jitter
  // hedges under load already took the budget: either way at least one extra attempt, never more than the budget
  // (5 % of the calls in the window, warm-up included, so the bound does not depend on the machine's speed).
  assert.ok(out['extraAttempts']! >= 1 && out['extraAttempts']! <= out['hedgeBudget']!, JSON.stringify(out));
});

test('README transparent re-picks example (transparent-repicks.ts): refused calls are re-picked, none fails', { timeout: 90_000 }, () => {
  const out = run('transparent-repicks.ts');
  assert.deepEqual({ calls: out['calls'], ok: out['ok'], servedByGood: out['servedByGood'] }, { calls: 50, ok: 50, servedByGood: 50 });
  assert.ok(out['repicks']! >= 1, JSON.stringify(out));
});
