// The registrar against a real etcd: the exact key and value, lease kept alive, re-put after the lease is
// revoked and after it expired while etcd was down, a newer incarnation is never overwritten, deregister.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startEtcdForSuite, startRefusingEndpoint, type EtcdHarness } from '@fairway/testing';
import { parseTarget } from '@fairway/core';
import { register } from './registrar.js';
import { createEtcdSource } from './source.js';
import { recorder, memoryLogger, addrs } from './test-helpers.test-util.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function getJson(etcd: EtcdHarness, key: string): Promise<{ value?: string; lease?: string }> {
  const raw = await etcd.etcdctl(['get', key, '-w', 'json']);
  const out = JSON.parse(raw) as { kvs?: Array<{ value: string }> };
  const kv = out.kvs?.[0];
  if (!kv) return {};
  // Lease ids are int64: read them from the text, not through JSON numbers (which lose precision).
  const lease = /"lease":(\d+)/.exec(raw)?.[1];
  return { value: Buffer.from(kv.value, 'base64').toString(), ...(lease !== undefined ? { lease } : {}) };
}

async function until<T>(fn: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await sleep(200);
  }
}

describe('etcd registrar', { timeout: 120_000 }, () => {
  const etcd = startEtcdForSuite();

  test('puts the Go naming value under a lease; the source sees it; deregister deletes key and lease', { timeout: 30_000 }, async () => {
    const reg = await register({
      service: 'pricer',
      address: '127.0.0.1:50051',
      zone: 'zone-a',
      instance: 'pricer-1',
      weight: 2,
      endpoints: etcd.endpoints,
      logger: memoryLogger(),
    });
    try {
      assert.equal(reg.key, 'pricer/pricer-1');
      assert.match(reg.incarnation, /^\d{13}-[0-9a-f]{4}$/);
      const got = await getJson(etcd, 'pricer/pricer-1');
      assert.equal(got.value, `{"Op":0,"Addr":"127.0.0.1:50051","Metadata":{"zone":"zone-a","instance":"pricer-1","incarnation":"${reg.incarnation}","weight":2}}`);
      assert.ok(got.lease && got.lease !== '0', 'the key is bound to a lease');
      const ttl = JSON.parse(await etcd.etcdctl(['lease', 'timetolive', BigInt(got.lease!).toString(16), '-w', 'json'])) as { ttl: number; 'granted-ttl': number };
      assert.equal(ttl['granted-ttl'], 10, 'default TTL 10 s');
      assert.equal(reg.status().state, 'registered');
      const src = createEtcdSource(parseTarget('etcd:///pricer'), { endpoints: etcd.endpoints, logger: memoryLogger() });
      const rec = recorder();
      src.start(rec);
      try {
        const s = await rec.waitFor((x) => x.endpoints.length === 1);
        assert.deepEqual(s.endpoints[0], { address: '127.0.0.1:50051', zone: 'zone-a', instance: 'pricer-1', incarnation: reg.incarnation, weight: 2 });
        await reg.deregister();
        await rec.waitFor((x) => x.endpoints.length === 0, 10_000, 'the deregistered endpoint to go');
      } finally {
        await src.close();
      }
      assert.deepEqual(await getJson(etcd, 'pricer/pricer-1'), {});
      const leases = await etcd.etcdctl(['lease', 'list']);
      assert.doesNotMatch(leases, new RegExp(BigInt(got.lease!).toString(16)), 'the lease was revoked');
      assert.equal(reg.status().state, 'deregistered');
    } finally {
      await reg.deregister();
    }
  });

  test('a revoked lease is replaced: new lease, key put again, the process keeps running; each loss is said', { timeout: 30_000 }, async () => {
    const log = memoryLogger();
    const reg = await register({ service: 'rev', address: '127.0.0.1:50061', instance: 'r1', ttlSeconds: 3, endpoints: etcd.endpointsCsv, logger: log });
    try {
      const before1 = await getJson(etcd, 'rev/r1');
      await etcd.etcdctl(['lease', 'revoke', BigInt(before1.lease!).toString(16)]);
      const after1 = await until(async () => {
        const g = await getJson(etcd, 'rev/r1');
        return g.lease && g.lease !== before1.lease ? g : undefined;
      }, 15_000, 'the key under a new lease');
      assert.equal(after1.value, before1.value);
      assert.equal(reg.status().leaseLosses, 1);
      assert.equal(reg.status().puts, 2);
      assert.equal(reg.status().state, 'registered');
      // Said in Fairway's terms (what happened, what it means, what the registrar does), not as etcd3's
      // "Lease <id> is expired or revoked".
      const lost = log.lines.filter((l) => l.includes('lost lease'));
      assert.equal(lost.length, 1, log.lines.join('\n'));
      assert.match(
        lost[0]!,
        new RegExp(
          `^warn: etcd registration of "rev": lost lease ${before1.lease} of rev/r1: etcd no longer has it \\(revoked, e\\.g\\. by etcdctl lease revoke, or expired before a keep-alive arrived\\), ` +
            `and deleted the key with it; clients no longer see this endpoint until it is back\\. Re-registering it in etcd at ${etcd.endpointsCsv.replace(/\./g, '\\.')} under a new lease$`,
        ),
      );
      // A second loss soon after (well within the retry lines' 30-s rate limit) is said too: it is a second outage.
      await etcd.etcdctl(['lease', 'revoke', BigInt(after1.lease!).toString(16)]);
      await until(async () => {
        const g = await getJson(etcd, 'rev/r1');
        return g.lease && g.lease !== after1.lease ? g : undefined;
      }, 15_000, 'the key under a third lease');
      assert.equal(reg.status().leaseLosses, 2);
      const lostAgain = log.lines.filter((l) => l.includes('lost lease'));
      assert.equal(lostAgain.length, 2, log.lines.join('\n'));
      assert.match(lostAgain[1]!, new RegExp(`^warn: etcd registration of "rev": lost lease ${after1.lease} of rev/r1: .* under a new lease \\(lease losses so far: 2\\)$`));
    } finally {
      await reg.deregister();
    }
  });

  test('a lease that expired while etcd was down is re-registered once etcd returns', { timeout: 60_000 }, async () => {
    const log = memoryLogger();
    const reg = await register({ service: 'exp', address: '127.0.0.1:50071', instance: 'e1', ttlSeconds: 1, endpoints: etcd.endpoints, logger: log, maxBackoffMs: 500 });
    try {
      const first = await getJson(etcd, 'exp/e1');
      await etcd.kill();
      await sleep(3500); // > 2 x TTL: the client gives the lease up
      assert.equal(reg.status().state, 're-registering');
      await etcd.start();
      const again = await until(async () => {
        const g = await getJson(etcd, 'exp/e1');
        return g.lease && g.lease !== first.lease ? g : undefined;
      }, 20_000, 'the key under a new lease after etcd returned');
      assert.equal(again.value, first.value);
      // etcd3 words this "Lease We lost connection to etcd and our lease has expired. is expired or revoked".
      assert.ok(
        log.lines.some((l) => /lost lease \d+ of exp\/e1: no keep-alive got through to etcd for over 2s \(twice the 1s TTL\), so etcd has let it expire and deleted the key with it; .*Re-registering it in etcd at /.test(l)),
        log.lines.join('\n'),
      );
      assert.ok(!log.lines.some((l) => l.includes('Lease We lost')), log.lines.join('\n'));
      await until(async () => (reg.status().state === 'registered' ? true : undefined), 10_000, 'registered state');
      // And it stays: the new lease is kept alive past its TTL.
      await sleep(2500);
      assert.equal((await getJson(etcd, 'exp/e1')).value, first.value);
    } finally {
      await reg.deregister();
    }
  });

  test('a newer incarnation of the same instance is never overwritten by the older process', { timeout: 30_000 }, async () => {
    const log = memoryLogger();
    const old = await register({ service: 'inc', address: '127.0.0.1:50081', instance: 'i1', incarnation: '1000-0001', ttlSeconds: 2, endpoints: etcd.endpoints, logger: log });
    const neu = await register({ service: 'inc', address: '127.0.0.1:50082', instance: 'i1', incarnation: '2000-0002', ttlSeconds: 2, endpoints: etcd.endpoints, logger: memoryLogger() });
    try {
      const newerLease = (await getJson(etcd, 'inc/i1')).lease;
      assert.match((await getJson(etcd, 'inc/i1')).value ?? '', /2000-0002/);
      // The old process's lease (every lease but the newer one's) goes away; it must not put its value back.
      const leases = (await etcd.etcdctl(['lease', 'list'])).split('\n').filter((l) => /^[0-9a-f]+/.test(l.trim()) && !l.includes('found'));
      for (const l of leases) {
        const id = l.trim().split(/\s+/)[0]!;
        if (BigInt('0x' + id).toString() !== newerLease) await etcd.etcdctl(['lease', 'revoke', id]).catch(() => undefined);
      }
      await until(async () => (old.status().state === 'superseded' ? true : undefined), 15_000, 'the old registration to see it is superseded');
      assert.match((await getJson(etcd, 'inc/i1')).value ?? '', /2000-0002/);
      assert.equal(neu.status().state, 'registered');
      assert.ok(log.lines.some((l) => l.includes('newer incarnation 2000-0002')));
      // Deregistering the old one leaves the newer key in place.
      await old.deregister();
      assert.match((await getJson(etcd, 'inc/i1')).value ?? '', /2000-0002/);
    } finally {
      await old.deregister();
      await neu.deregister();
    }
  });

  test('bad options are refused naming the field; unreachable etcd at start rejects naming the endpoints', { timeout: 20_000 }, async () => {
    await assert.rejects(register({ service: '', address: '127.0.0.1:1', endpoints: 'x:1' }), /service must be/);
    await assert.rejects(register({ service: 's', address: 'nope', endpoints: 'x:1' }), /address "nope"/);
    await assert.rejects(register({ service: 's', address: '127.0.0.1:1', ttlSeconds: 0.5, endpoints: 'x:1' }), /ttlSeconds/);
    await assert.rejects(register({ service: 's', address: '127.0.0.1:1', weight: -1, endpoints: 'x:1' }), /weight/);
    const dead = await startRefusingEndpoint();
    const port = dead.port;
    const t0 = Date.now();
    try {
      await assert.rejects(
        register({ service: 's', address: '127.0.0.1:1', instance: 'x', endpoints: [`127.0.0.1:${port}`], dialTimeoutMs: 600, logger: memoryLogger() }),
        new RegExp(`cannot register s/x in etcd at 127\\.0\\.0\\.1:${port}`),
      );
      assert.ok(Date.now() - t0 < 10_000);
    } finally {
      await dead.close();
    }
  });
});
