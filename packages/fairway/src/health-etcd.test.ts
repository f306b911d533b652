// Health checks with etcd: serveAndRegisterInEtcd serves grpc.health.v1 and, on shutdown, says NOT_SERVING
// before it deregisters and drains; a health-checking client under load loses no call.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { Server, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { childNodeArgs, loadEcho, type EchoReply, type EchoRequest } from '@fairway/testing';
import { serveAndRegisterInEtcd, type ServedInEtcd } from './index.js';
import { etcdSuite, quiet, sleep, startLoad, unary, waitFor } from './test-support/etcd-fixture.js';

describe('health checks with etcd registration', { timeout: 120_000 }, () => {
  const served: ServedInEtcd[] = [];
  after(async () => {
    await Promise.all(served.map((s) => s.shutdown()));
  });
  const suite = etcdSuite();
  const { etcd } = suite;

  test('shutdown: NOT_SERVING first, then deregister, then drain; a health-checking client under load loses no call', async () => {
    const { service } = loadEcho();
    for (const id of ['s1', 's2']) {
      const server = new Server();
      server.addService(service, {
        Unary: (call: ServerUnaryCall<EchoRequest, EchoReply>, reply: sendUnaryData<EchoReply>) =>
          setTimeout(() => reply(null, { message: call.request.message ?? '', server_id: id } as EchoReply), call.request.delay_ms ?? 2),
      });
      served.push(await serveAndRegisterInEtcd(server, { bind: '127.0.0.1:0', service: 'health1', instance: id, endpoints: etcd.endpoints, logger: quiet }));
    }
    const s1 = served[0]!;
    let servingWhenDeregistered: boolean | undefined;
    const deregister = s1.registration.deregister.bind(s1.registration);
    (s1.registration as { deregister: () => Promise<void> }).deregister = () => {
      servingWhenDeregistered = s1.health!.serving;
      return deregister();
    };
    const c = suite.client('health1', {
      channelOptions: { 'grpc.service_config': JSON.stringify({ healthCheckConfig: { serviceName: '' } }) },
    });
    const load = startLoad(() => unary(c));
    const { log, failures } = load;
    try {
      assert.ok(await waitFor(() => load.since(0).size === 2, 10_000), 'both endpoints take calls');
      const shutdownAt = Date.now();
      const done = s1.shutdown();
      assert.equal(s1.health!.serving, false, 'NOT_SERVING at once');
      await done;
      assert.equal(servingWhenDeregistered, false, 'NOT_SERVING before the key is deleted');
      assert.equal((await etcd.etcdctl(['get', 'health1/s1', '--print-value-only'])).trim(), '', 'deregistered');
      assert.ok(Date.now() - shutdownAt < 8_000, 'the drain did not wait for the forced shutdown (watch streams were ended)');
      await sleep(200);
      assert.ok(log.filter((r) => r.sentAt > shutdownAt + 100).every((r) => r.server === 's2'), 'after NOT_SERVING only s2 takes calls');
      assert.deepEqual(failures, [], 'no call failed');
    } finally {
      await load.stop();
    }
  });

  test('README example: examples/readme/health-checks.ts', { timeout: 60_000 }, async () => {
    const root = new URL('../../..', import.meta.url).pathname;
    const env = { ...process.env, FAIRWAY_ETCD_ENDPOINTS: etcd.endpointsCsv };
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [...childNodeArgs(), 'examples/readme/health-checks.ts'], { cwd: root, env, timeout: 50_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stdout}\n${stderr}`)) : resolve(stdout),
      ),
    );
    assert.match(out, /^before: pricer-a,pricer-b$/m, out);
    assert.match(out, /^not serving: pricer-b$/m, out);
    assert.match(out, /^serving: pricer-a,pricer-b$/m, out);
  });
});
