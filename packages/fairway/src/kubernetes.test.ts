// End to end: `createClient` from `fairway-grpc` with a `k8s:` target, the Kubernetes API stand-in (HTTPS, real
// list/watch protocol) and real grpc-js Echo backends on loopback. Each backend listens on its own port of
// 127.0.0.1, so each pod has its own EndpointSlice (as the EndpointSlice controller does for pods whose named
// port resolves to different numbers).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, type Client } from '@grpc/grpc-js';
import { startKubeApiStandIn, makeEndpointSlice, startEchoBackend, loadEcho, type KubeApiStandIn, type EchoBackend, type EchoReply } from '@fairway/testing';
import { createClient } from './index.js';
import { childNodeArgs } from '@fairway/testing';

type EchoClient = Client & {
  Unary(req: { message: string }, opts: { deadline: number }, cb: (err: Error | null, reply?: EchoReply) => void): void;
};

const root = new URL('../../..', import.meta.url).pathname;

function podSlice(ns: string, backend: EchoBackend, pod: string, cond: { ready?: boolean; serving?: boolean; terminating?: boolean } = {}) {
  return makeEndpointSlice({
    name: `echo-${pod}`,
    namespace: ns,
    service: 'echo',
    ports: [{ name: 'grpc', port: backend.port }],
    endpoints: [{ ip: '127.0.0.1', pod, podUid: `uid-${pod}`, zone: 'zone-a', ...cond }],
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('k8s: targets through createClient from fairway', { timeout: 90_000 }, () => {
  let api: KubeApiStandIn;
  const backends: EchoBackend[] = [];
  const clients: Client[] = [];
  before(async () => {
    api = await startKubeApiStandIn();
  });
  after(async () => {
    for (const c of clients) c.close();
    for (const b of backends) b.forceStop();
    await api.close();
  });
  async function backend(id: string): Promise<EchoBackend> {
    const b = await startEchoBackend({ id, zone: 'zone-a' });
    backends.push(b);
    return b;
  }
  function client(ns: string): EchoClient {
    const { EchoClient } = loadEcho();
    const c = createClient(EchoClient, `k8s:///echo.${ns}:grpc`, credentials.createInsecure(), {
      zone: 'zone-a',
      discovery: { kubernetes: { apiServerUrl: api.url, token: api.token, caPem: api.caPem, retryInitialMs: 50, retryMaxMs: 500 } },
    }) as unknown as EchoClient;
    clients.push(c);
    return c;
  }
  const call = (c: EchoClient) =>
    new Promise<EchoReply>((resolve, reject) => c.Unary({ message: 'hi' }, { deadline: Date.now() + 5000 }, (err, reply) => (err ? reject(err) : resolve(reply!))));

  test('a rolling update (old pods serving+terminating, then gone; new pods become ready) under load fails no call', async () => {
    const ns = 'rolling';
    const old = [await backend('old-0'), await backend('old-1'), await backend('old-2')];
    old.forEach((b, i) => api.applySlice(podSlice(ns, b, `old-${i}`)));
    const c = client(ns);
    await call(c); // the first call waits for discovery
    let ok = 0;
    const failures: string[] = [];
    let running = true;
    const workers = Array.from({ length: 6 }, async () => {
      for (let n = 0; running && n < 100_000; n++) {
        try {
          await call(c);
          ok++;
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
    });
    try {
      await sleep(400);
      // New pods start (not ready yet); then every old pod is told to terminate before any new one is ready:
      // nothing is ready, so the old pods that still serve while terminating carry the calls (KEP-1669).
      const fresh = [await backend('new-0'), await backend('new-1'), await backend('new-2')];
      fresh.forEach((b, i) => api.applySlice(podSlice(ns, b, `new-${i}`, { ready: false, serving: false })));
      old.forEach((b, i) => api.applySlice(podSlice(ns, b, `old-${i}`, { ready: false, serving: true, terminating: true })));
      await sleep(300);
      const oldAtFallback = old.reduce((s, b) => s + b.counts.unary, 0);
      await sleep(500);
      const oldAfterFallback = old.reduce((s, b) => s + b.counts.unary, 0);
      assert.ok(oldAfterFallback > oldAtFallback, 'the serving+terminating pods kept serving while none was ready');
      // New pods become ready one by one.
      for (let i = 0; i < 3; i++) {
        api.applySlice(podSlice(ns, fresh[i]!, `new-${i}`));
        await sleep(300);
      }
      // Old pods leave the EndpointSlices (grace period: the client has moved on), then stop.
      await sleep(700);
      const newBeforeCutover = fresh.reduce((s, b) => s + b.counts.unary, 0);
      old.forEach((_, i) => api.deleteSlice(ns, `echo-old-${i}`));
      await sleep(500);
      const oldAtStop = old.reduce((s, b) => s + b.counts.unary, 0);
      await Promise.all(old.map((b) => b.stop()));
      await sleep(600);
      assert.equal(old.reduce((s, b) => s + b.counts.unary, 0), oldAtStop, 'no call reached a stopped pod');
      assert.ok(fresh.every((b) => b.counts.unary > 0), `every new pod served: ${fresh.map((b) => b.counts.unary)}`);
      assert.ok(fresh.reduce((s, b) => s + b.counts.unary, 0) > newBeforeCutover);
    } finally {
      running = false;
      await Promise.all(workers);
    }
    assert.deepEqual(failures, [], `${failures.length} of ${ok + failures.length} calls failed`);
    assert.ok(ok > 100, `only ${ok} calls ran`);
  });

  test('every slice is used: 16 pods in 16 EndpointSlices all receive calls', async () => {
    const ns = 'many';
    const pods = await Promise.all(Array.from({ length: 16 }, (_, i) => backend(`many-${i}`)));
    pods.forEach((b, i) => api.applySlice(podSlice(ns, b, `many-${i}`)));
    const c = client(ns);
    await call(c);
    for (let round = 0; round < 40; round++) await Promise.all(Array.from({ length: 16 }, () => call(c)));
    const counts = pods.map((b) => b.counts.unary);
    assert.ok(counts.every((n) => n > 0), `calls per pod: ${counts}`);
  });

  test('IPv6 pods: an IPv6 EndpointSlice reaches backends on ::1', async () => {
    const ns = 'six';
    const pods = [await startEchoBackend({ id: 'v6-0', host: '::1' }), await startEchoBackend({ id: 'v6-1', host: '::1' })];
    backends.push(...pods);
    pods.forEach((b, i) =>
      api.applySlice(makeEndpointSlice({ name: `echo-v6-${i}`, namespace: ns, service: 'echo', addressType: 'IPv6', ports: [{ name: 'grpc', port: b.port }], endpoints: [{ ip: '::1', pod: `v6-${i}` }] })),
    );
    const c = client(ns);
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) seen.add((await call(c)).server_id);
    assert.deepEqual([...seen].sort(), ['v6-0', 'v6-1']);
  });

  test('README example examples/readme/k8s-client.ts runs against the stand-in', async () => {
    const ns = 'demo';
    const b = await backend('readme-echo');
    api.applySlice(podSlice(ns, b, 'echo-0'));
    const dir = mkdtempSync(join(tmpdir(), 'fairway-readme-k8s-'));
    try {
      const caFile = join(dir, 'ca.pem');
      writeFileSync(caFile, api.caPem);
      const child = spawn(process.execPath, [...childNodeArgs(), join(root, 'examples/readme/k8s-client.ts')], {
        cwd: root,
        env: { ...process.env, K8S_API_URL: api.url, K8S_TOKEN: api.token, K8S_CA_FILE: caFile, FAIRWAY_ZONE: 'zone-a' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      const code = await new Promise<number | null>((resolve) => {
        const t = setTimeout(() => child.kill("SIGKILL"), 50_000);
        child.on('exit', (c) => {
          clearTimeout(t);
          resolve(c);
        });
      });
      assert.equal(code, 0, `exit ${code}\nstdout:\n${out}\nstderr:\n${err}`);
      assert.match(out, /readme-echo/);
      assert.ok(!out.includes(api.token) && !err.includes(api.token));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
