// The resolver bridge with a scripted discovery source and real loopback servers: endpoint updates, removal
// with calls in flight, new incarnations on fresh connections, errors, per-channel options, and the
// re-resolution storm.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, status } from '@grpc/grpc-js';
import type { Client } from '@grpc/grpc-js';
import { startEchoBackend, loadEcho, echoUnary, runEchoLoad, countByServer, createScriptedDiscovery } from '@fairway/testing';
import type { EchoBackend } from '@fairway/testing';
import { createClient, createChannel, registerDiscoveryScheme } from '../index.js';
import { bridgeStats } from './bridge.js';

const creds = credentials.createInsecure();
const { EchoClient } = loadEcho();
const backends: EchoBackend[] = [];
const clients: Client[] = [];
after(async () => {
  for (const c of clients) c.close();
  for (const b of backends) b.forceStop();
});
async function backend(id: string, serviceTimeMs = 0): Promise<EchoBackend> {
  const b = await startEchoBackend({ id, serviceTimeMs });
  backends.push(b);
  return b;
}
function client(target: string, options = {}): Client {
  const c = createClient(EchoClient, target, creds, options);
  clients.push(c);
  return c;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('resolver bridge', { concurrency: false }, () => {
  test('removing an endpoint with calls in flight lets them complete; new calls avoid it', { timeout: 60_000 }, async () => {
    const d = createScriptedDiscovery();
    registerDiscoveryScheme('test-remove', d.factory);
    const [b1, b2] = [await backend('rm-1'), await backend('rm-2')];
    d.push([{ address: b1.address }, { address: b2.address }]);
    const c = client('test-remove:///svc');
    await runEchoLoad(c, { calls: 6, concurrency: 2 });
    const slow = Array.from({ length: 10 }, () => echoUnary(c, { delay_ms: 800 }, { deadlineMs: 10_000 }));
    for (let i = 0; i < 50 && b1.counts.inFlight + b2.counts.inFlight < 10; i++) await sleep(20);
    assert.ok(b1.counts.inFlight > 0, 'some calls in flight on rm-1');
    d.push([{ address: b2.address }]);
    const done = await Promise.all(slow);
    assert.ok(done.every((r) => r.ok), JSON.stringify(done.filter((r) => !r.ok)));
    assert.ok(done.some((r) => r.ok && r.reply.server_id === 'rm-1'), 'calls on the removed endpoint completed there');
    const later = countByServer(await runEchoLoad(c, { calls: 20, concurrency: 2 }));
    assert.deepEqual(later, { 'rm-2': 20 });
  });

  test('a new incarnation at the same host:port gets a fresh connection', { timeout: 60_000 }, async () => {
    const d = createScriptedDiscovery();
    registerDiscoveryScheme('test-incarnation', d.factory);
    const b = await backend('inc');
    d.push([{ address: b.address, instance: 'pod-1', incarnation: '1' }]);
    const c = client('test-incarnation:///svc');
    const first = await echoUnary(c);
    assert.ok(first.ok);
    const again = await echoUnary(c);
    assert.ok(again.ok && again.reply.peer === first.reply.peer, 'same connection while the incarnation is the same');
    d.push([{ address: b.address, instance: 'pod-1', incarnation: '2' }]);
    let peer = first.reply.peer;
    for (let i = 0; i < 50 && peer === first.reply.peer; i++) {
      await sleep(20);
      const r = await echoUnary(c);
      assert.ok(r.ok);
      peer = r.reply.peer;
    }
    assert.notEqual(peer, first.reply.peer, 'the new incarnation is served on a new connection');
    // Both incarnations listed at once, the newest first: the older one is ignored whatever the order.
    d.push([{ address: b.address, instance: 'pod-1', incarnation: '2' }, { address: b.address, instance: 'pod-1', incarnation: '1' }]);
    await sleep(50);
    for (let i = 0; i < 5; i++) {
      const r = await echoUnary(c, {}, { deadlineMs: 5_000 });
      assert.ok(r.ok && r.reply.peer === peer, JSON.stringify(r));
    }
  });

  test('an invalid endpoint in a snapshot is skipped with a warning; the others are used', { timeout: 30_000 }, async () => {
    const d = createScriptedDiscovery();
    registerDiscoveryScheme('test-invalid', d.factory);
    const b = await backend('valid');
    d.push([{ address: 'not an address' }, { address: b.address, weight: -1 }, { address: b.address }]);
    const warnings: string[] = [];
    const logger = { info: () => undefined, warn: (m: string) => warnings.push(m), error: (m: string) => warnings.push(m) };
    const r = await echoUnary(client('test-invalid:///svc', { logger }), {}, { deadlineMs: 5_000 });
    assert.ok(r.ok && r.reply.server_id === 'valid', JSON.stringify(r));
    assert.ok(warnings.some((w) => /not an address/.test(w)), warnings.join('\n'));
  });

  test('a fatal discovery error fails calls with UNAVAILABLE naming the message', { timeout: 30_000 }, async () => {
    const d = createScriptedDiscovery();
    registerDiscoveryScheme('test-fatal', d.factory);
    const c = client('test-fatal:///svc');
    const pending = echoUnary(c, {}, { deadlineMs: 5_000 });
    for (let i = 0; i < 100 && d.stats.started === 0; i++) await sleep(10);
    d.fail('etcd at 127.0.0.1:1 unreachable: connection refused', true);
    const r = await pending;
    assert.ok(!r.ok && r.code === status.UNAVAILABLE, JSON.stringify(r));
    assert.match(r.details, /etcd at 127\.0\.0\.1:1 unreachable/);
  });

  test('a source factory that throws fails calls naming the problem', { timeout: 30_000 }, async () => {
    registerDiscoveryScheme('test-throws', () => {
      throw new Error('test-throws: bad credentials for the registry');
    });
    const r = await echoUnary(client('test-throws:///svc'), {}, { deadlineMs: 5_000 });
    assert.ok(!r.ok && r.code === status.UNAVAILABLE);
    assert.match(r.details, /bad credentials for the registry/);
  });

  test('per-channel discovery options reach the source; the source is closed with the channel', { timeout: 30_000 }, async () => {
    const d = createScriptedDiscovery();
    registerDiscoveryScheme('test-options', d.factory);
    const b = await backend('opt');
    d.push([{ address: b.address }]);
    const channel = createChannel('test-options:///pricer', creds, { discovery: { 'test-options': { endpoints: ['x'] } } });
    const c = new EchoClient('test-options:///pricer', creds, { channelOverride: channel });
    assert.ok((await echoUnary(c)).ok);
    assert.deepEqual(d.stats.options, [{ endpoints: ['x'] }]);
    assert.equal(d.stats.targets[0]!.path, 'pricer');
    c.close();
    channel.close();
    for (let i = 0; i < 50 && d.stats.closed === 0; i++) await sleep(10);
    assert.equal(d.stats.closed, 1);
  });

  test('per-channel discovery options do not break connection reuse between channels', { timeout: 30_000 }, async () => {
    const d = createScriptedDiscovery();
    registerDiscoveryScheme('test-reuse', d.factory);
    const b = await backend('reuse');
    d.push([{ address: b.address }]);
    const c1 = client('test-reuse:///svc', { discovery: { 'test-reuse': { n: 1 } } });
    const c2 = client('test-reuse:///svc', { discovery: { 'test-reuse': { n: 2 } } });
    const [r1, r2] = [await echoUnary(c1), await echoUnary(c2)];
    assert.ok(r1.ok && r2.ok);
    assert.equal(r1.reply.peer, r2.reply.peer, 'both channels use one connection (one subchannel)');
  });

  test('the re-resolution storm is closed: a refused endpoint does not make the resolver spin', { timeout: 60_000 }, async () => {
    const d = createScriptedDiscovery();
    registerDiscoveryScheme('test-storm', d.factory);
    const good = await backend('storm-good');
    const dead = await startEchoBackend({ id: 'storm-dead' });
    dead.forceStop(); // its port now refuses connections: pick_first asks for re-resolution again and again
    // A naive source answers every refresh with the same data at once.
    d.onRefresh = () => d.push([{ address: good.address }, { address: dead.address }]);
    d.push([{ address: good.address }, { address: dead.address }]);
    const c = client('test-storm:///svc');
    let ticks = 0;
    const timer = setInterval(() => ticks++, 50);
    const results = await runEchoLoad(c, { calls: 200, concurrency: 4, deadlineMs: 5_000 });
    await sleep(1_500);
    clearInterval(timer);
    const counts = countByServer(results);
    assert.equal(counts['storm-good'], 200, JSON.stringify(counts));
    const listenerCalls = bridgeStats.listenerCalls.get('test-storm') ?? 0;
    assert.ok(listenerCalls <= 3, `listener called ${listenerCalls} times for one unchanged endpoint set`);
    assert.ok(d.stats.refreshes <= 2, `source refreshed ${d.stats.refreshes} times (rate limit 1 per 5 s)`);
    assert.ok(ticks >= 10, `timers starved: ${ticks} ticks in >= 1.5 s`);
  });

  test('the listener is never called synchronously and reports once per change', { timeout: 30_000 }, async () => {
    const d = createScriptedDiscovery();
    registerDiscoveryScheme('test-coalesce', d.factory);
    const [b1, b2] = [await backend('co-1'), await backend('co-2')];
    d.push([{ address: b1.address }]);
    const c = client('test-coalesce:///svc');
    assert.ok((await echoUnary(c)).ok);
    const before = bridgeStats.listenerCalls.get('test-coalesce') ?? 0;
    // Three pushes in one tick: one report, with the last set.
    d.push([{ address: b1.address }, { address: b2.address }]);
    d.push([{ address: b2.address }]);
    d.push([{ address: b2.address }, { address: b1.address }]);
    assert.equal(bridgeStats.listenerCalls.get('test-coalesce') ?? 0, before, 'nothing reported synchronously');
    await sleep(50);
    assert.equal((bridgeStats.listenerCalls.get('test-coalesce') ?? 0) - before, 1);
    d.push([{ address: b2.address }, { address: b1.address }]); // unchanged
    await sleep(50);
    assert.equal((bridgeStats.listenerCalls.get('test-coalesce') ?? 0) - before, 1);
    const counts = countByServer(await runEchoLoad(c, { calls: 40, concurrency: 4, request: { delay_ms: 5 } }));
    assert.ok((counts['co-1'] ?? 0) > 0 && (counts['co-2'] ?? 0) > 0, JSON.stringify(counts));
  });
});
