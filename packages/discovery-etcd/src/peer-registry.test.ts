// The etcd peer registry for deterministic subsetting, against a real etcd: three clients of one service learn
// distinct places 0..2 of 3; a client that closes leaves (the others renumber); the clients' keys never show up
// as endpoints of the service.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startEtcdForSuite } from '@fairway/testing';
import { parseTarget, type EndpointSnapshot } from '@fairway/core';
import { createEtcdSource } from './source.js';
import { recorder, memoryLogger, goValue } from './test-helpers.test-util.js';

describe('etcd peer registry', { timeout: 90_000 }, () => {
  const etcd = startEtcdForSuite();

  test('three clients get places 0, 1, 2 of 3; one leaves and the others become 0, 1 of 2', { timeout: 60_000 }, async () => {
    await etcd.etcdctl(['put', 'quotes/q-1', goValue('127.0.0.1:7101', { instance: 'q-1' })]);
    const target = parseTarget(`etcd://${etcd.endpointsCsv}/quotes`);
    const ids = ['client-a', 'client-b', 'client-c'];
    const sources = ids.map((id) => createEtcdSource(target, { peerRegistry: { id }, logger: memoryLogger(), prefix: '' }));
    const recs = sources.map(() => recorder());
    try {
      sources.forEach((s, i) => s.start(recs[i]!));
      const places = await Promise.all(recs.map((r) => r.waitFor((s: EndpointSnapshot) => s.peers?.count === 3, 20_000, 'three peers')));
      assert.deepEqual(places.map((s) => s.peers!.index), [0, 1, 2]);
      for (const s of places) assert.deepEqual(s.endpoints.map((e) => e.address), ['127.0.0.1:7101'], 'clients are never endpoints');
      const listed = await etcd.etcdctl(['get', '_fairway_clients/quotes/', '--prefix', '--keys-only']);
      assert.match(listed, /_fairway_clients\/quotes\/client-a/);

      await sources[0]!.close();
      const after = await Promise.all(recs.slice(1).map((r) => r.waitFor((s: EndpointSnapshot) => s.peers?.count === 2, 20_000, 'two peers')));
      assert.deepEqual(after.map((s) => s.peers!.index), [0, 1]);
    } finally {
      await Promise.allSettled(sources.map((s) => s.close()));
    }
  });

  test('a bad peerRegistry option is refused, naming it', () => {
    assert.throws(() => createEtcdSource(parseTarget('etcd://127.0.0.1:2379/quotes'), { peerRegistry: { id: 'a/b' } }), /peerRegistry must be/);
  });
});

describe('etcd peer registry, etcd away at start', { timeout: 90_000 }, () => {
  const etcd = startEtcdForSuite();

  test('a client that could not register while etcd was down registers once it is back, and gets its place', { timeout: 60_000 }, async () => {
    await etcd.etcdctl(['put', 'late/l-1', goValue('127.0.0.1:7201', { instance: 'l-1' })]);
    await etcd.kill();
    const log = memoryLogger();
    const source = createEtcdSource(parseTarget(`etcd://${etcd.endpointsCsv}/late`), { peerRegistry: { id: 'late-client' }, logger: log, prefix: '', dialTimeoutMs: 500, maxBackoffMs: 500 });
    const rec = recorder();
    try {
      source.start(rec);
      await log.waitForLine(/could not register this client/, 15_000);
      const warned = log.lines.filter((l) => l.includes('could not register this client'));
      assert.equal(warned.length, 1, log.lines.join('\n'));
      assert.match(warned[0]!, /^warn: etcd peer registry: could not register this client \(.+\); subsetting uses every endpoint until it can \(try 1; retrying in 500 ms/);
      await etcd.start();
      const placed = await rec.waitFor((s: EndpointSnapshot) => s.peers?.count === 1, 30_000, 'its place after etcd came back');
      assert.deepEqual(placed.peers, { index: 0, count: 1 });
      // The watch may show the key before the put's own answer comes back: wait for the line, bounded.
      assert.ok(await log.waitForLine(/^info: etcd peer registry: registered this client as late-client after \d+ failed tr/, 10_000), log.lines.join('\n'));
      assert.match(await etcd.etcdctl(['get', '_fairway_clients/late/', '--prefix', '--keys-only']), /_fairway_clients\/late\/late-client/);
    } finally {
      await source.close();
    }
  });
});
