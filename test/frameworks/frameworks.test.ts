// Issue 19 item 3: each framework in one documented line, run as a user installs it. The packed Fairway
// tarballs and the framework packages go into two scratch projects (NestJS 11 and 12 cannot share one; nice-grpc
// and ts-proto share the NestJS 11 one), and each example under examples/frameworks/ runs there with plain `node`, in
// CommonJS and ESM where the framework supports both. Each example: three servers, one slow (400 ms, against a
// 100 ms attempt timeout); the slow one must get a small share of the attempts, a timed-out attempt on it must
// be retried on another server, and every attempt must have its span. Needs `npm run build` first.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DEFAULT_PACKAGES, installScratch, packPackages, repoRoot, run, runNodeAsync } from '../install/scratch-project.js';

const examples = join(repoRoot, 'examples', 'frameworks');
const COMMON = ['@grpc/grpc-js@1.14.7', '@grpc/proto-loader@^0.8.1', '@opentelemetry/api@1.9.0', '@opentelemetry/sdk-trace-base@2.11.0', 'reflect-metadata@^0.2.2', 'rxjs@^7.8.1'];
const NEST_11 = ['@nestjs/microservices@11.2.6', '@nestjs/core@11.2.10', '@nestjs/common@^11.1.0'];
const NEST_12 = ['@nestjs/microservices@12.1.1', '@nestjs/core@12.5.1', '@nestjs/common@12.5.1'];
const NICE_GRPC = ['nice-grpc@2.1.18'];
/** ts-proto (the generator, for the regeneration check), its runtime, and what compiling the example needs. */
const TS_PROTO = ['ts-proto@2.18.0', '@bufbuild/protobuf@^2.14.1', '@types/node@^20.19.0'];
const TS_PROTO_DIR = join(examples, 'ts-proto');
/** The Echo service, servers and exercise the examples share; they load it as `../shared/echo-fixture.cjs`. */
const SHARED_FIXTURE = 'shared/echo-fixture.cjs';
/** Test-only programs run from the packed dist; they load the same fixture, copied next to them in the project. */
const scratchFiles = join(repoRoot, 'test', 'frameworks', 'scratch');

/** Copies examples/frameworks/<file> to <project>/<file>: the same relative paths, so `../shared/` resolves. */
function copyExample(file: string, project: string): void {
  mkdirSync(dirname(join(project, file)), { recursive: true });
  copyFileSync(join(examples, file), join(project, file));
}

interface Exercise {
  answered: Record<string, number>;
  attemptsPerServer: Record<string, number>;
  attemptSpans: number;
  movedRetries: number;
}

/** What every example must show for one client (60 calls). */
function checkExercise(label: string, r: Exercise): void {
  const detail = `${label}: ${JSON.stringify(r)}`;
  const answered = Object.values(r.answered).reduce((a, b) => a + b, 0);
  assert.equal(answered, 60, `every call answered (${detail})`);
  assert.ok((r.answered['fast-0'] ?? 0) > 0 && (r.answered['fast-1'] ?? 0) > 0, `both fast servers answered (${detail})`);
  const attempts = Object.values(r.attemptsPerServer).reduce((a, b) => a + b, 0);
  assert.equal(attempts, r.attemptSpans, `every attempt span names its server (${detail})`);
  assert.ok(r.attemptSpans >= 60, `a span per attempt, at least one per call (${detail})`);
  const slowShare = (r.attemptsPerServer['slow'] ?? 0) / r.attemptSpans;
  assert.ok(slowShare <= 0.15, `the slow server gets a small share of the attempts: ${(slowShare * 100).toFixed(1)} % (${detail})`);
  assert.ok(r.movedRetries >= 1, `a timed-out attempt on the slow server was retried on another server (${detail})`);
}

describe('framework examples, installed from packed tarballs into scratch projects', { timeout: 900_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), 'fairway-frameworks-'));
  const projects = new Map<string, string>();

  before(() => {
    const tarballs = [...packPackages(work, DEFAULT_PACKAGES).values()];
    const cjs = installScratch(work, 'nest11-nice-grpc', [...tarballs, ...COMMON, ...NEST_11, ...NICE_GRPC, ...TS_PROTO]);
    for (const file of [SHARED_FIXTURE, 'nestjs-11-cjs/main.cjs', 'nice-grpc/main.cjs', 'nice-grpc/main.mjs']) copyExample(file, cjs);
    projects.set('cjs', cjs);
    // NestJS 12 is ESM-only: the project is an ES module one, as a NestJS 12 app is.
    const esm = installScratch(work, 'nest12', [...tarballs, ...COMMON, ...NEST_12], { type: 'module' });
    for (const file of [SHARED_FIXTURE, 'nestjs-12-esm/main.mjs']) copyExample(file, esm);
    projects.set('esm', esm);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  for (const [project, file] of [
    ['cjs', 'nestjs-11-cjs/main.cjs'],
    ['esm', 'nestjs-12-esm/main.mjs'],
  ] as const) {
    test(`NestJS: ClientsModule.register and ClientProxyFactory.create with channelOptions: clientOptions(...) (examples/frameworks/${file})`, async () => {
      const out = JSON.parse(await runNodeAsync(projects.get(project)!, file)) as { clientsModule: Exercise; clientProxyFactory: Exercise };
      checkExercise('ClientsModule.register', out.clientsModule);
      checkExercise('ClientProxyFactory.create', out.clientProxyFactory);
    });
  }

  for (const file of ['nice-grpc/main.cjs', 'nice-grpc/main.mjs']) {
    test(`nice-grpc: createClient(definition, createChannel(...)) retries and traces (examples/frameworks/${file})`, async () => {
      checkExercise('nice-grpc', JSON.parse(await runNodeAsync(projects.get('cjs')!, file)) as Exercise);
    });
  }

  test('ts-proto: running examples/frameworks/ts-proto/generate.sh again gives the committed generated files', () => {
    const out = join(work, 'ts-proto-regenerated');
    const plugin = join(projects.get('cjs')!, 'node_modules', '.bin', 'protoc-gen-ts_proto');
    run('bash', [join(TS_PROTO_DIR, 'generate.sh'), out], projects.get('cjs')!, { ...process.env, TS_PROTO_PLUGIN: plugin });
    const committed = join(TS_PROTO_DIR, 'generated');
    assert.deepEqual(readdirSync(out).sort(), readdirSync(committed).sort());
    // The header names the protoc that ran (the machine's, e.g. Debian's 3.21.12): the one line allowed to differ.
    const normalized = (file: string) => readFileSync(file, 'utf8').replace(/^\/\/ {3}protoc {15}v.*$/m, '//   protoc (version)');
    for (const f of readdirSync(committed)) assert.equal(normalized(join(out, f)), normalized(join(committed, f)), `generated/${f} is stale: run generate.sh`);
  });

  for (const type of ['commonjs', 'module'] as const) {
    test(`ts-proto: a generated client through createClient retries and traces (examples/frameworks/ts-proto/main.ts as ${type})`, async () => {
      // The example compiled as a user's project of that module type compiles it (tsc, module node16).
      const dir = join(projects.get('cjs')!, `ts-proto-${type}`);
      mkdirSync(dir);
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `ts-proto-${type}`, private: true, type }));
      for (const f of ['main.ts', 'tsconfig.json']) copyFileSync(join(TS_PROTO_DIR, f), join(dir, f));
      cpSync(join(TS_PROTO_DIR, 'generated'), join(dir, 'generated'), { recursive: true });
      run(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], dir);
      checkExercise(`ts-proto (${type})`, JSON.parse(await runNodeAsync(dir, join('out', 'main.js'))) as Exercise);
    });
  }

  test('nice-grpc with its own copy of grpc-js: a call on a Fairway channel fails with DuplicateGrpcError\'s message naming both copies', async () => {
    const project = projects.get('cjs')!;
    // npm's layout when nice-grpc's grpc-js range does not meet the app's: a nested copy under nice-grpc.
    const dir = join(project, 'duplicate');
    const nice = join(dir, 'node_modules', 'nice-grpc');
    cpSync(join(project, 'node_modules', 'nice-grpc'), nice, { recursive: true });
    cpSync(join(project, 'node_modules', '@grpc', 'grpc-js'), join(nice, 'node_modules', '@grpc', 'grpc-js'), { recursive: true });
    copyFileSync(join(scratchFiles, 'nice-grpc-duplicate.cjs'), join(dir, 'main.cjs')); // next to ../shared/
    const out = JSON.parse(await runNodeAsync(dir, 'main.cjs')) as { failed: boolean; code: number; details: string; niceGrpcCopy: string; logged: string[] };
    assert.ok(out.niceGrpcCopy.startsWith(nice), `nice-grpc loaded its nested copy: ${out.niceGrpcCopy}`);
    assert.equal(out.failed, true, JSON.stringify(out));
    assert.equal(out.code, 9, 'FAILED_PRECONDITION');
    assert.match(out.details, /two copies of @grpc\/grpc-js/);
    assert.ok(out.details.includes(join(project, 'node_modules', '@grpc', 'grpc-js')), `names Fairway's copy: ${out.details}`);
    assert.ok(out.details.includes(join(nice, 'node_modules', '@grpc', 'grpc-js')), `names nice-grpc's copy: ${out.details}`);
    assert.equal(out.logged.length, 1, 'and logs it once');
  });

  for (const file of ['bare-channel.cjs', 'bare-channel.mjs']) {
    test(`a bare { channelOverride: channel } client on a Fairway channel is retried and observed (${file}, from the packed dist)`, async () => {
      // In a folder of the project, next to ../shared/ as the examples are.
      mkdirSync(join(projects.get('cjs')!, 'scratch'), { recursive: true });
      for (const f of [file, 'bare-channel-check.cjs']) copyFileSync(join(scratchFiles, f), join(projects.get('cjs')!, 'scratch', f));
      const out = JSON.parse(await runNodeAsync(projects.get('cjs')!, join('scratch', file))) as { calls: number; timedOutOnFrozen: number; retriedOnFast: number; answered: Record<string, number> };
      const answered = Object.values(out.answered).reduce((a, b) => a + b, 0);
      assert.equal(out.calls, answered, `the observer saw every call: ${JSON.stringify(out)}`);
      assert.ok(out.timedOutOnFrozen >= 1 && out.retriedOnFast >= 1, `an attempt timed out on the frozen server and was retried on the fast one: ${JSON.stringify(out)}`);
      assert.deepEqual(Object.keys(out.answered), ['fast'], 'the frozen server answered nothing within the attempt timeout');
    });
  }
});
