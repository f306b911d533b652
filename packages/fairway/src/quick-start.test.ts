// Runs the README quick start (examples/readme/quick-start.ts) as a user would: its own process, loopback only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { childNodeArgs } from '@fairway/testing';

const root = new URL('../../..', import.meta.url).pathname;

test('README quick start (quick-start.ts) balances per request inside the caller zone', { timeout: 90_000 }, () => {
  const file = join(root, 'examples', 'readme', 'quick-start.ts');
  const r = spawnSync(process.execPath, [...childNodeArgs(), file], {
    cwd: root,
    encoding: 'utf8',
    timeout: 80_000,
    env: { ...process.env, FAIRWAY_ZONE: '' },
  });
  assert.equal(r.status, 0, `quick-start.ts failed (status ${r.status}, signal ${r.signal}, ${String(r.error ?? "")}):\n${r.stderr}\n${r.stdout}`);
  const seen = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>;
  assert.equal(Object.values(seen).reduce((a, b) => a + b, 0), 40);
  assert.deepEqual(Object.keys(seen).sort(), ['zone-a-0', 'zone-a-1'], JSON.stringify(seen));
});
