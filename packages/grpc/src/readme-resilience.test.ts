// Runs the README's resilience examples (examples/readme/outlier-ejection.ts, slow-start.ts,
// adaptive-concurrency.ts) as a user would: each in its own process, loopback only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { childNodeArgs } from '@fairway/testing';

const root = new URL('../../..', import.meta.url).pathname;

function runExample(name: string): Record<string, unknown> {
  const file = join(root, 'examples', 'readme', name);
  const r = spawnSync(process.execPath, [...childNodeArgs(), file], { cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, FAIRWAY_ZONE: '' } });
  assert.equal(r.status, 0, `${name} failed (status ${r.status}, signal ${r.signal}):\n${r.stderr}\n${r.stdout}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

test('README outlier ejection example (outlier-ejection.ts): ejected after 2 failures, re-admitted by a probe once healed', { timeout: 70_000 }, () => {
  const out = runExample('outlier-ejection.ts') as { failedFirst: number; callsToAWhileFailing: number; callsToAAfterHealing: number; failedSecond: number; log: string[] };
  assert.ok(out.failedFirst >= 2 && out.failedFirst <= 10, `failed while "a" failed: ${out.failedFirst} of 104 (2+ in flight, maybe a failed probe)`);
  assert.equal(out.callsToAWhileFailing, out.failedFirst);
  assert.equal(out.failedSecond, 0);
  assert.ok(out.callsToAAfterHealing > 10, `"a" serves again: ${out.callsToAAfterHealing}`);
  assert.match(out.log[0]!, /^outlier ejection: 127\.0\.0\.1:\d+ ejected for 1000 ms \(ejection 1 in a row\): 2 failures or timeouts in a row$/);
  assert.ok(out.log.some((l) => /re-admitted: its re-admission probe answered$/.test(l)), out.log.join('\n'));
});

test('README slow start example (slow-start.ts): a newcomer ramps over the window; in a rollout against the oldest, lifted together', { timeout: 70_000 }, () => {
  const out = runExample('slow-start.ts') as { newcomer: string[]; rolloutRampsAlone: string[]; rollout: string[] };
  assert.deepEqual(out.newcomer, ['10.0.0.13:8080 33%']);
  assert.deepEqual(out.rolloutRampsAlone.sort(), ['10.0.0.2:8080 55%', '10.0.0.3:8080 10%']);
  // Lifted so that the oldest carries 1.1x a fair share: 3 / (1 + 0.909 + 0.818) = 1.1.
  assert.deepEqual(out.rollout.sort(), ['10.0.0.2:8080 91%', '10.0.0.3:8080 82%']);
});

test('README adaptive concurrency example (adaptive-concurrency.ts): 4 answered, 6 shed at once, never sent', { timeout: 70_000 }, () => {
  const out = runExample('adaptive-concurrency.ts') as { answered: number; shed: { code: number; details: string }[]; reachedTheServer: number };
  assert.equal(out.answered, 4);
  assert.equal(out.shed.length, 6);
  for (const s of out.shed) {
    assert.equal(s.code, 8, 'RESOURCE_EXHAUSTED');
    assert.match(s.details, /^Fairway adaptive concurrency limit reached: 4 calls in flight, limit 4/);
  }
  assert.equal(out.reachedTheServer, 4);
});
