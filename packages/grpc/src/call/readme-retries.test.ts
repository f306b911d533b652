// Runs the README retries example (examples/readme/retries.ts) as a user would: its own process, loopback only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { childNodeArgs } from '@fairway/testing';

const root = new URL('../../../..', import.meta.url).pathname;

test('README retries example (retries.ts): a stalled server costs no call; UNAVAILABLE is not retried', { timeout: 90_000 }, () => {
  const file = join(root, 'examples', 'readme', 'retries.ts');
  const r = spawnSync(process.execPath, [...childNodeArgs(), file], {
    cwd: root,
    encoding: 'utf8',
    timeout: 80_000,
    env: { ...process.env, FAIRWAY_ZONE: '' },
  });
  assert.equal(r.status, 0, `retries.ts failed (status ${r.status}, signal ${r.signal}):\n${r.stderr}\n${r.stdout}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
    answers: Array<{ code: number; server?: string; details?: string }>;
    stalledAttempts: number;
    unavailable: { code: number; details: string };
    attemptsForUnavailable: number;
  };
  assert.equal(out.answers.length, 20);
  for (const a of out.answers) {
    assert.equal(a.code, 0, `every call answered: ${JSON.stringify(a)}`);
    assert.equal(a.server, 'c', 'never by a stalled server');
  }
  assert.ok(out.stalledAttempts >= 1, `some attempts went to a stalled server and were retried elsewhere: ${JSON.stringify(out)}`);
  assert.equal(out.unavailable.code, 14);
  assert.equal(out.attemptsForUnavailable, 1, 'UNAVAILABLE: exactly one attempt');
});
