// Issue 19 item 2, no silent drops: `retry` and `observers` given to createChannel reach every client made with
// clientOptions(channel) (a real retry happens, an observer sees every call); a client made with a bare
// { channelOverride: channel } is named in an error log instead of silently running without them.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, Channel } from '@grpc/grpc-js';
import type { CallObserverFactory } from '@fairway/core';
import { loadEcho, startEchoBackend, echoUnary, type EchoBackend } from '@fairway/testing';
import { clientOptions, createChannel } from './factory.js';
import { FairwayOptionsError } from './options.js';
import type { Logger } from './logger.js';

const { EchoClient } = loadEcho();
const creds = credentials.createInsecure();

function recordingObserver(): { factory: CallObserverFactory; calls: string[]; attempts: { attempt: number; timedOut: boolean; address?: string }[] } {
  const calls: string[] = [];
  const attempts: { attempt: number; timedOut: boolean; address?: string }[] = [];
  return {
    calls,
    attempts,
    factory: {
      onCallStart(call) {
        calls.push(call.method);
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

  test('a bare { channelOverride: channel } client is named in an error log, once, with the fix', async () => {
    const seen = recordingObserver();
    const logger = capturingLogger();
    const channel = createChannel(target, creds, { zone: 'z', observers: [seen.factory], logger });
    const bare = new EchoClient(target, creds, { channelOverride: channel });
    const r1 = await echoUnary(bare, { message: 'x' }, { deadlineMs: 5000 });
    const r2 = await echoUnary(bare, { message: 'y' }, { deadlineMs: 5000 });
    assert.ok(r1.ok && r2.ok);
    assert.equal(seen.calls.length, 0, 'a bare client cannot run the observers');
    assert.equal(logger.errors.length, 1, logger.errors.join('\n'));
    assert.match(logger.errors[0]!, /without the channel's retry and observers.*clientOptions\(channel\)/s);
    bare.close();
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
