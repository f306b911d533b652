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
  assert.equal(out['calls'], 300);
  assert.equal(out['ok'], 300);
  // 400 calls in the window (100 warm-up, 300 measured): the budget allows 20 hedges in all. The measured calls
  // last long enough that the stalled "c" is picked (by p2c, or by its recovery probe 250 ms after its last
  // answer); with 100 a loaded CI run once ended before either, and nothing needed a hedge.
  assert.ok(out['extraAttempts']! >= 1 && out['extraAttempts']! <= 20, JSON.stringify(out));
  assert.ok(out['slowestMs']! < 5_000, `no call waited for the stalled "c": ${JSON.stringify(out)}`);
});

test('README transparent re-picks example (transparent-repicks.ts): refused calls are re-picked, none fails', { timeout: 90_000 }, () => {
  const out = run('transparent-repicks.ts');
  assert.deepEqual({ calls: out['calls'], ok: out['ok'], servedByGood: out['servedByGood'] }, { calls: 50, ok: 50, servedByGood: 50 });
  assert.ok(out['repicks']! >= 1, JSON.stringify(out));
});
