// Runs the README quick start as a user would, in both module systems (examples/readme/quick-start.mjs and
// examples/readme/quick-start.cjs): its own process, loopback only. The packaged-install test
// (test/install/install-footprint.test.ts) runs the same two files from a scratch project with packed tarballs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { childNodeArgs } from '@fairway/testing';

const root = new URL('../../..', import.meta.url).pathname;

for (const file of ['quick-start.mjs', 'quick-start.cjs']) {
  test(`README quick start (${file}) balances per request inside the caller zone`, { timeout: 90_000 }, () => {
    const path = join(root, 'examples', 'readme', file);
    const r = spawnSync(process.execPath, [...childNodeArgs(), path], {
      cwd: root,
      encoding: 'utf8',
      timeout: 80_000,
      env: { ...process.env, FAIRWAY_ZONE: '' },
    });
    assert.equal(r.status, 0, `${file} failed (status ${r.status}, signal ${r.signal}, ${String(r.error ?? '')}):\n${r.stderr}\n${r.stdout}`);
    const seen = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>;
    assert.equal(Object.values(seen).reduce((a, b) => a + b, 0), 40);
    assert.deepEqual(Object.keys(seen).sort(), ['zone-a-0', 'zone-a-1'], JSON.stringify(seen));
  });
}

test('the quick start is self-contained: it imports only what its install line installs', () => {
  for (const file of ['quick-start.mjs', 'quick-start.cjs']) {
    const text = readFileSync(join(root, 'examples', 'readme', file), 'utf8');
    const imported = [...text.matchAll(/(?:from |require\()'([^']+)'/g)].map((m) => m[1]).sort();
    assert.deepEqual(imported, ['@grpc/grpc-js', '@grpc/proto-loader', 'fairway-grpc'], file);
    assert.match(text, /npm install fairway-grpc @grpc\/grpc-js @grpc\/proto-loader/);
  }
});
