// etcd faults under load, end to end (createClient from fairway, `etcd:` target, registrar, real 3-member etcd):
// the leader killed, then every member down for 10 s. Discovery keeps the last good set meanwhile, so no call
// fails; after etcd returns the watch resumes (a registration made then is seen). A call ledger accounts for
// every call (a reply or a status with details; none hanging).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials } from '@grpc/grpc-js';
import { startEtcd, startEchoBackend, loadEcho } from '@fairway/testing';
import { createClient, registerInEtcd } from 'fairway-grpc';
import { sleep, startEchoLoad, stopAfterTests } from './support/under-load.js';

const { EchoClient } = loadEcho();
const quiet = { info() {}, warn() {}, error() {} };
const started = stopAfterTests();
const { backends, registrations } = started;

test('etcd leader killed, then all of etcd down for 10 s, under load: no call fails, every call accounted for, the watch resumes', { timeout: 150_000 }, async () => {
  const e = await startEtcd({ members: 3, startTimeoutMs: 60_000 });
  started.discovery = e;
  const connection = { endpoints: e.endpoints, maxBackoffMs: 500, logger: quiet };
  for (const id of ['e1', 'e2', 'e3']) {
    const b = await startEchoBackend({ id, serviceTimeMs: 5 });
    backends.push(b);
    registrations.push(await registerInEtcd({ service: 'rel-etcd', address: b.address, instance: id, ...connection }));
  }
  const c = createClient(EchoClient, 'etcd:///rel-etcd', credentials.createInsecure(), {
    discovery: { etcd: connection },
    retry: { attemptTimeoutMs: 2_000, maxAttempts: 3, retryIntervalMs: 20 },
  });
  started.client = c;
  const load = startEchoLoad(c, { workers: 4, callsPerWorker: 50_000, pauseMs: 2, hardStopMs: 120_000 });
  const { ledger, servedBy } = load;
  try {
    const t0 = Date.now();
    for (let i = 0; i < 600 && servedBy(t0).size < 3; i++) await sleep(25);
    assert.equal(servedBy(t0).size, 3, 'all three registered backends serve before the faults');

    // 1. Kill the leader; the two others elect a new one. Then bring the member back.
    const leaderKill = ledger.kill('etcd leader kill -9');
    const killed = await e.killLeader();
    leaderKill.done();
    await sleep(2_000);
    await e.start(killed);
    await sleep(1_000);

    // 2. Every member down for 10 s.
    const down = ledger.kill('all etcd members kill -9 for 10 s');
    await Promise.all([0, 1, 2].map((i) => e.kill(i)));
    const downAt = Date.now();
    await sleep(10_000);
    const duringOutage = ledger.entries.filter((x) => x.startedAt >= downAt && x.result?.ok).length;
    await Promise.all([0, 1, 2].map((i) => e.start(i)));
    down.done();
    await e.waitHealthy(30_000);

    // 3. The watch resumed: a backend registered now receives calls.
    const late = await startEchoBackend({ id: 'e4', serviceTimeMs: 5 });
    backends.push(late);
    registrations.push(await registerInEtcd({ service: 'rel-etcd', address: late.address, instance: 'e4', ...connection }));
    const t4 = Date.now();
    for (let i = 0; i < 1200 && !servedBy(t4).has('e4'); i++) await sleep(25);

    await load.stop();
    await ledger.drain(15_000);
    const summary = ledger.assertAllAccounted();
    console.log(`[etcd-faults] ${summary}; ${duringOutage} replies while every etcd member was down`);
    for (const r of ledger.killReport()) console.log(`[etcd-faults] ${r.what}: ${r.inFlight} calls in flight, ${r.failedIssuedAfter} failed among calls issued after it`);
    const failed = ledger.entries.filter((x) => x.result && !x.result.ok);
    assert.deepEqual(failed.map((x) => x.result), [], 'no call failed');
    assert.ok(duringOutage >= 50, `calls kept succeeding on the last good set while etcd was down: ${duringOutage}`);
    assert.ok(servedBy(t4).has('e4'), 'a backend registered after the outage receives calls (the watch resumed)');
  } finally {
    await load.stop();
  }
});
