// Issue 19 (connect-node): @fairway/connect installed as a user installs it (the packages packed with
// `npm pack`, installed from the tarballs into a scratch project beside connect-node from the registry cache),
// and the connect examples run there with plain `node` from CommonJS (main.cjs, require) and ESM (main.mjs,
// import): no workspace links, no tsx, no source condition. Needs `npm run build` first (CI builds).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const example = join(root, 'examples', 'frameworks', 'connect');
/** What a connect-node user installs: @fairway/connect with its one dependency, and telemetry for spans. */
const FOLDERS = ['core', 'connect', 'telemetry'];
const REGISTRY_DEPS = ['@connectrpc/connect@2.1.2', '@connectrpc/connect-node@2.1.2', '@bufbuild/protobuf@^2.7.0', '@opentelemetry/api@1.9.0', '@opentelemetry/sdk-trace-base@2.11.0'];
const EXAMPLE_FILES = ['main.cjs', 'main.mjs', 'servers.cjs', 'gen/greeter_pb.cjs', 'gen/greeter_pb.mjs'];

function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('npm_') || k === 'NODE_OPTIONS' || k.startsWith('FAIRWAY_') || k.startsWith('OTEL_')) continue;
    env[k] = v;
  }
  return env;
}

function run(cmd: string, args: string[], cwd: string, timeout = 300_000): string {
  const r = spawnSync(cmd, args, { cwd, env: cleanEnv(), encoding: 'utf8', timeout, maxBuffer: 64 * 1024 * 1024 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} in ${cwd} failed (${r.status ?? r.signal}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

describe('@fairway/connect from packed tarballs in a scratch project', { timeout: 600_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), 'fairway-connect-install-'));
  const project = join(work, 'app');
  after(() => rmSync(work, { recursive: true, force: true }));

  before(() => {
    const tarballs: string[] = [];
    for (const folder of FOLDERS) {
      assert.ok(existsSync(join(root, 'packages', folder, 'dist', 'index.cjs')), `packages/${folder} is not built (run \`npm run build\` first)`);
      const dest = join(work, 'tarballs', folder);
      mkdirSync(dest, { recursive: true });
      const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', dest, '-w', `packages/${folder}`], root)) as { filename: string }[];
      tarballs.push(join(dest, packed[0]!.filename));
    }
    mkdirSync(join(project, 'gen'), { recursive: true });
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'scratch-connect', version: '1.0.0', private: true }));
    run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...tarballs, ...REGISTRY_DEPS], project);
    for (const f of EXAMPLE_FILES) copyFileSync(join(example, f), join(project, f));
  });

  function check(file: string): Record<string, unknown> {
    const out = JSON.parse(run(process.execPath, [file], project, 120_000).trim().split('\n').pop()!) as Record<string, unknown>;
    const share = out['share'] as Record<string, number>;
    assert.equal(Object.values(share).reduce((a, b) => a + b, 0), 300, `${file}: every call answered`);
    assert.ok((share['c'] ?? 0) / 300 < 0.15, `${file}: the slow server gets a small share: ${JSON.stringify(share)}`);
    assert.deepEqual(out['answeredBy'], Array(12).fill('c'), `${file}: calls on the stalled servers are answered by c`);
    assert.ok((out['attemptsOnStalled'] as number) >= 1, `${file}: an attempt timed out and was retried`);
    return out;
  }

  test('connect-node users get no grpc-js and no discovery packages they did not ask for', () => {
    for (const absent of ['@grpc/grpc-js', 'fairway-grpc', '@fairway/grpc', '@fairway/discovery-etcd', '@fairway/discovery-kubernetes', 'etcd3']) {
      assert.equal(existsSync(join(project, 'node_modules', absent)), false, `${absent} was installed`);
    }
  });

  test('main.cjs runs with require(): balancing and a retry after an attempt timeout', () => {
    check('main.cjs');
  });

  test('main.mjs runs with import: balancing, a retry, a span per attempt', () => {
    const out = check('main.mjs');
    assert.equal(out['callSpans'], 12);
    assert.equal(out['attemptSpans'], 12 + (out['attemptsOnStalled'] as number));
  });

  test('an etcd: target without @fairway/discovery-etcd installed fails at once, naming the install command', () => {
    const script = "const { createFairwayTransport } = require('@fairway/connect'); try { createFairwayTransport({ target: 'etcd:///pricer' }); console.log('no error'); } catch (e) { console.log(e.name + ': ' + e.message); }";
    const out = run(process.execPath, ['-e', script], project).trim();
    assert.match(out, /^MissingDiscoveryPackageError: .*npm install @fairway\/discovery-etcd/);
  });
});
