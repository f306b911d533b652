// The k8s: source's peer place (for deterministic subsetting), against the Kubernetes API stand-in: the clients
// are the Pods behind their own Service; each snapshot of the target carries this Pod's rank among them, and a
// change in the clients' Service moves it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { parseTarget } from '@fairway/core';
import { startKubeApiStandIn, makeEndpointSlice } from '@fairway/testing';
import { createKubernetesSource, onUnusedEndpointsChange, unusedEndpointsOf } from './index.js';
import { recorder, waitFor } from './test-helpers.js';

/** The source of k8s:///pricer.game:grpc for a client that is Pod trader-c behind Service trader. */
function pricerSourceAsTraderC(api: Awaited<ReturnType<typeof startKubeApiStandIn>>, rec: ReturnType<typeof recorder>) {
  return createKubernetesSource(parseTarget('k8s:///pricer.game:grpc'), {
    apiServerUrl: api.url,
    token: api.token,
    caPem: api.caPem,
    retryInitialMs: 20,
    retryMaxMs: 200,
    logger: rec.logger,
    peers: { target: 'k8s:///trader.game:grpc', podName: 'trader-c' },
  });
}

test('a client learns its place among the Pods of its own Service, and a new peer moves it', { timeout: 60_000 }, async () => {
  const api = await startKubeApiStandIn({ bookmarkIntervalMs: 200 });
  const rec = recorder();
  const pod = (name: string, i: number) => ({ ip: `10.2.0.${i}`, pod: name, zone: 'zone-a' });
  api.applySlice(makeEndpointSlice({ name: 'pricer-1', namespace: 'game', service: 'pricer', ports: [{ name: 'grpc', port: 50051 }], endpoints: [pod('pricer-a', 1), pod('pricer-b', 2)] }));
  api.applySlice(makeEndpointSlice({ name: 'trader-1', namespace: 'game', service: 'trader', ports: [{ name: 'grpc', port: 50051 }], endpoints: [pod('trader-b', 11), pod('trader-c', 12)] }));
  const src = pricerSourceAsTraderC(api, rec);
  after(async () => {
    await src.close();
    await api.close();
  });
  src.start(rec);
  await waitFor('a place of 2', () => rec.snapshots.at(-1)?.peers?.count === 2);
  assert.deepEqual(rec.snapshots.at(-1)!.peers, { index: 1, count: 2 });
  assert.equal(rec.snapshots.at(-1)!.endpoints.length, 2, 'the endpoints are the target\'s, not the peers\'');
  api.applySlice(makeEndpointSlice({ name: 'trader-1', namespace: 'game', service: 'trader', ports: [{ name: 'grpc', port: 50051 }], endpoints: [pod('trader-a', 10), pod('trader-b', 11), pod('trader-c', 12)] }));
  await waitFor('a place of 3', () => rec.snapshots.at(-1)?.peers?.count === 3);
  assert.deepEqual(rec.snapshots.at(-1)!.peers, { index: 2, count: 3 });
});

test('unusedEndpointsOf and onUnusedEndpointsChange see through the peers wrapper: the target\'s Pods, not the peers\'', { timeout: 60_000 }, async () => {
  const api = await startKubeApiStandIn({ bookmarkIntervalMs: 200 });
  const rec = recorder();
  const pod = (name: string, i: number, ready = true) => ({ ip: `10.2.0.${i}`, pod: name, zone: 'zone-a', ready, serving: ready });
  const pricers = (...eps: ReturnType<typeof pod>[]) => makeEndpointSlice({ name: 'pricer-1', namespace: 'game', service: 'pricer', ports: [{ name: 'grpc', port: 50051 }], endpoints: eps });
  api.applySlice(pricers(pod('pricer-a', 1)));
  // A not-ready peer: it must not show as one of the target's unused endpoints.
  api.applySlice(makeEndpointSlice({ name: 'trader-1', namespace: 'game', service: 'trader', ports: [{ name: 'grpc', port: 50051 }], endpoints: [pod('trader-c', 12), pod('trader-d', 13, false)] }));
  const src = pricerSourceAsTraderC(api, rec);
  const told: string[][] = [];
  try {
    assert.equal(onUnusedEndpointsChange(src, (unused) => told.push(unused.map((e) => `${e.address} ready=${e.ready}`))), true);
    src.start(rec);
    await waitFor('a place', () => rec.snapshots.at(-1)?.peers?.count === 1);
    assert.deepEqual(unusedEndpointsOf(src), []);
    api.applySlice(pricers(pod('pricer-a', 1), pod('pricer-b', 2, false)));
    await waitFor('told of the not-ready pricer', () => told.length === 1);
    assert.deepEqual(told, [['10.2.0.2:50051 ready=false']]);
    assert.deepEqual(unusedEndpointsOf(src)?.map((e) => e.address), ['10.2.0.2:50051']);
  } finally {
    await src.close();
    await api.close();
  }
});

test('peers without a Pod name (no podName, no HOSTNAME) is an error naming the option', () => {
  const saved = process.env['HOSTNAME'];
  delete process.env['HOSTNAME'];
  try {
    assert.throws(() => createKubernetesSource(parseTarget('k8s:///pricer.game:grpc'), { peers: { target: 'k8s:///trader.game:grpc' } }), /discovery\.kubernetes\.peers: no podName/);
  } finally {
    if (saved !== undefined) process.env['HOSTNAME'] = saved;
  }
});

test('a peers source that fails (403 in the clients\' namespace) is said once per interval, as a warning naming the option, not also as an error', { timeout: 60_000 }, async () => {
  const api = await startKubeApiStandIn({ tokens: [{ token: 'game-only', namespaces: ['game'] }] });
  const rec = recorder();
  api.applySlice(makeEndpointSlice({ name: 'pricer-1', namespace: 'game', service: 'pricer', ports: [{ name: 'grpc', port: 50051 }], endpoints: [{ ip: '10.2.0.1', pod: 'pricer-a', zone: 'zone-a' }] }));
  const src = createKubernetesSource(parseTarget('k8s:///pricer.game:grpc'), {
    apiServerUrl: api.url,
    token: 'game-only',
    caPem: api.caPem,
    retryInitialMs: 20,
    retryMaxMs: 50,
    logger: rec.logger,
    peers: { target: 'k8s:///trader.elsewhere:grpc', podName: 'trader-c' },
  });
  try {
    src.start(rec);
    await waitFor('the endpoints', () => (rec.snapshots.at(-1)?.endpoints.length ?? 0) === 1);
    await waitFor('the peers failure', () => rec.logs.some((l) => l.includes('403')));
    await new Promise((r) => setTimeout(r, 300)); // several more failed tries of the peers source
  } finally {
    await src.close();
    await api.close();
  }
  const said = rec.logs.filter((l) => l.includes('403'));
  assert.equal(said.length, 1, rec.logs.join('\n'));
  assert.match(said[0]!, /^warn: k8s target "k8s:\/\/\/pricer\.game:grpc": discovery\.kubernetes\.peers: .*403 Forbidden.*; keeping the last known place$/);
  assert.deepEqual(rec.errors, [], 'the target\'s own source is fine');
});
