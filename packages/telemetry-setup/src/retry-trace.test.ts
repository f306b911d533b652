// End to end: a retried call has one attempt span per try, each naming its endpoint and zone; the retried
// ones name the reason. The pricer (its own process) calls two publishers (their own processes): the only
// one in its zone is slow, so its attempts time out and are retried on the other.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { ReceivedSpan } from '@fairway/testing';
import { chainSuite } from './test-support/chain-processes.js';

describe('retries in the trace', () => {
  const chain = chainSuite();

  test('one attempt span per try, endpoint and zone on each, the reason on the retried ones', { timeout: 90_000 }, async () => {
    const receiver = await chain.startReceiver();
    const otlp = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.grpcEndpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' };
    const [slow, fast] = await Promise.all([
      chain.start({ CHAIN_ROLE: 'publisher', CHAIN_ZONE: 'zone-a', CHAIN_DELAY_MS: '3000', ...otlp }),
      chain.start({ CHAIN_ROLE: 'publisher', CHAIN_ZONE: 'zone-b', CHAIN_DELAY_MS: '0', ...otlp }),
    ]);
    const pricer = await chain.start({
      CHAIN_ROLE: 'pricer',
      CHAIN_ZONE: 'zone-a',
      CHAIN_DOWNSTREAM: `static:///127.0.0.1:${slow!.port}@zone-a,127.0.0.1:${fast!.port}@zone-b`,
      CHAIN_ATTEMPT_TIMEOUT_MS: '300',
      ...otlp,
    });
    const client = await chain.start({
      CHAIN_ROLE: 'client',
      CHAIN_ZONE: 'zone-a',
      CHAIN_DOWNSTREAM: `static:///127.0.0.1:${pricer.port}@zone-a`,
      CHAIN_CALLS: '3',
      ...otlp,
    });
    const results = await client.result();
    assert.ok(results.every((r) => r.ok), `calls: ${JSON.stringify(results)}; pricer stderr: ${pricer.stderr()}`);
    await pricer.stop();
    await Promise.all([slow!.stop(), fast!.stop()]);

    const isPublishCall = (s: ReceivedSpan) => s.serviceName === 'pricer' && s.name === 'fairway.chain.Publisher/Publish';
    const spans = await receiver.waitForSpans((all) => all.filter(isPublishCall).length >= 3, 30_000);
    const calls = spans.filter(isPublishCall);
    assert.equal(calls.length, 3);
    const retried = calls.filter((c) => Number(c.attributes['fairway.attempts']) >= 2);
    assert.ok(retried.length >= 1, `no call was retried: attempts ${calls.map((c) => c.attributes['fairway.attempts']).join(',')}`);
    for (const call of calls) {
      const attempts = spans
        .filter((s) => s.parentSpanId === call.spanId)
        .sort((a, b) => Number(a.attributes['fairway.attempt']) - Number(b.attributes['fairway.attempt']));
      const n = Number(call.attributes['fairway.attempts']);
      assert.equal(attempts.length, n, 'one attempt span per try');
      assert.deepEqual(attempts.map((a) => a.attributes['fairway.attempt']), Array.from({ length: n }, (_, i) => i + 1));
      assert.equal(call.attributes['rpc.grpc.status_code'], 0);
      attempts.forEach((a, i) => {
        assert.match(String(a.attributes['fairway.endpoint.address']), /^127\.0\.0\.1:\d+$/, 'each attempt names its endpoint');
        assert.match(String(a.attributes['fairway.endpoint.zone']), /^zone-[ab]$/, 'and its zone');
        assert.equal(a.attributes['fairway.client.zone'], 'zone-a');
        assert.ok(String(a.attributes['fairway.pick.reason']).length > 0);
        const last = i === attempts.length - 1;
        if (last) {
          assert.equal(a.attributes['fairway.retry.reason'], undefined, 'the final attempt was not retried');
          assert.equal(a.attributes['rpc.grpc.status_code'], 0);
          assert.equal(a.attributes['fairway.endpoint.address'], `127.0.0.1:${fast!.port}`);
        } else {
          assert.match(String(a.attributes['fairway.retry.reason']), /time/i, 'a retried attempt names why');
          assert.equal(a.attributes['fairway.attempt.timed_out'], true);
          assert.equal(a.attributes['fairway.endpoint.address'], `127.0.0.1:${slow!.port}`);
          assert.equal(a.attributes['fairway.endpoint.zone'], 'zone-a');
          assert.equal(a.status.code, 2, 'a timed-out attempt is an error span');
          assert.notEqual(attempts[i + 1]!.attributes['fairway.endpoint.address'], a.attributes['fairway.endpoint.address'], 'the retry went elsewhere');
        }
      });
    }
    // The slow publisher's server span continues the timed-out attempt's trace.
    const firstRetried = retried[0]!;
    const timedOutAttempt = spans.find((s) => s.parentSpanId === firstRetried.spanId && s.attributes['fairway.attempt'] === 1)!;
    const slowServer = await receiver.waitForSpans((all) => all.some((s) => s.parentSpanId === timedOutAttempt.spanId), 20_000);
    const server = slowServer.find((s) => s.parentSpanId === timedOutAttempt.spanId)!;
    assert.equal(server.serviceName, 'publisher');
    assert.equal(server.kind, 2);

    const points = await receiver.waitForMetricPoints((p) => p.some((x) => x.name === 'fairway.client.retries' && x.serviceName === 'pricer'), 20_000);
    const retries = points.filter((p) => p.name === 'fairway.client.retries' && p.serviceName === 'pricer');
    assert.ok(retries.some((p) => p.attributes['fairway.endpoint.address'] === `127.0.0.1:${slow!.port}` && (p.value ?? 0) >= 1));
  });
});
