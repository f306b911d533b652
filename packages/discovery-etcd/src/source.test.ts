// The etcd discovery source against a real etcd (single member): list + watch, the Go naming format, bad
// values, newest incarnation, etcd restart (stale set kept), unreachable etcd at start, TLS + auth (source
// and registrar).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startEtcdForSuite, startRefusingEndpoint } from '@fairway/testing';
import { parseTarget } from '@fairway/core';
import { checkEtcdDiscoveryOptions, createEtcdSource, firstReportWaitMs } from './source.js';
import { guardLateWatchResponses } from './connection.js';
import { createRequire } from 'node:module';
import { register } from './registrar.js';
import { recorder, memoryLogger, addrs, goValue } from './test-helpers.test-util.js';

describe('etcd source (single member)', { timeout: 90_000 }, () => {
  const etcd = startEtcdForSuite();

  test('reads the prefix, then adds, updates and removals arrive; Go values with and without Metadata', { timeout: 30_000 }, async () => {
    await etcd.etcdctl(['put', 'pricer/go-plain', goValue('127.0.0.1:7001')]);
    await etcd.etcdctl(['put', 'pricer/p-1', goValue('127.0.0.1:7002', { zone: 'zone-a', instance: 'p-1', incarnation: '1000-aaaa', weight: 2 })]);
    await etcd.etcdctl(['put', 'pricerx/other', goValue('127.0.0.1:7999')]); // another service sharing the name start
    const log = memoryLogger();
    const src = createEtcdSource(parseTarget(`etcd://${etcd.endpointsCsv}/pricer`), { logger: log });
    const rec = recorder();
    try {
      src.start(rec);
      const first = await rec.waitFor((s) => s.endpoints.length === 2);
      assert.deepEqual(
        [...first.endpoints].sort((a, b) => a.address.localeCompare(b.address)),
        [
          { address: '127.0.0.1:7001', instance: 'go-plain' },
          { address: '127.0.0.1:7002', zone: 'zone-a', instance: 'p-1', incarnation: '1000-aaaa', weight: 2 },
        ],
      );
      assert.equal(first.stale, undefined);
      await etcd.etcdctl(['put', 'pricer/p-2', goValue('127.0.0.1:7003', { zone: 'zone-b', instance: 'p-2' })]);
      await rec.waitFor((s) => addrs(s).includes('127.0.0.1:7003'), 10_000, 'the added endpoint');
      await etcd.etcdctl(['put', 'pricer/p-2', goValue('127.0.0.1:7004', { zone: 'zone-b', instance: 'p-2' })]);
      const upd = await rec.waitFor((s) => addrs(s).includes('127.0.0.1:7004'), 10_000, 'the updated endpoint');
      assert.deepEqual(addrs(upd), ['127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7004']);
      await etcd.etcdctl(['del', 'pricer/go-plain']);
      const del = await rec.waitFor((s) => !addrs(s).includes('127.0.0.1:7001'), 10_000, 'the removal');
      assert.deepEqual(addrs(del), ['127.0.0.1:7002', '127.0.0.1:7004']);
      assert.equal(src.status().state, 'watching');
      assert.equal(src.status().relists, 1);
    } finally {
      await src.close();
      await etcd.etcdctl(['del', 'pricer', '--prefix']);
    }
  });

  test('the first snapshot already carries the live document: a drained endpoint is never sent at full weight', { timeout: 30_000 }, async () => {
    await etcd.etcdctl(['put', 'drained/d-1', goValue('127.0.0.1:7201', { instance: 'd-1' })]);
    await etcd.etcdctl(['put', 'drained/d-2', goValue('127.0.0.1:7202', { instance: 'd-2' })]);
    await etcd.etcdctl(['put', '_fairway_config/drained', '{"version":1,"endpoints":{"d-1":{"weight":0}}}']);
    for (let round = 0; round < 3; round++) {
      const src = createEtcdSource(parseTarget('etcd:///drained'), { endpoints: etcd.endpoints, logger: memoryLogger() });
      const rec = recorder();
      try {
        src.start(rec);
        await rec.waitFor((x) => x.endpoints.length === 2);
        // Before, the first snapshot went out before the document was read, d-1 at weight 1.
        const first = rec.snapshots[0]!;
        assert.deepEqual(
          first.endpoints.map((e) => [e.instance, e.weight ?? 1]),
          [['d-1', 0], ['d-2', 1]],
          `round ${round}: ${JSON.stringify(rec.snapshots)}`,
        );
        assert.ok(first.liveConfig !== undefined && first.liveConfig.revision > 0);
      } finally {
        await src.close();
      }
    }
    await etcd.etcdctl(['del', 'drained/', '--prefix']);
    await etcd.etcdctl(['del', '_fairway_config/drained']);
  });

  test('bad values are skipped with a warning naming the key; the rest of the set is undisturbed', { timeout: 30_000 }, async () => {
    await etcd.etcdctl(['put', 'bad/good-1', goValue('127.0.0.1:7101')]);
    await etcd.etcdctl(['put', 'bad/garbage', 'not json at all']);
    await etcd.etcdctl(['put', 'bad/port', goValue('127.0.0.1:70000')]);
    const log = memoryLogger();
    const src = createEtcdSource(parseTarget(`etcd:///bad`), { endpoints: etcd.endpoints, logger: log });
    const rec = recorder();
    try {
      src.start(rec);
      const s = await rec.waitFor((x) => x.endpoints.length >= 1);
      assert.deepEqual(addrs(s), ['127.0.0.1:7101']);
      assert.ok(log.lines.some((l) => l.includes('"bad/garbage"') && l.includes('not JSON')), log.lines.join('\n'));
      assert.ok(log.lines.some((l) => l.includes('"bad/port"') && l.includes('out of range')), log.lines.join('\n'));
      // Skipped, not handed to the listener: a warning, never an error (a caller leaving `error` out still sees it).
      assert.ok(log.lines.filter((l) => l.includes('"bad/')).every((l) => l.startsWith('warn: ')), log.lines.join('\n'));
      assert.deepEqual(rec.errors, []);
      await etcd.etcdctl(['put', 'bad/noaddr', '{"Op":0,"Metadata":null}']);
      await etcd.etcdctl(['put', 'bad/op1', '{"Op":1,"Addr":"127.0.0.1:7103"}']);
      await etcd.etcdctl(['put', 'bad/good-2', goValue('127.0.0.1:7102')]);
      const s2 = await rec.waitFor((x) => addrs(x).includes('127.0.0.1:7102'), 10_000, 'good-2');
      assert.deepEqual(addrs(s2), ['127.0.0.1:7101', '127.0.0.1:7102']);
      assert.ok(log.lines.some((l) => l.includes('"bad/noaddr"') && l.includes('Addr')));
      assert.ok(log.lines.some((l) => l.includes('"bad/op1"') && l.includes('Op')));
      assert.equal(src.status().skippedValues, 4);
      // A good key turning bad leaves the set (its last value is no longer what etcd says) and warns.
      await etcd.etcdctl(['put', 'bad/good-1', '{"Addr": 12}']);
      const s3 = await rec.waitFor((x) => !addrs(x).includes('127.0.0.1:7101'), 10_000, 'good-1 gone');
      assert.deepEqual(addrs(s3), ['127.0.0.1:7102']);
    } finally {
      await src.close();
      await etcd.etcdctl(['del', 'bad/', '--prefix']);
    }
  });

  test('per instance the newest incarnation wins at once, whatever order the keys were written in', { timeout: 30_000 }, async () => {
    const src = createEtcdSource(parseTarget(`etcd:///inc`), { endpoints: etcd.endpointsCsv, logger: memoryLogger() });
    const rec = recorder();
    try {
      await etcd.etcdctl(['put', 'inc/a-old', goValue('127.0.0.1:7201', { instance: 'a', incarnation: '1000-0001' })]);
      src.start(rec);
      await rec.waitFor((s) => addrs(s).join() === '127.0.0.1:7201');
      await etcd.etcdctl(['put', 'inc/a-new', goValue('127.0.0.1:7202', { instance: 'a', incarnation: '2000-0002' })]);
      const s = await rec.waitFor((x) => addrs(x).join() === '127.0.0.1:7202', 10_000, 'the newer incarnation only');
      assert.equal(s.endpoints[0]!.incarnation, '2000-0002');
      // An older incarnation written later does not take over.
      await etcd.etcdctl(['put', 'inc/a-older', goValue('127.0.0.1:7203', { instance: 'a', incarnation: '500-0003' })]);
      await etcd.etcdctl(['put', 'inc/b', goValue('127.0.0.1:7204', { instance: 'b' })]);
      const s2 = await rec.waitFor((x) => addrs(x).includes('127.0.0.1:7204'), 10_000, 'b');
      assert.deepEqual(addrs(s2), ['127.0.0.1:7202', '127.0.0.1:7204']);
      // The newest one going away brings back the next newest.
      await etcd.etcdctl(['del', 'inc/a-new']);
      const s3 = await rec.waitFor((x) => addrs(x).includes('127.0.0.1:7201'), 10_000, 'fallback to 1000-0001');
      assert.deepEqual(addrs(s3), ['127.0.0.1:7201', '127.0.0.1:7204']);
    } finally {
      await src.close();
      await etcd.etcdctl(['del', 'inc/', '--prefix']);
    }
  });

  test('etcd restart: the last good set is kept and marked stale, then the watch resumes', { timeout: 45_000 }, async () => {
    await etcd.etcdctl(['put', 'rs/a', goValue('127.0.0.1:7301')]);
    const log = memoryLogger();
    const src = createEtcdSource(parseTarget(`etcd:///rs`), { endpoints: etcd.endpoints, logger: log, maxBackoffMs: 500 });
    const rec = recorder();
    try {
      src.start(rec);
      await rec.waitFor((s) => s.endpoints.length === 1);
      await etcd.kill();
      const stale = await rec.waitFor((s) => s.stale === true, 15_000, 'a stale snapshot');
      assert.deepEqual(addrs(stale), ['127.0.0.1:7301'], 'the set is kept while etcd is down');
      assert.match(stale.note ?? '', new RegExp(`etcd at ${etcd.endpoints[0]} unreachable since`));
      assert.equal(src.status().state, 'unreachable');
      assert.ok(log.lines.some((l) => l.startsWith('warn:') && l.includes('unreachable') && l.includes('keeping the last good set of 1')));
      // Never an empty set while down.
      assert.ok(rec.snapshots.every((s) => s.endpoints.length === 1));
      await etcd.start();
      await rec.waitFor((s) => s.stale !== true, 20_000, 'a fresh snapshot');
      await etcd.etcdctl(['put', 'rs/b', goValue('127.0.0.1:7302')]);
      await rec.waitFor((s) => addrs(s).includes('127.0.0.1:7302'), 10_000, 'a put after the restart');
      assert.equal(src.status().state, 'watching');
      assert.ok(src.status().reconnects >= 1);
    } finally {
      await src.close();
      await etcd.etcdctl(['del', 'rs/', '--prefix']).catch(() => undefined);
    }
  });

  test('a key prefix: only <prefix><service>/ is read and watched; FAIRWAY_ETCD_ENDPOINTS supplies the endpoints', { timeout: 30_000 }, async () => {
    await etcd.etcdctl(['put', '/services/pfx/a', goValue('127.0.0.1:7801')]);
    await etcd.etcdctl(['put', 'pfx/not-under-prefix', goValue('127.0.0.1:7802')]);
    const saved = process.env['FAIRWAY_ETCD_ENDPOINTS'];
    process.env['FAIRWAY_ETCD_ENDPOINTS'] = etcd.endpointsCsv;
    const src = createEtcdSource(parseTarget('etcd:///pfx'), { prefix: '/services/', logger: memoryLogger() });
    if (saved === undefined) delete process.env['FAIRWAY_ETCD_ENDPOINTS'];
    else process.env['FAIRWAY_ETCD_ENDPOINTS'] = saved;
    const rec = recorder();
    try {
      src.start(rec);
      const s = await rec.waitFor((x) => x.endpoints.length === 1);
      assert.deepEqual(s.endpoints, [{ address: '127.0.0.1:7801', instance: 'a' }]);
      await etcd.etcdctl(['put', '/services/pfx/b', goValue('127.0.0.1:7803')]);
      await rec.waitFor((x) => addrs(x).includes('127.0.0.1:7803'), 10_000, 'a watched put under the prefix');
    } finally {
      await src.close();
      await etcd.etcdctl(['del', '/services/', '--prefix']);
      await etcd.etcdctl(['del', 'pfx/', '--prefix']);
    }
  });

  test('unreachable etcd at start: a fatal error naming the endpoints after the connect timeout', { timeout: 20_000 }, async () => {
    const dead = await startRefusingEndpoint();
    const port = dead.port;
    const log = memoryLogger();
    const src = createEtcdSource(parseTarget(`etcd://127.0.0.1:${port}/nobody`), { dialTimeoutMs: 800, logger: log });
    const rec = recorder();
    const t0 = Date.now();
    try {
      src.start(rec);
      const err = await rec.waitForError(10_000);
      assert.equal(err.fatalForNow, true);
      assert.ok(Date.now() - t0 >= 700, 'not before the connect timeout');
      assert.match(err.message, new RegExp(`etcd at 127\\.0\\.0\\.1:${port}`));
      assert.match(err.message, /etcd:\/\/127\.0\.0\.1:\d+\/nobody/);
      assert.equal(rec.snapshots.length, 0);
      // Handed to the listener, so logged at `error` (once, with it), and not also as a warning.
      assert.deepEqual(log.lines, [`error: ${err.message}`]);
    } finally {
      await src.close();
      await dead.close();
    }
  });

  test('unreachable etcd at start: the error comes at the connect timeout, not at the next back-off step past it', { timeout: 20_000 }, async () => {
    // With 2,000 ms the doubling back-off tries at ~0.1, 0.3, 0.7, 1.5 and 3.1 s (+-20 %): the error used to wait
    // for the try at 2.5-3.7 s. Now the try after 1.5 s is moved to 2.0 s.
    const dead = await startRefusingEndpoint();
    const src = createEtcdSource(parseTarget(`etcd://127.0.0.1:${dead.port}/nobody`), { dialTimeoutMs: 2_000, logger: memoryLogger() });
    const rec = recorder();
    const t0 = Date.now();
    try {
      src.start(rec);
      const err = await rec.waitForError(10_000);
      const at = Date.now() - t0;
      assert.ok(at >= 1_900 && at < 2_400, `reported at ${at} ms (connect timeout 2,000 ms)`);
      assert.match(err.message, /tried for 2\d{3}ms/);
    } finally {
      await src.close();
      await dead.close();
    }
  });

  test('unreachable etcd at start: each fatal error handed on is logged at error with it, with the tries held back in between', { timeout: 20_000 }, async () => {
    const dead = await startRefusingEndpoint();
    const log = memoryLogger();
    // Tries every ~100 ms past the 300 ms connect timeout; a report (and its log line) at most every 600 ms.
    const src = createEtcdSource(parseTarget(`etcd://127.0.0.1:${dead.port}/nobody`), { dialTimeoutMs: 300, maxBackoffMs: 100, logIntervalMs: 600, logger: log });
    const rec = recorder();
    try {
      src.start(rec);
      const deadline = Date.now() + 10_000;
      while (rec.errors.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(rec.errors.length >= 3, `three reports: ${JSON.stringify(rec.errors.map((e) => e.message))}`);
    } finally {
      await src.close();
      await dead.close();
    }
    const errorLines = log.lines.filter((l) => l.startsWith('error: '));
    assert.equal(log.lines.length, errorLines.length, `only error lines: ${log.lines.join('\n')}`);
    assert.equal(errorLines.length, rec.errors.length, 'one error line per error handed on, no more');
    errorLines.forEach((line, i) => assert.ok(line.startsWith(`error: ${rec.errors[i]!.message}`), `${line}\n${rec.errors[i]!.message}`));
    assert.equal(errorLines[0], `error: ${rec.errors[0]!.message}`, 'nothing held back before the first');
    assert.match(errorLines[1]!, / \(\d+ similar message\(s\) held back\)$/);
  });

  test('a late watch response for a watcher etcd3 no longer holds is dropped, not thrown into grpc-js (an unhandled rejection)', () => {
    const load = createRequire(import.meta.url);
    assert.equal(guardLateWatchResponses(load), true);
    assert.equal(guardLateWatchResponses(load), true, 'applied once, idempotent');
    const proto = (load('etcd3/lib/watch') as { WatchManager: { prototype: { handleResponse: (res: object) => void } } }).WatchManager.prototype;
    assert.doesNotThrow(() => proto.handleResponse.call({ watchers: [], initialBackoff: { next: () => undefined } }, { watch_id: '7', canceled: false }));
    const emitted: unknown[] = [];
    const known = { id: '7', emit: (event: string, res: unknown) => void emitted.push([event, res]) };
    const manager = Object.assign(Object.create(proto) as object, { watchers: [known], initialBackoff: { next: () => undefined } });
    proto.handleResponse.call(manager, { watch_id: '7', canceled: false });
    assert.equal(emitted.length, 1, 'a response for a watcher it holds is handled as before');
  });

  test('the back-off before the first report never passes the connect timeout', () => {
    assert.equal(firstReportWaitMs(3_200, false, 3_100, 5_000), 1_900);
    assert.equal(firstReportWaitMs(400, false, 300, 5_000), 400);
    assert.equal(firstReportWaitMs(3_200, false, 5_000, 5_000), 3_200, 'at or past the timeout the try is due at once anyway');
    assert.equal(firstReportWaitMs(3_200, true, 3_100, 5_000), 3_200, 'once reported, the back-off alone');
  });

  test('bad targets and options fail at once with a message naming what is wrong', () => {
    const saved = process.env['FAIRWAY_ETCD_ENDPOINTS'];
    delete process.env['FAIRWAY_ETCD_ENDPOINTS'];
    try {
      assert.throws(() => createEtcdSource(parseTarget('etcd:///pricer'), {}), /etcd:\/\/\/pricer.*no etcd endpoints.*FAIRWAY_ETCD_ENDPOINTS/);
      assert.throws(() => createEtcdSource(parseTarget('etcd:///pricer'), { endpoints: ['127.0.0.1:99999'] }), /127\.0\.0\.1:99999.*out of range/);
      assert.throws(() => createEtcdSource(parseTarget('etcd:///pricer'), { endpoints: 'h:1', dialTimeoutMs: -1 }), /dialTimeoutMs/);
      assert.throws(() => createEtcdSource(parseTarget('etcd:///pricer'), { endpoints: 'h:1', auth: { username: 'u' } }), /auth must be/);
      process.env['FAIRWAY_ETCD_ENDPOINTS'] = '127.0.0.1:2379, 127.0.0.1:22379';
      const s = createEtcdSource(parseTarget('etcd:///pricer'), undefined);
      assert.deepEqual(s.status().etcdEndpoints, ['127.0.0.1:2379', '127.0.0.1:22379']);
      assert.equal(s.status().keyPrefix, 'pricer/');
      const p = createEtcdSource(parseTarget('etcd:///pricer'), { prefix: '/services/' });
      assert.equal(p.status().keyPrefix, '/services/pricer/');
    } finally {
      if (saved === undefined) delete process.env['FAIRWAY_ETCD_ENDPOINTS'];
      else process.env['FAIRWAY_ETCD_ENDPOINTS'] = saved;
    }
  });
});

test('endpoints with a scheme: http:// is plaintext, https:// is TLS; a mix, another scheme, or http:// with tls is refused naming the endpoint', () => {
  const pem = '-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n';
  checkEtcdDiscoveryOptions({ endpoints: 'http://127.0.0.1:2379,127.0.0.1:22379' });
  checkEtcdDiscoveryOptions({ endpoints: ['HTTPS://etcd-1.example:2379/', 'etcd-2.example:2379'] });
  checkEtcdDiscoveryOptions({ endpoints: 'https://127.0.0.1:2379', tls: { ca: pem } });
  assert.throws(
    () => checkEtcdDiscoveryOptions({ endpoints: ['http://127.0.0.1:2379', 'https://127.0.0.1:22379'] }),
    /discovery\.etcd: etcd endpoints "http:\/\/127\.0\.0\.1:2379" \(plaintext\) and "https:\/\/127\.0\.0\.1:22379" \(TLS\): one connection serves every endpoint/,
  );
  assert.throws(() => checkEtcdDiscoveryOptions({ endpoints: 'http://127.0.0.1:2379', tls: { ca: pem } }), /etcd endpoint "http:\/\/127\.0\.0\.1:2379" asks for plaintext, but tls is set/);
  assert.throws(() => checkEtcdDiscoveryOptions({ endpoints: 'grpc://127.0.0.1:2379' }), /etcd endpoint "grpc:\/\/127\.0\.0\.1:2379": "grpc:\/\/" is not an etcd scheme/);
  // The same rules whatever names the endpoints: the option, FAIRWAY_ETCD_ENDPOINTS, or the registrar's option.
  const saved = process.env['FAIRWAY_ETCD_ENDPOINTS'];
  process.env['FAIRWAY_ETCD_ENDPOINTS'] = 'http://127.0.0.1:2379,https://127.0.0.1:22379';
  try {
    assert.throws(() => createEtcdSource(parseTarget('etcd:///pricer'), undefined), /\(FAIRWAY_ETCD_ENDPOINTS\): etcd endpoints .* one connection serves every endpoint/);
  } finally {
    if (saved === undefined) delete process.env['FAIRWAY_ETCD_ENDPOINTS'];
    else process.env['FAIRWAY_ETCD_ENDPOINTS'] = saved;
  }
  assert.deepEqual(createEtcdSource(parseTarget('etcd:///pricer'), { endpoints: 'https://127.0.0.1:2379/' }).status().etcdEndpoints, ['127.0.0.1:2379']);
});

describe('etcd source with TLS and authentication', { timeout: 60_000 }, () => {
  const etcd = startEtcdForSuite({ tls: true, auth: { password: 's3cret' } });

  test('user/password and CA/cert/key pass through to etcd', { timeout: 30_000 }, async () => {
    await etcd.etcdctl(['put', 'sec/a', goValue('127.0.0.1:7401', { zone: 'z1' })]);
    const tls = { ca: etcd.tls!.ca, cert: etcd.tls!.certFile, key: etcd.tls!.key.toString() };
    // https:// endpoints (etcd's own client URLs) with the TLS material, as etcdctl takes them.
    const src = createEtcdSource(parseTarget('etcd:///sec'), { endpoints: etcd.clientUrls, tls, auth: { username: 'root', password: 's3cret' }, logger: memoryLogger() });
    const rec = recorder();
    try {
      src.start(rec);
      const s = await rec.waitFor((x) => x.endpoints.length === 1);
      assert.deepEqual(s.endpoints, [{ address: '127.0.0.1:7401', zone: 'z1', instance: 'a' }]);
      await etcd.etcdctl(['put', 'sec/b', goValue('127.0.0.1:7402')]);
      await rec.waitFor((x) => x.endpoints.length === 2, 10_000, 'a watched put over TLS');
    } finally {
      await src.close();
    }
    // The registrar passes them through too.
    const reg = await register({ service: 'sec', address: '127.0.0.1:7403', instance: 'r', endpoints: etcd.endpoints, tls, auth: { username: 'root', password: 's3cret' }, logger: memoryLogger() });
    assert.match(await etcd.etcdctl(['get', 'sec/r', '--print-value-only']), /"Addr":"127\.0\.0\.1:7403"/);
    await reg.deregister();
    assert.equal((await etcd.etcdctl(['get', 'sec/r', '--print-value-only'])).trim(), '');
    await assert.rejects(
      register({ service: 'sec', address: '127.0.0.1:7404', instance: 'r2', endpoints: etcd.endpoints, tls, auth: { username: 'root', password: 'nope' }, dialTimeoutMs: 3000, logger: memoryLogger() }),
      (e: Error) => /auth/i.test(e.message) && !e.message.includes('nope'),
    );
    // A wrong password is reported as a fatal error, not retried silently.
    const bad = createEtcdSource(parseTarget('etcd:///sec'), { endpoints: etcd.endpoints, tls, auth: { username: 'root', password: 'wrong' }, dialTimeoutMs: 3000, logger: memoryLogger() });
    const rec2 = recorder();
    try {
      bad.start(rec2);
      const err = await rec2.waitForError(10_000);
      assert.equal(err.fatalForNow, true);
      assert.match(err.message, /auth/i);
      assert.doesNotMatch(err.message, /wrong/);
    } finally {
      await bad.close();
    }
  });
});
