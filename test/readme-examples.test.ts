// Every TypeScript example in README.md starts with a line `// example: examples/readme/<file>.ts` and must be
// identical to that file; each such file is executed by a test of the package it documents (which this test
// also checks: some *.test.ts must name the file). So every README example is executed by a test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```(?:ts|typescript|js)\n([\s\S]*?)```/g)].map((m) => m[1]!);

function allTestSources(): string {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.test.ts') && !p.endsWith('readme-examples.test.ts')) out.push(readFileSync(p, 'utf8'));
    }
  };
  for (const d of ['packages', 'test', 'examples']) if (existsSync(join(root, d))) walk(join(root, d));
  return out.join('\n');
}

test('every README code example is a checked-in file that a test executes', () => {
  const tests = allTestSources();
  for (const block of blocks) {
    const first = block.split('\n')[0]!;
    const match = /^\/\/ example: (examples\/readme\/[\w.-]+\.(?:ts|mts|cts|js|cjs|mjs))$/.exec(first);
    assert.ok(match, `README code block does not start with "// example: examples/readme/<file>":\n${block.slice(0, 200)}`);
    const file = match[1]!;
    const path = join(root, file);
    assert.ok(existsSync(path), `${file} named in README does not exist`);
    assert.equal(readFileSync(path, 'utf8'), block, `${file} differs from its README block`);
    const base = file.split('/').pop()!;
    assert.ok(tests.includes(base), `no test names ${base}, so nothing executes it`);
  }
});
