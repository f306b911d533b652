// The connect transport's discovery: the same sources as the grpc-js path. A real etcd with registered
// connect-node servers (added and removed while calls run), zone preference from static targets, multi
// targets, and the clear error when a scheme's package is not installed.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@connectrpc/connect';
import { captureStderr, makeEndpointSlice, startEtcdForSuite, startKubeApiStandIn, startRefusingEndpoint } from '@fairway/testing';
import { register } from '@fairway/discovery-etcd';
import type { Registration } from '@fairway/discovery-etcd';
import { createFairwayTransport, MissingDiscoveryPackageError, simulateMissingPackagesForTests } from './index.js';
import type { FairwayTransport } from './index.js';
import { Echo, startEchoServer } from './test-support/echo.js';
import type { EchoServer } from './test-support/echo.js';

interface EchoClient {
  say(req: { value: string }, opts?: { timeoutMs?: number }): Promise<{ value: string }>;
}
const quiet = { info() {}, warn() {} };
const servers: EchoServer[] = [];
const transports: FairwayTransport[] = [];
const registrations: Registration[] = [];
after(async () => {
  await Promise.all(transports.map((t) => t.close()));
  await Promise.all(servers.map((s) => s.close()));
});
async function start(name: string, delayMs = 0): Promise<EchoServer> {
  const s = await startEchoServer(name, delayMs);
  servers.push(s);
  return s;
}
function transport(options: Parameters<typeof createFairwayTransport>[0]): { t: FairwayTransport; client: EchoClient } {
  const t = createFairwayTransport({ logger: quiet, ...options });
  transports.push(t);
  return { t, client: createClient(Echo, t) as unknown as EchoClient };
}
async function countBy(client: EchoClient, n: number): Promise<Map<string, number>> {
  const by = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const name = (await client.say({ value: String(i) }, { timeoutMs: 5_000 })).value.split(':')[0]!;
    by.set(name, (by.get(name) ?? 0) + 1);
  }
  return by;
}

describe('etcd: targets, a real etcd', { timeout: 120_000 }, () => {
  // Before etcd's own hook, so the registrations and the watching transport end while etcd still runs.
  after(async () => {
    await Promise.all(registrations.map((r) => r.deregister()));
    await Promise.all(transports.splice(0).map((t) => t.close()));
  });
  const etcd = startEtcdForSuite();
  test('endpoints registered in etcd take calls; a deregistered one stops taking them', async () => {
    const a = await start('etcd-a');
    const b = await start('etcd-b');
    registrations.push(await register({ service: 'connect-echo', address: a.address, zone: 'zone-a', instance: 'a', endpoints: etcd.endpoints }));
    const regB = await register({ service: 'connect-echo', address: b.address, zone: 'zone-a', instance: 'b', endpoints: etcd.endpoints });
    registrations.push(regB);
    const { t, client } = transport({
      target: 'etcd:///connect-echo',
      zone: 'zone-a',
      discovery: { etcd: { endpoints: etcd.endpoints, maxBackoffMs: 500, logger: { info() {}, warn() {}, error() {} } } },
    });
    const first = await countBy(client, 60);
    assert.ok((first.get('etcd-a') ?? 0) > 0 && (first.get('etcd-b') ?? 0) > 0, JSON.stringify([...first]));
    await regB.deregister();
    // The watch delivers the removal; then every call goes to a.
    for (let i = 0; i < 200 && t.endpoints().length !== 1; i++) await new Promise((r) => setTimeout(r, 25));
    assert.deepEqual(t.endpoints().map((e) => e.address), [a.address]);
    const after = await countBy(client, 20);
    assert.deepEqual([...after], [['etcd-a', 20]]);
  });
});

test("an unreachable etcd: the transport's logger gets the failure once (the source's line, not the pool's again)", { timeout: 30_000 }, async (t) => {
  const dead = await startRefusingEndpoint();
  t.after(() => dead.close());
  const lines: string[] = [];
  const { client } = transport({
    target: `etcd://127.0.0.1:${dead.port}/connect-echo`,
    logger: { info() {}, warn: (m: string) => lines.push(m) },
    discovery: { etcd: { dialTimeoutMs: 1000 } },
  });
  // Nothing about it on stderr either (the source's own default logger wrote there, the pool to the logger).
  const stderr = captureStderr();
  try {
    await assert.rejects(client.say({ value: 'x' }, { timeoutMs: 4_000 }));
    await new Promise((r) => setTimeout(r, 200));
  } finally {
    stderr.restore();
  }
  const about = lines.filter((l) => l.includes(`127.0.0.1:${dead.port}`));
  assert.equal(about.length, 1, lines.join('\n'));
  assert.ok(!about[0]!.startsWith('etcd://'), `the source's line, not the pool's: ${about[0]}`);
  assert.deepEqual(stderr.containing(`127.0.0.1:${dead.port}`), []);
});

test("multi: with an unreachable etcd part: calls go to the other part; the transport's logger gets the part's failure once, nothing on stderr", { timeout: 30_000 }, async (t) => {
  const dead = await startRefusingEndpoint();
  t.after(() => dead.close());
  const s1 = await start('multi-static');
  const lines: string[] = [];
  const stderr = captureStderr();
  try {
    const { client } = transport({
      target: `multi:///etcd://127.0.0.1:${dead.port}/connect-echo;static:///${s1.address}`,
      logger: { info() {}, warn: (m: string) => lines.push(m) },
      discovery: { etcd: { dialTimeoutMs: 1000 } },
    });
    assert.match((await client.say({ value: 'x' }, { timeoutMs: 5_000 })).value, /^multi-static:/);
    const deadline = Date.now() + 5_000;
    while (!lines.some((l) => l.includes(`127.0.0.1:${dead.port}`)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    stderr.restore();
  }
  const about = lines.filter((l) => l.includes(`127.0.0.1:${dead.port}`));
  assert.equal(about.length, 1, lines.join('\n'));
  assert.match(about[0]!, /part etcd:\/\/127\.0\.0\.1:\d+\/connect-echo: /);
  assert.deepEqual(stderr.containing(`127.0.0.1:${dead.port}`), []);
});

test('k8s: targets (EndpointSlices from an API server stand-in): the slice\'s pods take the calls', { timeout: 60_000 }, async () => {
  const api = await startKubeApiStandIn();
  try {
    const k1 = await start('k8s-1');
    const k2 = await start('k8s-2');
    const port = (s: EchoServer) => Number(s.address.split(':')[1]);
    for (const [i, s] of [k1, k2].entries()) {
      api.applySlice(
        makeEndpointSlice({ name: `echo-${i}`, namespace: 'conn', service: 'echo', ports: [{ name: 'grpc', port: port(s) }], endpoints: [{ ip: '127.0.0.1', pod: `pod-${i}`, podUid: `uid-${i}`, zone: 'zone-a' }] }),
      );
    }
    const { t, client } = transport({
      target: 'k8s:///echo.conn:grpc',
      zone: 'zone-a',
      discovery: { kubernetes: { apiServerUrl: api.url, token: api.token, caPem: api.caPem, retryInitialMs: 50, retryMaxMs: 500 } },
    });
    const by = await countBy(client, 40);
    assert.ok((by.get('k8s-1') ?? 0) > 0 && (by.get('k8s-2') ?? 0) > 0, JSON.stringify([...by]));
    await t.close();
  } finally {
    await api.close();
  }
});

test('zones: a client in zone-a keeps its calls in zone-a while zone-a serves', async () => {
  const a1 = await start('za1');
  const a2 = await start('za2');
  const b1 = await start('zb1');
  const { client } = transport({ target: `static:///${a1.address}@zone-a,${a2.address}@zone-a,${b1.address}@zone-b`, zone: 'zone-a' });
  const by = await countBy(client, 100);
  const inZone = (by.get('za1') ?? 0) + (by.get('za2') ?? 0);
  assert.ok(inZone >= 90, `in-zone ${inZone}/100: ${JSON.stringify([...by])}`);
});

test('multi targets merge their parts', async () => {
  const m1 = await start('m1');
  const m2 = await start('m2');
  const { client } = transport({ target: `multi:///static:///${m1.address};static:///${m2.address}` });
  const by = await countBy(client, 40);
  assert.ok((by.get('m1') ?? 0) > 0 && (by.get('m2') ?? 0) > 0, JSON.stringify([...by]));
});

test('a scheme whose discovery package is not installed fails at creation, naming the install command', () => {
  simulateMissingPackagesForTests(['@fairway/discovery-kubernetes']);
  try {
    assert.throws(
      () => createFairwayTransport({ target: 'k8s:///pricer.trading:50051', logger: quiet }),
      (e: unknown) => e instanceof MissingDiscoveryPackageError && /npm install @fairway\/discovery-kubernetes/.test(e.message),
    );
  } finally {
    simulateMissingPackagesForTests([]);
  }
});
