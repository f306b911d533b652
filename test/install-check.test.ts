// An interrupted first install is detected and repaired (issue 14 item 3): Ctrl-C during the first
// `npm run demo`'s `npm ci` left a partial node_modules that every later run took for a complete one.
// scripts/check-install.mjs decides; scripts/ensure-install.sh (what scripts/demo.sh runs first) repairs with
// `npm ci` and says what it found. Tested on a scratch project whose only dependency is a local tarball, so
// `npm ci` there needs no registry.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let dir = '';

function sh(cmd: string, args: string[], cwd = dir) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 120_000, env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' } });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}
const check = () => sh(process.execPath, [join(dir, 'scripts', 'check-install.mjs')]);
const ensure = () => sh('bash', [join(dir, 'scripts', 'ensure-install.sh'), 'demo']);

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fairway-install-'));
  mkdirSync(join(dir, 'scripts'));
  for (const f of ['check-install.mjs', 'ensure-install.sh']) cpSync(join(root, 'scripts', f), join(dir, 'scripts', f));
  const dep = join(dir, 'dep-src');
  mkdirSync(dep);
  writeFileSync(join(dep, 'package.json'), JSON.stringify({ name: 'dep-a', version: '1.0.0', main: 'index.js', bin: { 'dep-a': 'cli.js' } }));
  writeFileSync(join(dep, 'index.js'), 'module.exports = 42;\n');
  writeFileSync(join(dep, 'cli.js'), '#!/usr/bin/env node\nconsole.log(42);\n');
  const packed = sh(npm, ['pack', '--pack-destination', dir], dep);
  assert.equal(packed.status, 0, packed.out);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'scratch', version: '0.0.0', private: true, dependencies: { 'dep-a': 'file:dep-a-1.0.0.tgz' } }));
  const installed = sh(npm, ['install', '--offline', '--no-audit', '--no-fund']);
  assert.equal(installed.status, 0, installed.out);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('the repository itself is a complete install', () => {
  const r = sh(process.execPath, [join(root, 'scripts', 'check-install.mjs')], root);
  assert.equal(r.status, 0, r.out);
});

test('a complete install passes and ensure-install does nothing', () => {
  assert.equal(check().status, 0, check().out);
  const r = ensure();
  assert.equal(r.status, 0, r.out);
  assert.equal(r.out, '');
});

test('an npm ci cut short (no record of a finished install, files missing) is found, named and repaired', () => {
  // What Ctrl-C during `npm ci` leaves: npm removed node_modules, unpacked part of it, and never wrote
  // node_modules/.package-lock.json nor linked the bins.
  rmSync(join(dir, 'node_modules', '.package-lock.json'));
  rmSync(join(dir, 'node_modules', 'dep-a', 'index.js'));
  rmSync(join(dir, 'node_modules', '.bin'), { recursive: true, force: true });
  const c = check();
  assert.equal(c.status, 1);
  assert.match(c.out, /the last npm install or npm ci did not finish/);
  const r = ensure();
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /demo: node_modules is incomplete or out of date/);
  assert.match(r.out, /did not finish/);
  assert.match(r.out, /demo: repairing it with npm ci/);
  assert.match(r.out, /demo: npm dependencies installed/);
  assert.ok(existsSync(join(dir, 'node_modules', 'dep-a', 'index.js')), 'the package is whole again');
  assert.ok(existsSync(join(dir, 'node_modules', '.bin', 'dep-a')), 'its bin is linked again');
  assert.equal(check().status, 0);
});

test('a missing package, a wrong version and a missing bin are each named', () => {
  const pj = join(dir, 'node_modules', 'dep-a', 'package.json');
  const original = readFileSync(pj, 'utf8');
  writeFileSync(pj, original.replace('"1.0.0"', '"0.9.0"'));
  assert.match(check().out, /node_modules\/dep-a: 0\.9\.0 installed, 1\.0\.0 locked/);
  writeFileSync(pj, original);
  rmSync(join(dir, 'node_modules', '.bin', 'dep-a'));
  assert.match(check().out, /node_modules\/\.bin\/dep-a \(from node_modules\/dep-a\) is missing/);
  rmSync(join(dir, 'node_modules', 'dep-a'), { recursive: true });
  const c = check();
  assert.equal(c.status, 1);
  assert.match(c.out, /node_modules\/dep-a: not installed/);
  assert.equal(ensure().status, 0);
  assert.equal(check().status, 0);
});

test('no node_modules at all: installed from scratch', () => {
  rmSync(join(dir, 'node_modules'), { recursive: true });
  const r = ensure();
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /demo: installing npm dependencies \(npm ci\)/);
  assert.equal(check().status, 0);
});
