// The etcd source when etcd misbehaves: a 3-member cluster losing its leader (twice), and a watch dropped
// while the keyspace changes and is compacted (the source must re-list, not freeze like Go's resolver).
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEtcd, startTcpProxy, type EtcdHarness, type TcpProxy } from '@fairway/testing';
import { parseTarget } from '@fairway/core';
import { createEtcdSource } from './source.js';
import { recorder, memoryLogger, addrs, goValue } from './test-helpers.test-util.js';

describe('etcd source under failures', { timeout: 120_000 }, () => {
  const cleanup: Array<() => Promise<unknown> | unknown> = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  test('3-member cluster: killing the leader keeps the watch alive (twice)', { timeout: 60_000 }, async () => {
    const etcd: EtcdHarness = await startEtcd({ members: 3 });
    cleanup.push(() => etcd.close());
    await etcd.etcdctl(['put', 'svc/a', goValue('127.0.0.1:7501')]);
    const src = createEtcdSource(parseTarget(`etcd:///svc`), { endpoints: etcd.endpoints, logger: memoryLogger(), maxBackoffMs: 500 });
    cleanup.push(() => src.close());
    const rec = recorder();
    src.start(rec);
    await rec.waitFor((s) => s.endpoints.length === 1);
    const first = await etcd.killLeader();
    await etcd.etcdctl(['put', 'svc/b', goValue('127.0.0.1:7502')]);
    await rec.waitFor((s) => addrs(s).includes('127.0.0.1:7502'), 20_000, 'a put after the first leader was killed');
    await etcd.start(first);
    const second = await etcd.killLeader();
    await etcd.etcdctl(['del', 'svc/a']);
    const s = await rec.waitFor((x) => !addrs(x).includes('127.0.0.1:7501'), 20_000, 'a delete after the second leader was killed');
    assert.deepEqual(addrs(s), ['127.0.0.1:7502']);
    assert.ok(rec.snapshots.every((x) => x.endpoints.length > 0), 'never an empty set');
    await etcd.start(second);
  });

  test('dropped watch + compaction: the source re-lists and re-watches, and the set is exact', { timeout: 60_000 }, async () => {
    const etcd = await startEtcd();
    cleanup.push(() => etcd.close());
    const proxy: TcpProxy = await startTcpProxy(etcd.members[0]!.clientPort);
    cleanup.push(() => proxy.close());
    await etcd.etcdctl(['put', 'cmp/a', goValue('127.0.0.1:7601')]);
    await etcd.etcdctl(['put', 'cmp/b', goValue('127.0.0.1:7602')]);
    const log = memoryLogger();
    const src = createEtcdSource(parseTarget(`etcd://${proxy.address}/cmp`), { logger: log, maxBackoffMs: 300, dialTimeoutMs: 2000 });
    cleanup.push(() => src.close());
    const rec = recorder();
    src.start(rec);
    await rec.waitFor((s) => s.endpoints.length === 2);
    assert.equal(src.status().relists, 1);
    // Drop the watch; meanwhile the keyspace changes and the history is compacted away.
    proxy.cut();
    const stale = await rec.waitFor((s) => s.stale === true, 15_000, 'a stale snapshot while cut off');
    assert.deepEqual(addrs(stale), ['127.0.0.1:7601', '127.0.0.1:7602']);
    await etcd.etcdctl(['del', 'cmp/a']);
    await etcd.etcdctl(['put', 'cmp/c', goValue('127.0.0.1:7603')]);
    await etcd.etcdctl(['put', 'cmp/b', goValue('127.0.0.1:7604')]);
    await etcd.compact();
    proxy.restore();
    const s = await rec.waitFor((x) => x.stale !== true, 20_000, 'a fresh snapshot after the watch came back');
    assert.deepEqual(addrs(s), ['127.0.0.1:7603', '127.0.0.1:7604']);
    assert.equal(src.status().relists, 2, 'one full read at start, one after the watch came back');
    assert.ok(src.status().reconnects >= 1);
    // And the new watch works.
    await etcd.etcdctl(['put', 'cmp/d', goValue('127.0.0.1:7605')]);
    await rec.waitFor((x) => addrs(x).includes('127.0.0.1:7605'), 10_000, 'a put on the new watch');
  });
  test('etcd unreachable at start, reachable later: a fatal error first, then the set', { timeout: 40_000 }, async () => {
    const etcd = await startEtcd();
    cleanup.push(() => etcd.close());
    const proxy = await startTcpProxy(etcd.members[0]!.clientPort);
    cleanup.push(() => proxy.close());
    await etcd.etcdctl(['put', 'late/a', goValue('127.0.0.1:7701')]);
    proxy.cut();
    const src = createEtcdSource(parseTarget(`etcd://${proxy.address}/late`), { logger: memoryLogger(), dialTimeoutMs: 500, maxBackoffMs: 300 });
    cleanup.push(() => src.close());
    const rec = recorder();
    src.start(rec);
    const err = await rec.waitForError(10_000);
    assert.equal(err.fatalForNow, true);
    assert.ok(err.message.includes(proxy.address), err.message);
    assert.equal(src.status().state, 'unreachable');
    proxy.restore();
    const s = await rec.waitFor((x) => x.endpoints.length === 1, 15_000, 'the set once etcd is reachable');
    assert.deepEqual(addrs(s), ['127.0.0.1:7701']);
    assert.equal(s.stale, undefined);
    assert.equal(src.status().state, 'watching');
  });
});
