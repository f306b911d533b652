// Kubernetes API faults under load, end to end (createClient from fairway, `k8s:` target, the API stand-in):
// watch streams dropped again and again, history compacted while disconnected (410 Gone -> re-list), and the
// API server unreachable for a while, with pods coming and going between the faults. No call fails, every
// call is accounted for (ledger), and after each fault the client's set is exactly the Service's set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials } from '@grpc/grpc-js';
import { startKubeApiStandIn, makeEndpointSlice, startEchoBackend, loadEcho } from '@fairway/testing';
import type { EchoBackend } from '@fairway/testing';
import { createClient } from 'fairway-grpc';
import { sleep, startEchoLoad, stopAfterTests } from './support/under-load.js';

const { EchoClient } = loadEcho();
const started = stopAfterTests();
const { backends } = started;
const ns = 'rel';
const slice = (b: EchoBackend) =>
  makeEndpointSlice({ name: `echo-${b.id}`, namespace: ns, service: 'echo', ports: [{ name: 'grpc', port: b.port }], endpoints: [{ ip: '127.0.0.1', pod: b.id, podUid: `uid-${b.id}`, zone: 'zone-a' }] });

test('dropped watch streams, 410 Gone and an unreachable API server under load: no call fails; the set follows the Service', { timeout: 150_000 }, async () => {
  const a = await startKubeApiStandIn();
  started.discovery = a;
  const pool: EchoBackend[] = [];
  for (let i = 1; i <= 5; i++) {
    const b = await startEchoBackend({ id: `p${i}`, zone: 'zone-a', serviceTimeMs: 3 });
    backends.push(b);
    pool.push(b);
  }
  const [p1, p2, p3, p4, p5] = pool as [EchoBackend, EchoBackend, EchoBackend, EchoBackend, EchoBackend];
  for (const b of [p1, p2, p3]) a.applySlice(slice(b));
  const c = createClient(EchoClient, `k8s:///echo.${ns}:grpc`, credentials.createInsecure(), {
    zone: 'zone-a',
    discovery: { kubernetes: { apiServerUrl: a.url, token: a.token, caPem: a.caPem, retryInitialMs: 100, retryMaxMs: 800 } },
  });
  started.client = c;
  const load = startEchoLoad(c, { workers: 4, callsPerWorker: 50_000, pauseMs: 2, hardStopMs: 120_000 });
  const { ledger } = load;
  /** Waits until the last `n` replies came exactly from `ids` (all of them, nothing else). */
  const servedExactly = async (ids: string[], what: string) => {
    const want = [...ids].sort().join();
    const deadline = Date.now() + 30_000;
    let seen = '';
    while (Date.now() < deadline) {
      const since = Date.now();
      await sleep(600);
      seen = [...load.servedBy(since)].sort().join();
      if (seen === want) return;
    }
    assert.fail(`${what}: served by ${seen}, wanted ${want}`);
  };
  try {
    await servedExactly(['p1', 'p2', 'p3'], 'initial set');

    // Watch streams dropped three times, with a change after each.
    ledger.kill('watch streams dropped (x3)');
    a.dropWatches();
    a.applySlice(slice(p4));
    await sleep(300);
    a.dropWatches();
    a.deleteSlice(ns, 'echo-p1');
    await sleep(300);
    a.dropWatches();
    await servedExactly(['p2', 'p3', 'p4'], 'after dropped streams');

    // History compacted while disconnected: the re-watch gets 410 Gone and the source re-lists.
    ledger.kill('history compacted + streams dropped (410 Gone)');
    const listsBefore = a.requests.filter((r) => !r.watch && r.path.includes(`/${ns}/`)).length;
    a.dropWatches();
    a.applySlice(slice(p5));
    a.deleteSlice(ns, 'echo-p2');
    a.compactHistory();
    await servedExactly(['p3', 'p4', 'p5'], 'after 410 Gone');
    const listsAfter = a.requests.filter((r) => !r.watch && r.path.includes(`/${ns}/`)).length;

    // The API server unreachable for 4 s: the last good set keeps serving; then changes arrive again.
    ledger.kill('API server unreachable for 4 s');
    await a.setReachable(false);
    await sleep(4_000);
    await a.setReachable(true);
    a.applySlice(slice(p1));
    await servedExactly(['p1', 'p3', 'p4', 'p5'], 'after the API server came back');

    await load.stop();
    await ledger.drain(15_000);
    const summary = ledger.assertAllAccounted();
    console.log(`[kubernetes-faults] ${summary}; lists ${listsBefore} -> ${listsAfter} (the 410 Gone ERROR event made it list again)`);
    for (const r of ledger.killReport()) console.log(`[kubernetes-faults] ${r.what}: ${r.inFlight} in flight, ${r.failedIssuedAfter} failed after it`);
    assert.ok(listsAfter > listsBefore, 'the source listed again after 410 Gone');
    const failed = ledger.entries.filter((x) => x.result && !x.result.ok);
    assert.deepEqual(failed.map((x) => x.result), [], 'no call failed');
  } finally {
    await load.stop();
  }
});
