// Closing a client or a channel while a call waits for its next attempt (a retry after a time-out, a hedge)
// must end that call with a status, never crash the host process: grpc-js refuses a new call on a closed channel
// by throwing "Channel has been shut down", and the call layer opens its later attempts from a timer, where a
// throw is an uncaught exception. A bare client on a closed Fairway channel gets grpc-js's synchronous throw.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, status } from '@grpc/grpc-js';
import type { Client } from '@grpc/grpc-js';
import { loadEcho, startEchoBackend, echoUnary, type EchoBackend } from '@fairway/testing';
import { clientOptions, createChannel, createClient } from './factory.js';
import type { FairwayOptions } from './options.js';

const { EchoClient } = loadEcho();
const creds = credentials.createInsecure();

describe('closing a client while a call waits for its next attempt', { timeout: 60_000 }, () => {
  let slow: EchoBackend[];
  let target: string;
  before(async () => {
    // Both answer after 300 ms: every attempt times out at 100 ms, so a retry (or a hedge) is always due.
    slow = await Promise.all(['s1', 's2'].map((id) => startEchoBackend({ id, zone: 'z', serviceTimeMs: 300 })));
    target = `static:///${slow.map((b) => `${b.address}@z`).join(',')}`;
  });
  after(() => {
    for (const b of slow) b.forceStop();
  });

  const retry = { attemptTimeoutMs: 100, retryIntervalMs: 50, maxAttempts: 4 };
  const hedged = { hedging: { methods: ['fairway.test.Echo/Unary'], delayMs: 100, budgetRatio: 1 } };
  const cases: Array<{ name: string; options: FairwayOptions; make: (o: FairwayOptions) => { client: Client; close: () => void }; expect: RegExp }> = [
    {
      name: 'createClient, a retry after a time-out',
      options: { zone: 'z', retry },
      make: (o) => {
        const client = createClient(EchoClient, target, creds, o);
        return { client, close: () => client.close() };
      },
      expect: /^attempt 2 could not start: Channel has been shut down/,
    },
    {
      name: 'clientOptions(createChannel(...)), a retry after a time-out',
      options: { zone: 'z', retry },
      make: (o) => {
        const channel = createChannel(target, creds, o);
        return { client: new EchoClient(target, creds, clientOptions(channel)), close: () => channel.close() };
      },
      expect: /^attempt 2 could not start: Channel has been shut down/,
    },
    {
      name: 'a bare { channelOverride } on a Fairway channel (nice-grpc\'s way), a retry after a time-out',
      options: { zone: 'z', retry },
      make: (o) => {
        const channel = createChannel(target, creds, o);
        return { client: new EchoClient(target, creds, { channelOverride: channel }), close: () => channel.close() };
      },
      expect: /^attempt 2 could not start: Channel has been shut down/,
    },
  ];
  for (const c of cases) {
    test(`${c.name}: the call ends UNAVAILABLE naming the attempt, the process lives on`, async () => {
      const { client, close } = c.make(c.options);
      // Connected first, so the measured call's first attempt is on the wire when the channel closes.
      await echoUnary(client, { message: 'warm' }, { deadlineMs: 5_000 });
      const pending = echoUnary(client, { message: 'x' }, { deadlineMs: 5_000 });
      setTimeout(close, 40);
      const r = await pending;
      assert.equal(r.ok, false, 'the call cannot succeed: its only attempts time out');
      if (!r.ok) {
        assert.equal(r.code, status.UNAVAILABLE, r.details);
        assert.match(r.details, c.expect);
      }
      assert.ok(r.ms < 1_000, `ended at ${r.ms} ms, not at its 5-s deadline`);
    });
  }

  test('a hedge due after close: the hedge cannot start, the first attempt still answers the call', async () => {
    const client = createClient(EchoClient, target, creds, { zone: 'z', retry: hedged });
    await echoUnary(client, { message: 'warm' }, { deadlineMs: 5_000 });
    const pending = echoUnary(client, { message: 'x' }, { deadlineMs: 5_000 });
    setTimeout(() => client.close(), 40);
    const r = await pending;
    assert.equal(r.ok, true, r.ok ? '' : `${r.code} ${r.details}`);
    assert.ok(r.ms >= 250, `answered at ${r.ms} ms: by the first attempt (300 ms), not a hedge`);
  });

  test('a bare client on a closed Fairway channel throws at once, as on a grpc-js channel', () => {
    const channel = createChannel(target, creds, { zone: 'z', retry });
    const client = new EchoClient(target, creds, { channelOverride: channel });
    channel.close();
    assert.throws(() => (client as unknown as { Unary: (r: object, cb: () => void) => void }).Unary({ message: 'x' }, () => {}), /Channel has been shut down/);
  });
});
