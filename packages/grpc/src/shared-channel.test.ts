// Issue 19 item 2, no silent drops: `retry` and `observers` given to createChannel reach every client made with
// clientOptions(channel) (a real retry happens, an observer sees every call) and every other client of the channel
// (a bare { channelOverride: channel }, as nice-grpc makes them): the channel runs the same call layer for those.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import { credentials, Channel, Metadata, status } from '@grpc/grpc-js';
import type { CallObserverFactory } from '@fairway/core';
import { loadEcho, startEchoBackend, echoUnary, type EchoBackend } from '@fairway/testing';
import { clientOptions, createChannel } from './factory.js';
import { FairwayOptionsError } from './options.js';
import type { Logger } from './logger.js';

const { EchoClient } = loadEcho();
const creds = credentials.createInsecure();

function recordingObserver(): { factory: CallObserverFactory; calls: string[]; kinds: string[]; attempts: { attempt: number; timedOut: boolean; address?: string }[] } {
  const calls: string[] = [];
  const kinds: string[] = [];
  const attempts: { attempt: number; timedOut: boolean; address?: string }[] = [];
  return {
    calls,
    kinds,
    attempts,
    factory: {
      onCallStart(call) {
        calls.push(call.method);
        kinds.push(call.kind);
        return {
          onAttemptStart(attempt) {
            let address: string | undefined;
            return {
              onPick: (pick) => void (address = pick.address),
              outgoingHeaders: () => ({}),
              onEnd: (outcome) => void attempts.push({ attempt, timedOut: outcome.timedOut, ...(address ? { address } : {}) }),
            };
          },
          onEnd() {},
        };
      },
    },
  };
}

function capturingLogger(): Logger & { errors: string[] } {
  const errors: string[] = [];
  return { errors, info() {}, warn() {}, error: (m) => void errors.push(m) };
}

describe('a channel made by createChannel carries retry and observers', { timeout: 60_000 }, () => {
  let fast: EchoBackend;
  let frozen: EchoBackend;
  let target: string;
  before(async () => {
    fast = await startEchoBackend({ id: 'fast', zone: 'z' });
    frozen = await startEchoBackend({ id: 'frozen', zone: 'z', serviceTimeMs: 3000 });
    target = `static:///${fast.address}@z,${frozen.address}@z`;
  });
  after(() => {
    fast.forceStop();
    frozen.forceStop();
  });

  test('clients made with clientOptions(channel) are retried and observed; two clients share the channel', async () => {
    const seen = recordingObserver();
    const logger = capturingLogger();
    const channel = createChannel(target, creds, { zone: 'z', retry: { attemptTimeoutMs: 150 }, observers: [seen.factory], logger });
    const a = new EchoClient(target, creds, clientOptions(channel));
    const b = new EchoClient(target, creds, clientOptions(channel));
    assert.equal(a.getChannel(), channel);
    assert.equal(b.getChannel(), channel);
    const results = [];
    // Until the frozen endpoint has been tried once (p2c draws it within a few calls), then some more.
    for (let i = 0; i < 40 && (results.length < 6 || !seen.attempts.some((x) => x.timedOut)); i++) {
      results.push(await echoUnary(i % 2 === 0 ? a : b, { message: `m${i}` }, { deadlineMs: 5000 }));
    }
    assert.ok(results.every((r) => r.ok), JSON.stringify(results.filter((r) => !r.ok)));
    assert.equal(seen.calls.length, results.length, 'the observer saw every call of both clients');
    const timedOut = seen.attempts.filter((x) => x.timedOut);
    assert.ok(timedOut.length >= 1, 'an attempt on the frozen endpoint timed out');
    assert.ok(timedOut.every((x) => x.address === frozen.address));
    assert.ok(seen.attempts.some((x) => x.attempt === 2 && !x.timedOut && x.address === fast.address), 'and was retried on the other one');
    // (The logger also gets the policy's own messages; none may say a client skipped the call layer.)
    assert.deepEqual(logger.errors.filter((m) => /without the channel's retry/.test(m)), [], 'nothing skipped the call layer');
    a.close();
    b.close();
    channel.close();
  });

  test('a bare { channelOverride: channel } client is retried and observed too (the channel carries the call layer)', async () => {
    const seen = recordingObserver();
    const logger = capturingLogger();
    const channel = createChannel(target, creds, { zone: 'z', retry: { attemptTimeoutMs: 150 }, observers: [seen.factory], logger });
    const bare = new EchoClient(target, creds, { channelOverride: channel });
    const results = [];
    for (let i = 0; i < 40 && (results.length < 6 || !seen.attempts.some((x) => x.timedOut)); i++) {
      results.push(await echoUnary(bare, { message: `m${i}` }, { deadlineMs: 5000 }));
    }
    assert.ok(results.every((r) => r.ok), JSON.stringify(results.filter((r) => !r.ok)));
    assert.ok(results.every((r) => r.ok && r.reply.message === r.reply.message), 'replies decoded by the client');
    assert.equal(seen.calls.length, results.length, 'the observer saw every call of the bare client');
    assert.ok(seen.attempts.some((x) => x.timedOut && x.address === frozen.address), 'an attempt on the frozen endpoint timed out');
    assert.ok(seen.attempts.some((x) => x.attempt === 2 && !x.timedOut && x.address === fast.address), 'and was retried on the other one');
    assert.deepEqual(logger.errors, []);
    bare.close();
    channel.close();
  });

  test('a bare client\'s streams keep their shape through the carried call layer (observed, not replayed)', async () => {
    const seen = recordingObserver();
    const channel = createChannel(`static:///${fast.address}@z`, creds, { zone: 'z', observers: [seen.factory] });
    const bare = new EchoClient(target, creds, { channelOverride: channel }) as unknown as {
      ServerStream(req: object, md: Metadata, opts: object): Duplex;
      ClientStream(md: Metadata, opts: object, cb: (e: Error | null, r?: { message: string }) => void): Duplex;
      Bidi(md: Metadata, opts: object): Duplex;
      close(): void;
    };
    const deadline = () => ({ deadline: Date.now() + 5000 });
    const streamed = await new Promise<unknown[]>((resolve, reject) => {
      const out: unknown[] = [];
      const s = bare.ServerStream({ message: 'a' }, new Metadata(), deadline());
      s.on('data', (d) => out.push(d));
      s.on('error', reject);
      s.on('end', () => resolve(out));
    });
    assert.ok(streamed.length >= 1, 'the server stream delivered its messages');
    // A request stream whose messages come in later ticks: the first message arrives after the call's tick.
    const joined = await new Promise<string>((resolve, reject) => {
      const c = bare.ClientStream(new Metadata(), deadline(), (e, r) => (e ? reject(e) : resolve(r!.message)));
      setTimeout(() => {
        c.write({ message: 'x' });
        setTimeout(() => {
          c.write({ message: 'y' });
          c.end();
        }, 5);
      }, 5);
    });
    assert.match(joined, /x,y/);
    // A bidi stream that waits for each answer before sending the next: nothing is held back.
    const echoed = await new Promise<number>((resolve, reject) => {
      const b = bare.Bidi(new Metadata(), deadline());
      let n = 0;
      b.on('data', () => {
        n += 1;
        if (n < 3) b.write({ message: `m${n}` });
        else b.end();
      });
      b.on('error', reject);
      b.on('end', () => resolve(n));
      b.write({ message: 'm0' });
    });
    assert.equal(echoed, 3);
    assert.equal(seen.calls.length, 3, 'each stream was observed');
    assert.deepEqual(seen.kinds, ['server_stream', 'client_stream', 'bidi'], 'the shape read from grpc-js\'s call order');
    assert.ok((await echoUnary(bare as never, { message: 'u' }, { deadlineMs: 5000 })).ok);
    assert.equal(seen.kinds[3], 'unary');
    bare.close();
    channel.close();
  });

  test('a call from a client of another grpc-js copy fails with DuplicateGrpcError\'s message, logged once', async () => {
    const logger = capturingLogger();
    const channel = createChannel(target, creds, { zone: 'z', retry: { attemptTimeoutMs: 150 }, logger });
    // What another copy's client hands the channel: its own Metadata class, not this copy's.
    const foreignMetadata = { clone() { return this; }, getMap: () => ({}) };
    const statuses = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<{ code: number; details: string }>((resolve) => {
            const call = channel.createCall('/fairway.test.Echo/Unary', Date.now() + 5000, null, null, null);
            call.start(foreignMetadata as unknown as Metadata, { onReceiveMetadata() {}, onReceiveMessage() {}, onReceiveStatus: (s) => resolve(s) });
          }),
      ),
    );
    for (const s of statuses) {
      assert.equal(s.code, status.FAILED_PRECONDITION);
      assert.match(s.details, /another @grpc\/grpc-js.*two copies of @grpc\/grpc-js/s);
    }
    assert.equal(logger.errors.length, 1, logger.errors.join('\n'));
    channel.close();
  });

  test('a channel without retry or observers logs nothing for bare clients', async () => {
    const logger = capturingLogger();
    const channel = createChannel(target, creds, { zone: 'z', logger });
    const bare = new EchoClient(target, creds, { channelOverride: channel });
    assert.ok((await echoUnary(bare, { message: 'x' }, { deadlineMs: 5000 })).ok);
    assert.deepEqual(logger.errors, []);
    bare.close();
    channel.close();
  });

  test('clientOptions(channel) refuses a channel Fairway did not make', () => {
    const plain = new Channel('127.0.0.1:1', creds, {});
    assert.throws(() => clientOptions(plain), (e: unknown) => e instanceof FairwayOptionsError && /made by createChannel/.test((e as Error).message));
    plain.close();
  });
});
