// Outlier ejection and adaptive concurrency against real grpc-js servers on loopback: a pod that fails fast
// is ejected and re-admitted once it heals; calls above the concurrency limit are shed with RESOURCE_EXHAUSTED.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, status } from '@grpc/grpc-js';
import type { Client } from '@grpc/grpc-js';
import { startEchoBackend, loadEcho, echoUnary } from '@fairway/testing';
import type { EchoBackend, EchoResult } from '@fairway/testing';
import { clientOptions, createClient, parseFairwayPolicyConfig, serviceConfigFor, type EjectionEvent, type Logger } from './index.js';

const { EchoClient } = loadEcho();
const backends: EchoBackend[] = [];
const clients: Client[] = [];
after(() => {
  for (const c of clients) c.close();
  for (const b of backends) b.forceStop();
});

function recordingLogger(): Logger & { lines: string[]; at: number[] } {
  const lines: string[] = [];
  const at: number[] = [];
  const add = (m: string) => (lines.push(m), at.push(Date.now()));
  return { lines, at, info: add, warn: add, error: add };
}

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}

// The failure penalty alone already keeps a fast-failing pod to 1-3 calls at this concurrency (a failure
// raises its estimate, a second in a row costs 5 s of it), and with one failed call it may never get a second
// (seen on a loaded CI machine): the consecutive rule is set to 1 here so that the ejection always acts.
test('a pod answering UNAVAILABLE at once is ejected after its first failure (consecutiveFailures: 1), then re-admitted by one probe once it heals', { timeout: 60_000 }, async () => {
  const pods = await Promise.all(Array.from({ length: 6 }, (_, i) => startEchoBackend({ id: `pod-${i}`, serviceTimeMs: 5 })));
  backends.push(...pods);
  const bad = pods[0]!;
  bad.setServiceTime(0);
  bad.setFailCode(status.UNAVAILABLE);
  const logger = recordingLogger();
  const events: EjectionEvent[] = [];
  const observer = { onCallStart: () => ({ onAttemptStart: () => ({ onPick() {}, outgoingHeaders: () => ({}), onEnd() {} }), onEnd() {} }), onEndpointEvent: (e: EjectionEvent) => events.push(e) };
  const client = createClient(EchoClient, `static:///${pods.map((p) => p.address).join(',')}`, credentials.createInsecure(), {
    observers: [observer],
    outlierEjection: { baseEjectionMs: 4_000, consecutiveFailures: 1 },
    slowStart: false,
    logger,
  });
  clients.push(client);

  const results: EchoResult[] = [];
  const run = async (calls: number) => {
    const worker = async (n: number) => {
      for (let i = 0; i < n; i++) results.push(await echoUnary(client, {}, { deadlineMs: 5_000 }));
    };
    await Promise.all(Array.from({ length: 6 }, () => worker(Math.ceil(calls / 6))));
  };
  await run(300);
  const failed = results.filter((r) => !r.ok);
  assert.ok(failed.every((r) => !r.ok && r.code === status.UNAVAILABLE));
  assert.ok(failed.length >= 1 && failed.length <= 8, `failed calls before and at the ejection: ${failed.length}`);
  assert.ok(logger.lines.some((l) => /outlier ejection: 127\.0\.0\.1:\d+ ejected for 4000 ms \(ejection 1 in a row\): 1 failures or timeouts in a row/.test(l)), logger.lines.join('\n'));
  const badCallsAtEjection = bad.counts.total;
  await run(300);
  // Nothing reaches the ejected pod but, if this machine is slow enough for the 4 s to pass meanwhile, its
  // one re-admission probe (which fails: it still answers UNAVAILABLE).
  assert.ok(bad.counts.total - badCallsAtEjection <= 1, `calls to the ejected pod: ${bad.counts.total - badCallsAtEjection}`);

  // Healed: after the ejection time, one probe re-admits it and it takes calls again.
  bad.setFailCode(undefined);
  bad.setServiceTime(5);
  // Wait for the end of the latest ejection (the first, or the 8 s one after a failed probe), from its log line.
  let last = -1;
  logger.lines.forEach((l, i) => (/ ejected for /.test(l) ? (last = i) : undefined));
  const lastMs = Number(/ ejected for (\d+) ms/.exec(logger.lines[last]!)![1]);
  await new Promise((r) => setTimeout(r, Math.max(0, logger.at[last]! + lastMs + 100 - Date.now())));
  const healedFrom = bad.counts.total;
  await run(600);
  await until(() => logger.lines.some((l) => /re-admitted: its re-admission probe answered/.test(l)), 2_000);
  assert.ok(logger.lines.some((l) => /outlier ejection: 127\.0\.0\.1:\d+ re-admitted: its re-admission probe answered/.test(l)), logger.lines.join('\n'));
  assert.equal(events[0]?.kind, 'ejected', 'observers hear of it (onEndpointEvent)');
  assert.equal(events[0]?.reason, 'consecutive-failures');
  assert.equal(events.at(-1)?.kind, 'readmitted');
  assert.ok(bad.counts.total - healedFrom > 20, `calls to the healed pod: ${bad.counts.total - healedFrom}`);
});

test('calls above the concurrency limit fail at once with RESOURCE_EXHAUSTED naming the limit; the rest are served', { timeout: 30_000 }, async () => {
  const pod = await startEchoBackend({ id: 'slow', serviceTimeMs: 300 });
  backends.push(pod);
  const client = createClient(EchoClient, `static:///${pod.address}`, credentials.createInsecure(), {
    concurrencyLimit: { initialLimit: 4, minLimit: 4, maxLimit: 4 },
  });
  clients.push(client);
  assert.ok((await echoUnary(client, {}, { deadlineMs: 5_000 })).ok, 'connected');
  const before = pod.counts.total;
  const order: boolean[] = []; // ok?, in completion order
  const results = await Promise.all(
    Array.from({ length: 10 }, () => echoUnary(client, {}, { deadlineMs: 5_000 }).then((r) => (order.push(r.ok), r))),
  );
  const shed = results.filter((r) => !r.ok);
  assert.equal(results.filter((r) => r.ok).length, 4);
  assert.equal(shed.length, 6);
  for (const r of shed) {
    assert.ok(!r.ok);
    assert.equal(r.code, status.RESOURCE_EXHAUSTED);
    assert.match(r.details, /Fairway adaptive concurrency limit reached: 4 calls in flight, limit 4/);
  }
  assert.deepEqual(order.slice(0, 6), [false, false, false, false, false, false], 'shed at once: before any served call ends');
  assert.equal(pod.counts.total - before, 4, 'shed calls never reach the server');
});

test('the concurrency interceptor is only installed when the option is on', () => {
  assert.equal(clientOptions({}).interceptors!.length, 1);
  assert.equal(clientOptions({ concurrencyLimit: true }).interceptors!.length, 2);
  assert.equal(clientOptions({ concurrencyLimit: false }).interceptors!.length, 1);
});

test('bad resilience options are errors naming the option', () => {
  assert.throws(() => clientOptions({ concurrencyLimit: { maxLimit: 1, minLimit: 5 } }), /invalid Fairway option concurrencyLimit\.maxLimit: \(1\) must be >= minLimit \(5\)/);
  assert.throws(() => clientOptions({ concurrencyLimit: { limit: 5 } as never }), /concurrencyLimit\.limit: is not a known option/);
  assert.throws(() => clientOptions({ outlierEjection: { consecutiveFailures: 0 } }), /invalid Fairway option outlierEjection\.consecutiveFailures: must be a number >= 1, got 0/);
  assert.throws(() => clientOptions({ outlierEjection: { bogus: 1 } as never }), /outlierEjection\.bogus: is not a known field/);
  assert.throws(() => clientOptions({ slowStart: { windowMs: -1 } }), /invalid Fairway option slowStart\.windowMs: must be a positive finite number of ms, got -1/);
});

test('the policy config carries outlierEjection and slowStart (validated by core, round-trips through JSON)', () => {
  const settings = parseFairwayPolicyConfig({ outlierEjection: { consecutiveFailures: 3, latencyFactor: 8 }, slowStart: false });
  assert.deepEqual(settings.outlierEjection, { consecutiveFailures: 3, latencyFactor: 8 });
  assert.equal(settings.slowStart, false);
  const json = JSON.parse(serviceConfigFor(settings)) as { loadBalancingConfig: [{ fairway_p2c_peak_ewma: unknown }] };
  assert.deepEqual(parseFairwayPolicyConfig(json.loadBalancingConfig[0].fairway_p2c_peak_ewma), settings);
  assert.equal(parseFairwayPolicyConfig({}).outlierEjection, undefined, 'absent: the defaults apply in the balancer');
  assert.throws(() => parseFairwayPolicyConfig({ outlierEjection: { maxEjectedPercent: 150 } }), /invalid fairway_p2c_peak_ewma config: outlierEjection\.maxEjectedPercent must be <= 100, got 150/);
  assert.throws(() => parseFairwayPolicyConfig({ slowStart: 'on' }), /slowStart must be false or an object, got "on"/);
});
