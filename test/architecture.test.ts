// The package boundaries of ../shared/design/architecture.md, checked on every shipped source file: `core` is
// pure (no I/O, no `node:` imports), `@fairway/grpc` is the only package that imports grpc-js, discovery
// sources know nothing of gRPC. Test files and test-support/ folders are not shipped and may import anything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const root = new URL('..', import.meta.url).pathname;

/** What each package's shipped sources may import (besides its own relative files). */
const ALLOWED: Record<string, (specifier: string) => boolean> = {
  core: () => false,
  grpc: (s) => s === '@fairway/core' || s === '@grpc/grpc-js' || s === 'grpc-health-check' || s === 'p-retry' || s === 'node:perf_hooks',
  'discovery-etcd': (s) => s === '@fairway/core' || s === 'etcd3' || /^node:(fs|os|module)$/.test(s),
  'discovery-kubernetes': (s) => s === '@fairway/core' || s === '@kubernetes/client-node' || /^node:(fs|http|https|net)$/.test(s),
  telemetry: (s) => s === '@fairway/core' || s.startsWith('@opentelemetry/') || s.startsWith('node:'),
  server: (s) => ['@fairway/core', '@fairway/grpc', '@fairway/discovery-etcd', '@fairway/discovery-kubernetes'].includes(s),
  cli: (s) => s !== '@fairway/testing' && s !== '@grpc/grpc-js',
  fairway: (s) => s !== '@fairway/testing' && s !== '@fairway/cli' && s !== '@grpc/grpc-js',
  testing: () => true,
};

function shippedSources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== 'test-support') out.push(...shippedSources(path));
    } else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) {
      out.push(path);
    }
  }
  return out;
}

/** Bare package name of an import specifier: `@scope/name` or `name` (subpaths dropped); undefined if relative. */
function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.')) return undefined;
  if (specifier.startsWith('node:')) return specifier;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

test('every package imports only what architecture.md allows it', () => {
  const packages = readdirSync(join(root, 'packages'));
  assert.deepEqual([...packages].sort(), Object.keys(ALLOWED).sort(), 'every package has a rule');
  const violations: string[] = [];
  let files = 0;
  for (const pkg of packages) {
    for (const file of shippedSources(join(root, 'packages', pkg, 'src'))) {
      files += 1;
      // preProcessFile reads real import/export/require/import() forms only, not strings or comments.
      const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
      for (const ref of info.importedFiles) {
        const p = packageOf(ref.fileName);
        if (p !== undefined && p !== `@fairway/${pkg}` && !ALLOWED[pkg]!(p)) violations.push(`${relative(root, file)} imports ${ref.fileName}`);
      }
    }
  }
  assert.ok(files > 50, `read ${files} files`);
  assert.deepEqual(violations, []);
});

test('the rule can fail: a grpc-js import in a discovery source is caught', () => {
  const info = ts.preProcessFile("import { status } from '@grpc/grpc-js';\nconst s = \"from 'node:fs'\";", true, true);
  const found = info.importedFiles.map((r) => packageOf(r.fileName));
  assert.deepEqual(found, ['@grpc/grpc-js'], 'strings are not imports');
  assert.equal(ALLOWED['discovery-etcd']!('@grpc/grpc-js'), false);
  assert.equal(ALLOWED['core']!('node:fs'), false);
});
