// An endpoint that registers and deregisters quickly (a crash-looping or flapping instance), against a real
// etcd through the registrar, while a client calls under load: no call fails, every call is accounted for
// (ledger), and afterwards the policy tracks exactly the live set (no leftover connection or balancer row).
// Runs ~15 s by default; FAIRWAY_SOAK=1 runs the full minute.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials } from '@grpc/grpc-js';
import { startEtcd, startEchoBackend, loadEcho, createSeededRandom } from '@fairway/testing';
import { createClient, registerInEtcd } from 'fairway-grpc';
import { policyOf } from './support/policy-introspection.js';
import { sleep, startEchoLoad, stopAfterTests } from './support/under-load.js';

const { EchoClient } = loadEcho();
const quiet = { info() {}, warn() {}, error() {} };
const churnMs = process.env['FAIRWAY_SOAK'] === '1' ? 60_000 : 15_000;
const started = stopAfterTests();
const { backends, registrations } = started;

test(`an endpoint registering and deregistering every 50-300 ms for ${churnMs / 1000} s: no call fails, state returns to the live set`, { timeout: churnMs + 90_000 }, async () => {
  const etcd = await startEtcd();
  started.discovery = etcd;
  const connection = { endpoints: etcd.endpoints, maxBackoffMs: 500, logger: quiet };
  const stable = await startEchoBackend({ id: 'stable', serviceTimeMs: 3 });
  const flapper = await startEchoBackend({ id: 'flapper', serviceTimeMs: 3 });
  backends.push(stable, flapper);
  registrations.push(await registerInEtcd({ service: 'rel-churn', address: stable.address, instance: 'stable', ...connection }));
  const c = createClient(EchoClient, 'etcd:///rel-churn', credentials.createInsecure(), { discovery: { etcd: connection } });
  started.client = c;
  const load = startEchoLoad(c, { workers: 4, callsPerWorker: 200_000, pauseMs: 1, hardStopMs: churnMs + 60_000 });
  const { ledger } = load;
  try {
    const random = createSeededRandom('churn');
    let cycles = 0;
    let flapperServed = 0;
    const churnEnd = Date.now() + churnMs;
    while (Date.now() < churnEnd && cycles < 2_000) {
      // A new process incarnation each time, as a restarting instance would have.
      const reg = await registerInEtcd({ service: 'rel-churn', address: flapper.address, instance: 'flapper', ttlSeconds: 5, ...connection });
      await sleep(50 + random() * 250);
      await reg.deregister();
      await sleep(50 + random() * 250);
      cycles++;
    }
    flapperServed = flapper.counts.unary;

    // Afterwards only the stable endpoint is registered: calls go there alone, and the policy tracks it alone.
    const settled = Date.now() + 20_000;
    let rows: string[] = [];
    let children: string[] = [];
    while (Date.now() < settled) {
      rows = policyOf(c).balancerRows().map((r) => r.address);
      children = policyOf(c).children().map((ch) => ch.key);
      if (rows.length === 1 && children.length === 1) break;
      await sleep(100);
    }
    const t = Date.now();
    await sleep(1_000);
    const lastServers = [...load.servedBy(t)];

    await load.stop();
    await ledger.drain(15_000);
    const summary = ledger.assertAllAccounted();
    console.log(`[registration-churn] ${cycles} register/deregister cycles in ${churnMs / 1000} s; ${summary}; the flapping endpoint answered ${flapperServed}`);
    assert.ok(cycles >= 10, `${cycles} cycles`);
    const failed = ledger.entries.filter((x) => x.result && !x.result.ok);
    assert.deepEqual(failed.map((x) => x.result), [], 'no call failed');
    assert.ok(flapperServed > 0, 'the flapping endpoint did receive calls while registered');
    assert.deepEqual(rows, [stable.address], 'the balancer tracks only the live endpoint');
    assert.deepEqual(children.length, 1, `one connection child left: ${children.join(', ')}`);
    assert.deepEqual(lastServers, ['stable']);
    const inFlight = policyOf(c).balancerRows().reduce((s, r) => s + r.inFlight, 0);
    assert.equal(inFlight, 0, 'no pick is left counted in flight');
  } finally {
    await load.stop();
  }
});
