// The README's examples run from the built packages (dist/) with plain `node` (no tsx, no source condition),
// once as CommonJS (require) and once as an ES module (import), on the Node that runs this suite (CI: Node 20
// and Node 24). Issue 14 item 1: with require(), `retry` made every call fail at once with
// "(0 , import_p_retry.default) is not a function"; the old packaging test loaded the packages but called nothing.
// Each example's own behaviour is asserted, so a module system in which Fairway misbehaves fails here.
// CI builds first (`npm run test:ci`); locally, run `npm run build`.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOtlpReceiver, startKubeApiStandIn, startEchoBackend, makeEndpointSlice, type OtlpReceiver } from '@fairway/testing';
import { compileExample, type ModuleSystem } from './compile-example.js';

const root = new URL('../../', import.meta.url).pathname;
const systems: ModuleSystem[] = ['cjs', 'esm'];

function assertBuilt(): void {
  const packages = ['core', 'grpc', 'telemetry', 'server', 'testing', 'discovery-etcd', 'discovery-kubernetes', 'fairway'];
  const missing = packages.flatMap((p) => ['index.js', 'index.cjs'].map((f) => join('packages', p, 'dist', f))).filter((f) => !existsSync(join(root, f)));
  assert.deepEqual(missing, [], `not built (run \`npm run build\` first): ${missing.join(', ')}`);
}

/** The environment of a plain-node child: no NODE_OPTIONS (no --import tsx, no --conditions) and no OTEL_*. */
function plainEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (k !== 'NODE_OPTIONS' && !k.startsWith('OTEL_')) env[k] = v;
  return { ...env, ...extra };
}

/** Runs a compiled example to its end and returns the last line it printed, parsed as JSON. */
function runToEnd(file: string, system: ModuleSystem): any {
  const js = compileExample(file, system);
  const r = spawnSync(process.execPath, [js], { cwd: root, env: plainEnv(), encoding: 'utf8', timeout: 100_000 });
  assert.equal(r.status, 0, `${file} as ${system} failed (status ${r.status}, signal ${r.signal}):\n${r.stderr}\n${r.stdout}`);
  const last = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(last);
}

for (const system of systems) {
  describe(`README examples as ${system === 'cjs' ? 'CommonJS (require)' : 'ES modules (import)'} from dist`, () => {
    test('quick start: 40 calls, balanced over both zone-a servers, none cross-zone', { timeout: 120_000 }, () => {
      assertBuilt();
      // The quick start is written twice, as users copy it: quick-start.cjs (require) and quick-start.mjs (import).
      const file = join(root, 'examples', 'readme', system === 'cjs' ? 'quick-start.cjs' : 'quick-start.mjs');
      const r = spawnSync(process.execPath, [file], { cwd: root, env: plainEnv(), encoding: 'utf8', timeout: 100_000 });
      assert.equal(r.status, 0, `${file} failed (status ${r.status}, signal ${r.signal}):\n${r.stderr}\n${r.stdout}`);
      const seen = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>;
      assert.equal(Object.values(seen).reduce((a, b) => a + b, 0), 40);
      assert.deepEqual(Object.keys(seen).sort(), ['zone-a-0', 'zone-a-1'], JSON.stringify(seen));
    });

    test('retries: timed-out attempts are retried on another server; UNAVAILABLE gets one attempt', { timeout: 120_000 }, () => {
      assertBuilt();
      const out = runToEnd('examples/readme/retries.ts', system);
      assert.equal(out.answers.length, 20);
      for (const a of out.answers) {
        assert.equal(a.code, 0, `every call answered: ${JSON.stringify(a)}`);
        assert.equal(a.server, 'c', 'never by a stalled server');
      }
      assert.ok(out.stalledAttempts >= 1, `some attempts went to a stalled server and were retried elsewhere: ${JSON.stringify(out)}`);
      assert.equal(out.unavailable.code, 14);
      assert.equal(out.attemptsForUnavailable, 1, 'UNAVAILABLE: exactly one attempt');
    });

    test('newest connection: the older stream of the same client ends ABORTED, the newer flows', { timeout: 120_000 }, () => {
      assertBuilt();
      const out = runToEnd('examples/readme/newest-stream.ts', system);
      assert.equal(out.older.code, 10);
      assert.match(out.older.details, /superseded by a newer \/fairway\.test\.Echo\/ServerStream stream from peer instance "quote-desk-7"/);
      assert.equal(out.newerFlowing, true);
    });

    test('Kubernetes: the k8s-client example loads @kubernetes/client-node (ESM-only, imported lazily) and calls a pod', { timeout: 120_000 }, async () => {
      assertBuilt();
      // Runs the example in a child while this process serves the API stand-in and the pod, so the child is
      // spawned asynchronously (spawnSync would block the servers it calls).
      const api = await startKubeApiStandIn();
      const pod = await startEchoBackend({ id: 'k8s-pod-0', zone: 'zone-a' });
      const dir = mkdtempSync(join(tmpdir(), 'fairway-module-systems-k8s-'));
      try {
        api.applySlice(
          makeEndpointSlice({
            name: 'echo-0',
            namespace: 'demo',
            service: 'echo',
            ports: [{ name: 'grpc', port: pod.port }],
            endpoints: [{ ip: '127.0.0.1', pod: 'echo-0', podUid: 'uid-echo-0', zone: 'zone-a' }],
          }),
        );
        const caFile = join(dir, 'ca.pem');
        writeFileSync(caFile, api.caPem);
        const env = { K8S_API_URL: api.url, K8S_TOKEN: api.token, K8S_CA_FILE: caFile, FAIRWAY_ZONE: 'zone-a' };
        const child = spawn(process.execPath, [compileExample('examples/readme/k8s-client.ts', system)], { cwd: root, env: plainEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
        const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
        clearTimeout(timer);
        assert.equal(code, 0, out);
        assert.match(out, /answered by k8s-pod-0/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
        pod.forceStop();
        await api.close();
      }
    });

    describe('telemetry: client and server examples make one trace (with retry on)', () => {
      let receiver: OtlpReceiver | undefined;
      const children: ChildProcess[] = [];
      after(async () => {
        for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
        await receiver?.close();
      });

      function start(file: string, env: Record<string, string>) {
        const child = spawn(process.execPath, [compileExample(file, system)], { cwd: root, env: plainEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
        children.push(child);
        let out = '';
        child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
        const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
        return { child, out: () => out, exit };
      }

      test('a client span, an attempt span and the server span share one trace', { timeout: 150_000 }, async () => {
        assertBuilt();
        receiver = await startOtlpReceiver();
        const server = start('examples/readme/telemetry-server.ts', { PRICER_BIND: '127.0.0.1:0', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.httpEndpoint });
        const port = await new Promise<number>((resolve, reject) => {
          const check = () => {
            const m = /listening on (\d+)/.exec(server.out());
            if (m) resolve(Number(m[1]));
          };
          server.child.stdout!.on('data', check);
          server.exit.then((code) => reject(new Error(`server exited ${code} before listening:\n${server.out()}`)));
        });
        const client = start('examples/readme/telemetry-client.ts', {
          PRICER_TARGET: `static:///127.0.0.1:${port}@eu-west-1a`,
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.grpcEndpoint,
        });
        assert.equal(await client.exit, 0, client.out());
        assert.match(client.out(), /ok: open Jaeger/);
        server.child.kill('SIGTERM');
        assert.equal(await server.exit, 0, server.out());
        const spans = await receiver.waitForSpans(
          (s) => s.some((x) => x.serviceName === 'pricer') && s.filter((x) => x.serviceName === 'quote-driver').length >= 2,
          30_000,
        );
        const call = spans.find((s) => s.serviceName === 'quote-driver' && s.name === 'fairway.test.Echo/Unary');
        const attempt = spans.find((s) => s.serviceName === 'quote-driver' && s.name === 'fairway.test.Echo/Unary attempt 1');
        const served = spans.find((s) => s.serviceName === 'pricer' && s.name === 'fairway.test.Echo/Unary');
        assert.ok(call && attempt && served, spans.map((s) => `${s.serviceName}:${s.name}`).join(', '));
        assert.equal(attempt.parentSpanId, call.spanId);
        assert.equal(served.parentSpanId, attempt.spanId);
        assert.equal(served.traceId, call.traceId);
      });
    });
  });
}
