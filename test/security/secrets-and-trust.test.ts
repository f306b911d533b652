// Two claims of SECURITY.md not covered elsewhere:
// 1. The Kubernetes API server's certificate is verified against the configured CA: a source given another CA
//    gets no endpoints, and its error names the API server (never the token).
// 2. Metadata values never appear in Fairway's log lines or in the statuses it writes: calls carrying a secret in
//    metadata to an endpoint that refuses connections, to one that times out (retries), and through a retry
//    budget refusal; every log line (default logger and the client's logger) and every status is searched.
// (Span and metric attributes: packages/telemetry/src/chain.test.ts; the token in 401/403 errors and logs:
// packages/discovery-kubernetes/src/kubernetes-source.test.ts; etcd passwords: packages/discovery-etcd/src/source.test.ts.)
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata, credentials } from '@grpc/grpc-js';
import type { Client } from '@grpc/grpc-js';
import { parseTarget } from '@fairway/core';
import type { DiscoveryError, EndpointSnapshot } from '@fairway/core';
import { createKubernetesSource } from '@fairway/discovery-kubernetes';
import { startKubeApiStandIn, makeEndpointSlice, startEchoBackend, loadEcho, echoUnary, startRefusingEndpoint } from '@fairway/testing';
import type { KubeApiStandIn, EchoBackend } from '@fairway/testing';
import { createClient, setDefaultLogger } from 'fairway-grpc';

const dir = mkdtempSync(join(tmpdir(), 'fairway-sec-'));
let api: KubeApiStandIn | undefined;
const backends: EchoBackend[] = [];
const clients: Client[] = [];
after(async () => {
  for (const c of clients) c.close();
  for (const b of backends) b.forceStop();
  await api?.close();
  rmSync(dir, { recursive: true, force: true });
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('the Kubernetes API server certificate is checked against the configured CA', { timeout: 60_000 }, async () => {
  api = await startKubeApiStandIn();
  api.applySlice(makeEndpointSlice({ name: 's1', namespace: 'ns', service: 'pricer', ports: [{ name: 'grpc', port: 50051 }], endpoints: [{ ip: '10.0.0.1', pod: 'p1' }] }));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=not-the-cluster-ca', '-keyout', 'k.pem', '-out', 'ca.pem'], { cwd: dir, stdio: 'ignore' });
  const wrongCa = readFileSync(join(dir, 'ca.pem'), 'utf8');
  const token = `tok-${randomBytes(16).toString('hex')}`;
  const logs: string[] = [];
  const snapshots: EndpointSnapshot[] = [];
  const errors: DiscoveryError[] = [];
  const logger = { info: (m: string) => logs.push(m), warn: (m: string) => logs.push(m), error: (m: string) => logs.push(m) };
  const run = async (caPem: string, bearer: string) => {
    snapshots.length = 0;
    errors.length = 0;
    const src = createKubernetesSource(parseTarget('k8s:///pricer.ns:grpc'), { apiServerUrl: api!.url, token: bearer, caPem, retryInitialMs: 50, retryMaxMs: 200, logger });
    src.start({ onSnapshot: (s) => snapshots.push(s), onError: (e) => errors.push(e) });
    const until = Date.now() + 15_000;
    while (snapshots.length === 0 && errors.length === 0 && Date.now() < until) await sleep(20);
    await sleep(300);
    await src.close();
  };
  await run(wrongCa, token);
  assert.equal(snapshots.filter((s) => s.endpoints.length > 0).length, 0, 'no endpoints from a server the CA does not vouch for');
  assert.ok(errors.length > 0, 'an error is reported');
  const text = JSON.stringify({ errors, logs, causes: errors.map((e) => String((e as { cause?: unknown }).cause)) });
  assert.ok(errors.some((e) => e.message.includes(api!.url)), `the error names the API server: ${errors.map((e) => e.message).join(' | ')}`);
  assert.ok(/certificate|self.signed|issuer|verify/i.test(text), `the error says it is a certificate problem: ${text.slice(0, 600)}`);
  assert.ok(!text.includes(token), 'the token is never printed');
  // The right CA works (the check is what refused it, not something else).
  await run(api.caPem, api.token);
  assert.equal(snapshots.at(-1)?.endpoints.length, 1);
});

test('metadata values never appear in log lines or in statuses, whatever happens to the call', { timeout: 60_000 }, async (t) => {
  const secret = `secret-${randomBytes(12).toString('hex')}`;
  const lines: string[] = [];
  const capture = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
  setDefaultLogger(capture);
  // A port that refuses connections, held by this test (never released for another process to take).
  const refusing = await startRefusingEndpoint();
  t.after(() => refusing.close());
  const refused = refusing.port;
  const slow = await startEchoBackend({ id: 'slow', serviceTimeMs: 3_000 });
  const fine = await startEchoBackend({ id: 'fine' });
  backends.push(slow, fine);
  const { EchoClient } = loadEcho();
  const make = (target: string, retry?: Record<string, unknown>) => {
    const c = createClient(EchoClient, target, credentials.createInsecure(), { logger: capture, ...(retry ? { retry } : {}) });
    clients.push(c);
    return c;
  };
  const md = () => {
    const m = new Metadata();
    m.set('authorization', `Bearer ${secret}`);
    m.set('x-api-key', secret);
    m.set('x-session-bin', Buffer.from(secret));
    return m;
  };
  const statuses: string[] = [];
  const call = async (c: Client, deadlineMs: number) => {
    const r = await echoUnary(c, { message: 'hello' }, { deadlineMs, metadata: md() });
    statuses.push(JSON.stringify(r));
    return r;
  };
  // Refused connection: UNAVAILABLE.
  const r1 = await call(make(`static:///127.0.0.1:${refused}`), 5_000);
  assert.equal(r1.ok, false);
  // Attempts time out and are retried, then the call deadline ends it.
  const r2 = await call(make(`static:///${slow.address}`, { attemptTimeoutMs: 200, maxAttempts: 3, retryIntervalMs: 10 }), 2_000);
  assert.equal(r2.ok, false);
  // A retry budget of zero refuses the retry.
  const r3 = await call(make(`static:///${slow.address}`, { attemptTimeoutMs: 200, maxAttempts: 3, budget: { ratio: 0, minPerSecond: 0 } }), 2_000);
  assert.equal(r3.ok, false);
  // A good call, for completeness (its reply echoes only the message).
  const r4 = await call(make(`static:///${fine.address}`), 5_000);
  assert.equal(r4.ok, true);
  await sleep(200);
  const everything = [...lines, ...statuses].join('\n');
  assert.ok(!everything.includes(secret), 'a metadata value appeared in a log line or a status');
  assert.ok(!everything.includes(Buffer.from(secret).toString('base64')), 'a binary metadata value appeared (base64)');
  console.log(`[secrets] statuses: ${statuses.map((s) => s.slice(0, 160)).join(' | ')}`);
  assert.ok(statuses.length === 4);
});
