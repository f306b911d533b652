// The commands a contributor types to test one package (issue 14 item 4): `npm test -w packages/<name>` said
// `Missing script: "test"` for every package, and `turbo run test` had no task to run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const packages: string[] = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).workspaces.filter((w: string) => w.startsWith('packages/'));

function run(cmd: string, args: string[]) {
  // Without NODE_TEST_CONTEXT: it tells a nested `node --test` that it reports to this runner, not to its reporters.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', timeout: 120_000, env: { ...env, FAIRWAY_TEST_CONCURRENCY: '1' } });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

test('every package has a test script that runs the tests under its own folder', () => {
  for (const p of packages) {
    const pj = JSON.parse(readFileSync(join(root, p, 'package.json'), 'utf8'));
    assert.equal(pj.scripts?.test, `node ../../scripts/run-tests.mjs --under ${p}`, `${p}/package.json scripts.test`);
  }
});

test('npm test -w packages/core -- median.test runs exactly that package file', { timeout: 150_000 }, () => {
  const r = run(npm, ['test', '-w', 'packages/core', '--', 'median.test']);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /# 1 test files/);
  assert.match(r.out, /tests: [1-9]\d* passed, 0 failed/);
  assert.match(r.out, /median/);
});

test('npm test -w packages/core -- retry- does not run matching tests of other packages', { timeout: 150_000 }, () => {
  // The filter is applied inside the package's folder only: packages/grpc/src/call/retry-factory.test.ts and
  // test/ files are never picked up by `-w packages/core`.
  const r = run(npm, ['test', '-w', 'packages/core', '--', 'retry-']);
  assert.equal(r.status, 0, r.out);
  assert.doesNotMatch(r.out, /packages\/grpc\//);
});

test('turbo run test --filter=@fairway/core runs the package test task', { timeout: 150_000 }, () => {
  const r = run(process.execPath, [join(root, 'node_modules', 'turbo', 'bin', 'turbo'), 'run', 'test', '--filter=@fairway/core', '--', 'median.test']);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /@fairway\/core:test: .*# 1 test files/);
  assert.match(r.out, /@fairway\/core:test: tests: [1-9]\d* passed, 0 failed/);
});

test('--under names a missing folder: a clear error, not an empty run', () => {
  const r = run(process.execPath, [join(root, 'scripts', 'run-tests.mjs'), '--under', 'packages/no-such-package']);
  assert.equal(r.status, 2, r.out);
  assert.match(r.out, /--under needs a folder of this repository, got "packages\/no-such-package"/);
});
