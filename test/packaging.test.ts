// The built packages load with require() and import, without the source condition, and their declarations
// type-check for both (module node16). CI builds first (`npm run test:ci`); locally, run `npm run build`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const dir = join(root, 'test', 'packaging');
const needed = ['core', 'grpc', 'fairway'].flatMap((p) =>
  ['index.js', 'index.cjs', 'index.d.ts', 'index.d.cts'].map((f) => join(root, 'packages', p, 'dist', f)),
);

function assertBuilt(): void {
  const missing = needed.filter((f) => !existsSync(f));
  assert.deepEqual(missing, [], `not built (run \`npm run build\` first): ${missing.join(', ')}`);
}

// Plain node: no `--conditions=fairway:source`, no tsx, so the packages' dist/ is what loads.
function runNode(file: string): { kind: string; reply: string; exports: string[] } {
  const r = spawnSync(process.execPath, [join(dir, file)], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `${file} failed:\n${r.stderr}\n${r.stdout}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

test('require("fairway-grpc") from dist makes a balanced call', { timeout: 90_000 }, () => {
  assertBuilt();
  const out = runNode('consumer.cjs');
  assert.equal(out.reply, 'hello');
  for (const name of ['createClient', 'createChannel', 'clientOptions', 'register', 'registerAll', 'registerDiscoveryScheme']) {
    assert.ok(out.exports.includes(name), `require('fairway-grpc') lacks ${name}`);
  }
});

test('import "fairway-grpc" from dist makes balanced calls (createClient and clientOptions)', { timeout: 90_000 }, () => {
  assertBuilt();
  const out = runNode('consumer.mjs');
  assert.equal(out.reply, 'hello,hello');
  assert.ok(out.exports.includes('createClient'));
});

test('the declarations type-check for import (.mts) and require (.cts)', { timeout: 120_000 }, () => {
  assertBuilt();
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { cwd: root, encoding: 'utf8', timeout: 110_000 });
  assert.equal(r.status, 0, `tsc failed:\n${r.stdout}\n${r.stderr}`);
});

test('every workspace package loads from dist with plain require() and import', { timeout: 120_000 }, () => {
  // A bundler slip shows up here and nowhere else, e.g. `node:test` rewritten to a bare `test` that no Node has.
  const packages = ['core', 'grpc', 'discovery-etcd', 'discovery-kubernetes', 'telemetry', 'server', 'testing', 'cli', 'fairway', 'connect'];
  for (const p of packages) {
    const base = join(root, 'packages', p, 'dist', 'index');
    assert.ok(existsSync(`${base}.js`) && existsSync(`${base}.cjs`), `packages/${p} is not built (run \`npm run build\` first)`);
    const script = `require(${JSON.stringify(`${base}.cjs`)}); import(${JSON.stringify(`${base}.js`)}).then(() => console.log('ok'))`;
    const r = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, `packages/${p}: dist does not load:\n${r.stderr}`);
    assert.equal(r.stdout.trim(), 'ok', `packages/${p}`);
  }
});

test('the tarballs ship what users import and nothing else: no sources, tests, test-support or test-helpers', { timeout: 120_000 }, () => {
  // `npm pack --dry-run --json` lists exactly what `npm publish` would upload (issue 14 item 5: test code shipped).
  const workspaces: string[] = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).workspaces.filter((w: string) => w.startsWith('packages/'));
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, ['pack', '--dry-run', '--json', '--ignore-scripts', ...workspaces.flatMap((w) => ['-w', w])], {
    cwd: root,
    encoding: 'utf8',
    timeout: 110_000,
  });
  assert.equal(r.status, 0, `npm pack failed:\n${r.stderr}`);
  const packs: { name: string; files: { path: string }[] }[] = JSON.parse(r.stdout);
  assert.equal(packs.length, workspaces.length, 'one tarball per package');
  const allowed = /^(package\.json|README\.md|LICENSE|dist\/[\w.-]+\.(js|cjs|d\.ts|d\.cts|js\.map|cjs\.map))$/;
  for (const pack of packs) {
    const paths = pack.files.map((f) => f.path);
    const unexpected = paths.filter((p) => !allowed.test(p) || /test|spec|fixture/i.test(p));
    assert.deepEqual(unexpected, [], `${pack.name} ships files users do not import`);
    for (const f of ['dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/index.d.cts']) {
      assert.ok(paths.includes(f), `${pack.name} lacks ${f} (not built? run \`npm run build\`)`);
    }
    // Every file the manifest points users at is in the tarball (the `fairway:source` condition is for this
    // repository's tests only: it points at sources that are not shipped, and no user's resolver asks for it).
    const dir = workspaces.find((w) => JSON.parse(readFileSync(join(root, w, 'package.json'), 'utf8')).name === pack.name)!;
    const manifest = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'));
    const targets: string[] = [manifest.main, manifest.module, manifest.types, ...Object.values(manifest.bin ?? {})].filter(Boolean) as string[];
    const walk = (v: unknown, key = ''): void => {
      if (key === 'fairway:source') return;
      if (typeof v === 'string') targets.push(v);
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
    };
    walk(manifest.exports);
    for (const t of targets) assert.ok(paths.includes(t.replace(/^\.\//, '')), `${pack.name}: package.json points at ${t}, which the tarball lacks`);
  }
});
