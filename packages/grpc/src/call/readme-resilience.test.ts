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

test('README hedging example (hedging.ts): every call answered, extra attempts within the 5 % budget', { timeout: 90_000 }, () => {
  const out = run('hedging.ts');
  assert.equal(out['calls'], 100);
  assert.equal(out['ok'], 100);
  // 200 calls in the window (100 warm-up, 100 measured): the budget allows 10 hedges in all.
  assert.ok(out['extraAttempts']! >= 1 && out['extraAttempts']! <= 10, JSON.stringify(out));
});

test('README transparent re-picks example (transparent-repicks.ts): refused calls are re-picked, none fails', { timeout: 90_000 }, () => {
  const out = run('transparent-repicks.ts');
  assert.deepEqual({ calls: out['calls'], ok: out['ok'], servedByGood: out['servedByGood'] }, { calls: 50, ok: 50, servedByGood: 50 });
  assert.ok(out['repicks']! >= 1, JSON.stringify(out));
});
