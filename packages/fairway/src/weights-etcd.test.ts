// Weights end to end: a real etcd, real grpc-js Echo backends on loopback, registrations whose weight changes
// live (Registration.setWeight). Weight divides an endpoint's cost; weight 0 drains it with no failed call.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { childNodeArgs, type EchoReply, type EchoRequest } from '@fairway/testing';
import { registerInEtcd } from './index.js';
import { etcdSuite, sleep, startLoad, unary, waitFor } from './test-support/etcd-fixture.js';

describe('weights through etcd', { timeout: 120_000 }, () => {
  const suite = etcdSuite();
  const { etcd } = suite;

  test('weight 0 drains a live endpoint (calls in flight finish, no call fails), a weight above 0 brings it back', async () => {
    const ids = ['w1', 'w2', 'w3'];
    const backends = await Promise.all(ids.map((id) => suite.backend({ id, zone: 'zone-a', serviceTimeMs: 2 })));
    const regs = await Promise.all(
      backends.map((b, i) => registerInEtcd({ service: 'weights1', address: b.address, zone: 'zone-a', instance: ids[i]!, endpoints: etcd.endpoints })),
    );
    const c = suite.client('weights1', { zone: 'zone-a' });
    const call = (req: EchoRequest = { message: 'hi' }) => unary(c, req);

    // Load: 8 callers in a loop; every reply is recorded with the time it was sent.
    const load = startLoad(() => call());
    const { log, failures } = load;
    try {
      assert.ok(await waitFor(() => load.since(0).size === 3, 10_000), 'all three endpoints take calls');

      // A long call in flight on w1 when it drains: it must finish.
      const longOnW1: Array<Promise<EchoReply>> = [];
      for (let i = 0; i < 12; i++) longOnW1.push(call({ message: 'long', delay_ms: 600 }));
      await sleep(100);
      await regs[0]!.setWeight(0);
      const drainedAt = Date.now();
      await sleep(1_000);
      const late = log.filter((r) => r.sentAt > drainedAt + 500 && r.server === 'w1');
      assert.equal(late.length, 0, `no new calls reach the drained endpoint 500 ms after the change (got ${late.length})`);
      assert.ok(log.filter((r) => r.sentAt > drainedAt + 500).length > 20, 'the others keep taking calls');
      const longReplies = await Promise.all(longOnW1);
      assert.ok(longReplies.some((r) => r.server_id === 'w1'), 'some long calls were on w1 and finished there');

      await regs[0]!.setWeight(3);
      const undrainedAt = Date.now();
      await waitFor(() => load.since(undrainedAt).has('w1'), 10_000);
      assert.ok(log.some((r) => r.sentAt > undrainedAt && r.server === 'w1'), 'undrained, w1 takes calls again');
      assert.deepEqual(failures, [], 'no call failed');
    } finally {
      await load.stop();
      await Promise.all(regs.map((r) => r.deregister()));
    }
  });

  test('every endpoint drained: calls fail fast with UNAVAILABLE naming the drain, not hang', async () => {
    const b = await suite.backend({ id: 'd1' });
    const reg = await registerInEtcd({ service: 'weights2', address: b.address, instance: 'd1', weight: 0, endpoints: etcd.endpoints });
    try {
      const c = suite.client('weights2');
      const err = await new Promise<Error & { code?: number }>((resolve) =>
        c.Unary({ message: 'x' }, { deadline: Date.now() + 8000 }, (e) => resolve(e ?? new Error('no error'))),
      );
      assert.equal(err.code, 14, `UNAVAILABLE, got ${err.message}`);
      assert.match(err.message, /drained \(weight 0\)/);
    } finally {
      await reg.deregister();
    }
  });

  test('README example: examples/readme/drain-weight.ts', { timeout: 60_000 }, async () => {
    const root = new URL('../../..', import.meta.url).pathname;
    const env = { ...process.env, FAIRWAY_ETCD_ENDPOINTS: etcd.endpointsCsv };
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [...childNodeArgs(), 'examples/readme/drain-weight.ts'], { cwd: root, env, timeout: 50_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stdout}\n${stderr}`)) : resolve(stdout),
      ),
    );
    assert.match(out, /^before: pricer-a,pricer-b$/m, out);
    assert.match(out, /^drained: pricer-b$/m, out);
    assert.match(out, /^back: pricer-a,pricer-b$/m, out);
  });
});
