// Every workspace package's CommonJS build must never require() an ES-module-only dependency: the bundler's
// interop then mistakes the module namespace for the default export (issue 14 item 1: `pRetry` "is not a
// function") and older Nodes cannot require() ES modules at all. scripts/esm-only.mjs finds those dependencies and
// the shared tsup config bundles them into the CommonJS build; this checks the result, for every package, both in
// the text of dist/*.cjs and at run time (loading each package's CommonJS entry with require() and recording every
// ES module that our dist files require()). CI builds first (`npm run test:ci`); locally, run `npm run build`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { esmOnlyDependencies, requireFormat } from '../../scripts/esm-only.mjs';

const root = new URL('../../', import.meta.url).pathname;
const workspaces: string[] = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).workspaces.filter((w: string) =>
  w.startsWith('packages/'),
);

function cjsFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.cjs')).map((f) => join(dir, f));
}

test('the classifier tells ESM-only dependencies from CommonJS and dual ones', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fairway-esm-only-'));
  try {
    const pkg = (name: string, json: object, files: Record<string, string>) => {
      const d = join(dir, 'node_modules', name);
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, 'package.json'), JSON.stringify({ name, ...json }));
      for (const [f, text] of Object.entries(files)) writeFileSync(join(d, f), text);
    };
    pkg('esm-default', { type: 'module', exports: { types: './index.d.ts', default: './index.js' } }, { 'index.js': 'export default 1' });
    pkg('esm-import-only', { exports: { '.': { import: './index.mjs' } } }, { 'index.mjs': 'export default 1' });
    pkg('esm-main', { type: 'module', main: 'lib.js' }, { 'lib.js': 'export const a = 1' });
    pkg('plain-cjs', { main: 'index.js' }, { 'index.js': 'module.exports = 1' });
    pkg('dual', { type: 'module', exports: { '.': { require: './index.cjs', import: './index.js' } } }, { 'index.cjs': '', 'index.js': '' });
    const deps = ['esm-default', 'esm-import-only', 'esm-main', 'plain-cjs', 'dual'];
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'x', dependencies: Object.fromEntries(deps.map((d) => [d, '*'])) }));
    assert.deepEqual(esmOnlyDependencies(dir), ['esm-default', 'esm-import-only', 'esm-main']);
    assert.equal(requireFormat(dir, 'dual'), 'cjs');
    assert.equal(requireFormat(dir, 'absent'), 'missing');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("no package's CommonJS build require()s an ESM-only dependency (text of dist/*.cjs)", () => {
  const problems: string[] = [];
  for (const w of workspaces) {
    const dir = join(root, w);
    const files = cjsFiles(join(dir, 'dist'));
    assert.ok(files.length > 0, `${w} is not built (run \`npm run build\` first)`);
    for (const dep of esmOnlyDependencies(dir)) {
      const pattern = new RegExp(`require\\(["']${dep.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(/[^"']*)?["']\\)`);
      for (const f of files) if (pattern.test(readFileSync(f, 'utf8'))) problems.push(`${f.slice(root.length)} require()s ESM-only "${dep}"`);
    }
  }
  assert.deepEqual(problems, []);
});

test('loading each package with require() loads no ES module through require() from our dist files', { timeout: 120_000 }, () => {
  // Runs in a child with plain node: Module._load is wrapped to record every require() made by a file under
  // packages/*/dist whose target Node would load as an ES module.
  const probe = `
    const Module = require('node:module');
    const { readFileSync, existsSync } = require('node:fs');
    const { dirname, join } = require('node:path');
    const formatOfFile = (file) => {
      if (file.endsWith('.mjs')) return 'esm';
      if (!file.endsWith('.js')) return 'cjs';
      for (let dir = dirname(file); dirname(dir) !== dir; dir = dirname(dir)) {
        if (existsSync(join(dir, 'package.json'))) return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).type === 'module' ? 'esm' : 'cjs';
      }
      return 'cjs';
    };
    const load = Module._load;
    const seen = [];
    Module._load = function (request, parent, isMain) {
      if (parent && /\\/packages\\/[^/]+\\/dist\\//.test(parent.filename) && !request.startsWith('node:') && !Module.isBuiltin(request)) {
        try {
          const file = Module._resolveFilename(request, parent, isMain);
          if (formatOfFile(file) === 'esm') seen.push(parent.filename.split('/packages/')[1] + ' -> ' + request);
        } catch {}
      }
      return load.apply(this, arguments);
    };
    for (const p of process.argv.slice(1)) require(p);
    console.log(JSON.stringify(seen));
  `;
  const entries = workspaces.map((w) => join(root, w, 'dist', 'index.cjs'));
  const r = spawnSync(process.execPath, ['-e', probe, ...entries], { cwd: root, encoding: 'utf8', timeout: 100_000, env: { ...process.env, NODE_OPTIONS: '' } });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop()!), []);
});
