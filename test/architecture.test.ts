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
  grpc: (s) => s === '@fairway/core' || s === '@grpc/grpc-js' || s === 'grpc-health-check' || s === 'node:perf_hooks' || s === 'node:module' || s === 'node:path',
  'discovery-etcd': (s) => s === '@fairway/core' || s === 'etcd3' || /^node:(fs|os|module)$/.test(s),
  'discovery-kubernetes': (s) => s === '@fairway/core' || s === '@kubernetes/client-node' || /^node:(fs|http|https|net|readline)$/.test(s),
  // API only: the SDK, exporters and @opentelemetry/core (with semantic-conventions, ~11 MB) stay out of the default install.
  telemetry: (s) => s === '@fairway/core' || s === '@opentelemetry/api' || s === 'node:fs' || s === 'node:path',
  'telemetry-setup': (s) => s === '@fairway/telemetry' || s.startsWith('@opentelemetry/') || s.startsWith('node:'),
  server: (s) => ['@fairway/core', '@fairway/grpc', '@fairway/discovery-etcd', '@fairway/discovery-kubernetes'].includes(s),
  cli: (s) => s !== '@fairway/testing' && s !== '@grpc/grpc-js',
  // Kubernetes discovery and the telemetry set-up are separate installs: only type imports of them (enforced below).
  fairway: (s) => s !== '@fairway/testing' && s !== '@fairway/cli' && s !== '@grpc/grpc-js',
  testing: () => true,
  // connect-node's transport (a separate install): core's balancer and call machine, connect-node for HTTP/2;
  // never grpc-js. Discovery packages are loaded by name when a target needs them (optional peers).
  connect: (s) => ['@fairway/core', '@connectrpc/connect', '@connectrpc/connect-node', '@bufbuild/protobuf', 'node:module', 'node:perf_hooks'].includes(s),
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

/** The packages `npm install fairway-grpc` brings: the umbrella and its workspace dependencies, transitively. */
function defaultInstallClosure(): Map<string, { dependencies?: Record<string, string> }> {
  const byName = new Map<string, { dependencies?: Record<string, string> }>();
  for (const dir of readdirSync(join(root, 'packages'))) {
    const pkg = JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8'));
    byName.set(pkg.name, pkg);
  }
  const closure = new Map<string, { dependencies?: Record<string, string> }>();
  const visit = (name: string) => {
    const pkg = byName.get(name);
    if (!pkg || closure.has(name)) return;
    closure.set(name, pkg);
    for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dep);
  };
  visit('fairway-grpc');
  return closure;
}

/** Issue 20: the default install carries neither Kubernetes discovery nor the OpenTelemetry SDK. */
const SEPARATE_INSTALLS = ['@fairway/discovery-kubernetes', '@fairway/telemetry-setup', '@kubernetes/client-node'];
const isSdk = (dep: string) => dep.startsWith('@opentelemetry/') && dep !== '@opentelemetry/api';

test('the default install (fairway-grpc and its dependencies) depends on no SDK and no Kubernetes client', () => {
  const closure = defaultInstallClosure();
  assert.deepEqual([...closure.keys()].sort(), ['@fairway/core', '@fairway/discovery-etcd', '@fairway/grpc', '@fairway/server', '@fairway/telemetry', 'fairway-grpc']);
  const bad: string[] = [];
  for (const [name, pkg] of closure) {
    for (const dep of Object.keys(pkg.dependencies ?? {})) if (SEPARATE_INSTALLS.includes(dep) || isSdk(dep)) bad.push(`${name} -> ${dep}`);
  }
  assert.deepEqual(bad, []);
  const umbrella = JSON.parse(readFileSync(join(root, 'packages', 'fairway', 'package.json'), 'utf8'));
  // Issue 19: connect-node users add @fairway/connect themselves; grpc-js users never install it.
  for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) assert.equal(umbrella[field]?.['@fairway/connect'], undefined, `fairway-grpc ${field} must not name @fairway/connect`);
  for (const optional of ['@fairway/discovery-kubernetes', '@fairway/telemetry-setup']) {
    assert.ok(umbrella.peerDependencies?.[optional], `fairway-grpc declares ${optional} as a peer`);
    assert.equal(umbrella.peerDependenciesMeta?.[optional]?.optional, true, `${optional} is an optional peer`);
  }
});

test('fairway-grpc imports the separate installs for their types only (they are loaded when used)', () => {
  const values: string[] = [];
  for (const file of shippedSources(join(root, 'packages', 'fairway', 'src'))) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false);
    for (const st of source.statements) {
      if ((ts.isImportDeclaration(st) || ts.isExportDeclaration(st)) && st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier)) {
        const typeOnly = ts.isImportDeclaration(st) ? st.importClause?.isTypeOnly === true : st.isTypeOnly;
        if (SEPARATE_INSTALLS.includes(st.moduleSpecifier.text) && !typeOnly) values.push(`${relative(root, file)}: ${st.getText(source)}`);
      }
    }
  }
  assert.deepEqual(values, []);
});

test('the grpc policy does not import the call layer (what both need lives in core)', () => {
  const dir = join(root, 'packages', 'grpc', 'src', 'policy');
  const violations: string[] = [];
  for (const file of shippedSources(dir)) {
    for (const ref of ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles) {
      if (/(^|\/)call(\/|$)/.test(ref.fileName)) violations.push(`${relative(root, file)} imports ${ref.fileName}`);
    }
  }
  assert.deepEqual(violations, []);
  // The rule can fail:
  assert.ok(/(^|\/)call(\/|$)/.test('../call/fairway-call.js'));
});
