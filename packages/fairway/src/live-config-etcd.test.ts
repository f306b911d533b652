// The live configuration document in etcd (`_fairway_config/<service>`), with a real etcd and loopback
// backends: a drain written there changes a running client within 1 s with no failed call; bad documents are
// refused naming the field, and the last good one stays.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, type Client } from '@grpc/grpc-js';
import { startEtcdForSuite, startEchoBackend, loadEcho, type EchoBackend, type EchoReply, type EchoRequest } from '@fairway/testing';
import { createClient, registerInEtcd } from './index.js';

type EchoClient = Client & {
  Unary(req: EchoRequest, opts: { deadline: number }, cb: (err: (Error & { code?: number }) | null, reply?: EchoReply) => void): void;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('live configuration document in etcd', { timeout: 120_000 }, () => {
  const backends: EchoBackend[] = [];
  const clients: Client[] = [];
  after(() => {
    for (const c of clients) c.close();
    for (const b of backends) b.forceStop();
  });
  const etcd = startEtcdForSuite();

  test('a drain written to _fairway_config/<service> reaches a running client within 1 s, no call fails; bad documents are refused naming the field', async () => {
    const ids = ['c1', 'c2', 'c3'];
    for (const id of ids) backends.push(await startEchoBackend({ id, serviceTimeMs: 2 }));
    const regs = await Promise.all(backends.map((b, i) => registerInEtcd({ service: 'live1', address: b.address, instance: ids[i]!, endpoints: etcd.endpoints })));
    const warnings: string[] = [];
    const { EchoClient } = loadEcho();
    const c = createClient(EchoClient, 'etcd:///live1', credentials.createInsecure(), {
      discovery: { etcd: { endpoints: etcd.endpoints, logger: { info() {}, warn: (m: string) => warnings.push(m), error: (m: string) => warnings.push(m) } } },
      logger: { info() {}, warn() {}, error() {} },
    }) as unknown as EchoClient;
    clients.push(c);
    const call = () =>
      new Promise<EchoReply>((resolve, reject) => c.Unary({ message: 'x' }, { deadline: Date.now() + 5000 }, (err, r) => (err ? reject(err) : resolve(r!))));
    const log: Array<{ sentAt: number; server: string }> = [];
    const failures: unknown[] = [];
    let running = true;
    const workers = Array.from({ length: 8 }, async () => {
      while (running) {
        const sentAt = Date.now();
        try {
          log.push({ sentAt, server: (await call()).server_id });
        } catch (err) {
          failures.push(err);
        }
      }
    });
    const since = (t: number) => new Set(log.filter((r) => r.sentAt > t).map((r) => r.server));
    try {
      const end = Date.now() + 10_000;
      while (since(0).size < 3 && Date.now() < end) await sleep(20);
      assert.equal(since(0).size, 3);

      await etcd.etcdctl(['put', '_fairway_config/live1', '{"version":1,"endpoints":{"c1":{"weight":0}}}']);
      const changedAt = Date.now();
      await sleep(1_500);
      assert.deepEqual([...since(changedAt + 1_000)].sort(), ['c2', 'c3'], 'the drain applies within 1 s');

      const bad: Array<[string, RegExp]> = [
        ['{{{ garbage', /\(document\): not valid JSON/],
        ['{"version":1,"endpoints":{"c1":{"weight":-5}}}', /endpoints\["c1"\]\.weight: must be a number from 0 \(drain\) to 1000000, got -5/],
        ['{"version":1,"endpoints":{"c1":{"weight":1}},"decayMillis":5}', /decayMillis: unknown field/],
      ];
      for (const [text, named] of bad) {
        await etcd.etcdctl(['put', '_fairway_config/live1', text]);
        const at = Date.now();
        const until = Date.now() + 5_000;
        while (!warnings.some((w) => named.test(w)) && Date.now() < until) await sleep(20);
        assert.ok(warnings.some((w) => named.test(w) && w.includes('_fairway_config/live1') && /keeping revision \d+/.test(w)), `refused with the field named: ${warnings.join('\n')}`);
        await sleep(300);
        assert.deepEqual([...since(at)].sort(), ['c2', 'c3'], `the last good document stays after ${text}`);
      }

      await etcd.etcdctl(['del', '_fairway_config/live1']);
      const deletedAt = Date.now();
      const until = Date.now() + 5_000;
      while (!since(deletedAt).has('c1') && Date.now() < until) await sleep(20);
      assert.ok(since(deletedAt).has('c1'), 'deleting the document lifts the drain');
      assert.deepEqual(failures, [], 'no call failed');
    } finally {
      running = false;
      await Promise.all(workers);
      await Promise.all(regs.map((r) => r.deregister()));
    }
  });
});
