// Runs the README "newest connection wins" example (examples/readme/newest-stream.ts) in its own process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { childNodeArgs } from '@fairway/testing';

const root = new URL('../../..', import.meta.url).pathname;

test('README example newest-stream.ts: the older stream of the same client ends with ABORTED', { timeout: 90_000 }, () => {
  const file = join(root, 'examples', 'readme', 'newest-stream.ts');
  const r = spawnSync(process.execPath, [...childNodeArgs(), file], {
    cwd: root,
    encoding: 'utf8',
    timeout: 80_000,
    env: { ...process.env, FAIRWAY_ZONE: '', FAIRWAY_INSTANCE: '' },
  });
  assert.equal(r.status, 0, `newest-stream.ts failed (status ${r.status}, signal ${r.signal}):\n${r.stderr}\n${r.stdout}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { older: { code: number; details: string }; newerFlowing: boolean };
  assert.equal(out.older.code, 10);
  assert.match(out.older.details, /superseded by a newer \/fairway\.test\.Echo\/ServerStream stream from peer instance "quote-desk-7"/);
  assert.equal(out.newerFlowing, true);
});
