// endpointTable(client): the live balancer's rows of a client made by Fairway (what an operator asks when a pod is
// avoided: is it ejected, why, for how long; is it still warming up), through every way of making a client.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client, credentials, status } from '@grpc/grpc-js';
import { loadEcho, startEchoBackend, echoUnary, type EchoBackend } from '@fairway/testing';
import { clientOptions, createChannel, createClient, endpointTable } from './factory.js';
import { FairwayOptionsError } from './options.js';

const { EchoClient } = loadEcho();
const creds = credentials.createInsecure();

describe('endpointTable(client)', { timeout: 30_000 }, () => {
  let good: EchoBackend[];
  let failing: EchoBackend;
  let target: string;
  before(async () => {
    good = await Promise.all(['g1', 'g2'].map((id) => startEchoBackend({ id, zone: 'z' })));
    failing = await startEchoBackend({ id: 'bad', zone: 'z', failCode: status.UNAVAILABLE });
    target = `static:///${[...good, failing].map((b) => `${b.address}@z`).join(',')}`;
  });
  after(() => {
    for (const b of [...good, failing]) b.forceStop();
  });

  test('shows the endpoint that failed as ejected, with its reason and time left; the others in, warm', async () => {
    const client = createClient(EchoClient, target, creds, { zone: 'z', outlierEjection: { consecutiveFailures: 1, baseEjectionMs: 60_000 } });
    try {
      assert.deepEqual(endpointTable(client), [], 'nothing before discovery has answered');
      const row = () => endpointTable(client).find((r) => r.address === failing.address);
      for (let i = 0; i < 200 && row()?.ejection !== 'ejected'; i++) await echoUnary(client, { message: 'x' }, { deadlineMs: 2_000 });
      const rows = endpointTable(client);
      assert.equal(rows.length, 3);
      const bad = row()!;
      assert.equal(bad.ejection, 'ejected');
      assert.equal(bad.ejectionReason, 'consecutive-failures');
      assert.equal(bad.ejections, 1);
      assert.ok(bad.ejectedForMs !== undefined && bad.ejectedForMs > 50_000 && bad.ejectedForMs <= 60_000, String(bad.ejectedForMs));
      for (const g of good) {
        const r = rows.find((x) => x.address === g.address)!;
        assert.equal(r.ejection, 'none');
        assert.equal(r.ready, true);
        assert.equal(r.zone, 'z');
        assert.equal(r.slowStartFactor, 1);
        assert.equal(r.inFlight, 0);
      }
    } finally {
      client.close();
    }
  });

  test('clientOptions(...) and a shared createChannel(...) give the same table; a plain grpc-js client is refused', async () => {
    const viaOptions = new EchoClient(target, creds, clientOptions({ zone: 'z' }));
    const channel = createChannel(target, creds, { zone: 'z' });
    const viaChannel = new EchoClient(target, creds, clientOptions(channel));
    try {
      await echoUnary(viaOptions, { message: 'x' }, { deadlineMs: 2_000 });
      await echoUnary(viaChannel, { message: 'x' }, { deadlineMs: 2_000 });
      for (const t of [endpointTable(viaOptions), endpointTable(viaChannel), endpointTable(channel)]) {
        assert.deepEqual(t.map((r) => r.address).sort(), [...good, failing].map((b) => b.address).sort());
      }
    } finally {
      viaOptions.close();
      viaChannel.close();
      channel.close();
    }
    const plain = new Client(good[0]!.address, creds);
    try {
      assert.throws(() => endpointTable(plain), (e: unknown) => e instanceof FairwayOptionsError && /takes a client or channel made by Fairway/.test(e.message));
    } finally {
      plain.close();
    }
  });
});
