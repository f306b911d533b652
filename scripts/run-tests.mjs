#!/usr/bin/env node
// Runs every *.test.ts under packages/*/src, test/ and examples/ with node's own test runner, through tsx,
// resolving workspace packages to their TypeScript sources (the "fairway:source" export condition).
// Usage: npm test [-- <path filter> ...]
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawn } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const roots = ['packages', 'test', 'examples'];
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.test.ts')) files.push(relative(root, path));
  }
}
for (const r of roots) {
  try { walk(join(root, r)); } catch { /* absent */ }
}
const filters = process.argv.slice(2);
const selected = files.sort().filter((f) => filters.length === 0 || filters.some((p) => f.includes(p)));
if (selected.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
const concurrency = process.env.FAIRWAY_TEST_CONCURRENCY ?? '2';
const args = [
  '--conditions=fairway:source',
  '--import', 'tsx',
  '--test',
  `--test-concurrency=${concurrency}`,
  ...selected,
];
const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
