// Runs the README affinity example (examples/readme/affinity.ts) as a user would: its own process, loopback only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { childNodeArgs } from '@fairway/testing';

const root = new URL('../../..', import.meta.url).pathname;

test('README affinity example (affinity.ts): one server per player, a hot key spread at the bound, a subset of two', { timeout: 90_000 }, () => {
  const r = spawnSync(process.execPath, [...childNodeArgs(), join(root, 'examples', 'readme', 'affinity.ts')], {
    cwd: root,
    encoding: 'utf8',
    timeout: 80_000,
    env: { ...process.env, FAIRWAY_ZONE: '' },
  });
  assert.equal(r.status, 0, `affinity.ts failed (status ${r.status}, signal ${r.signal}):\n${r.stderr}\n${r.stdout}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { home: Record<string, string[]>; whaleServers: Record<string, number>; subset: string[] };
  for (const [player, servers] of Object.entries(out.home)) assert.equal(servers.length, 1, `${player} reached ${servers.join(',')}`);
  assert.ok(new Set(Object.values(out.home).flat()).size >= 2, 'players are spread over servers');
  const whale = Object.values(out.whaleServers);
  assert.equal(whale.reduce((a, b) => a + b, 0), 40);
  assert.ok(Math.max(...whale) <= 13, `the whale's owner took ${Math.max(...whale)} of 40 (bound: floor(1.25 x 40 / 4) + 1)`);
  assert.equal(out.subset.length, 2, `client 0 of 2 used ${out.subset.join(',')}`);
});
