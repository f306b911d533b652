// An observer written with `async` methods returns promises; when one rejects, the rejection must be reported like
// a throw ("a call observer threw (the call goes on)"), never left unhandled: an unhandled rejection ends a Node
// process. Covers a lone observer (called directly by the call layer) and several (each guarded).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { credentials } from '@grpc/grpc-js';
import type { CallObserverFactory } from '@fairway/core';
import { loadEcho, startEchoBackend, echoUnary, type EchoBackend } from '@fairway/testing';
import { createClient } from './factory.js';

const { EchoClient } = loadEcho();
const creds = credentials.createInsecure();

const rejecting = (tag: string): CallObserverFactory => ({
  onCallStart: () => ({
    onAttemptStart: () => ({
      onPick: async () => {
        throw new Error(`${tag}: pick rejected`);
      },
      outgoingHeaders: () => ({}),
      onEnd: async () => {
        throw new Error(`${tag}: attempt end rejected`);
      },
    }),
    onEnd: async () => {
      throw new Error(`${tag}: call end rejected`);
    },
  }),
});

describe('observers whose async methods reject', { timeout: 30_000 }, () => {
  let pod: EchoBackend;
  before(async () => {
    pod = await startEchoBackend({ id: 'p', zone: 'z' });
  });
  after(() => pod.forceStop());

  for (const [name, observers] of [
    ['a lone observer', [rejecting('lone')]],
    ['two observers', [rejecting('first'), rejecting('second')]],
  ] as const) {
    test(`${name}: the call answers, every rejection is reported as an observer error, none is unhandled`, async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (e: unknown): void => void unhandled.push(e);
      process.on('unhandledRejection', onUnhandled);
      const reported: string[] = [];
      const originalError = console.error;
      console.error = (...args: unknown[]) => void reported.push(args.map(String).join(' '));
      try {
        const client = createClient(EchoClient, `static:///${pod.address}@z`, creds, { zone: 'z', observers: [...observers], retry: { attemptTimeoutMs: 2_000 } });
        const r = await echoUnary(client, { message: 'x' }, { deadlineMs: 5_000 });
        assert.equal(r.ok, true);
        await new Promise((resolve) => setImmediate(resolve));
        await new Promise((resolve) => setTimeout(resolve, 20));
        client.close();
      } finally {
        console.error = originalError;
        process.off('unhandledRejection', onUnhandled);
      }
      assert.deepEqual(unhandled, []);
      const tag = observers.length === 1 ? 'lone' : 'first';
      for (const what of ['pick rejected', 'attempt end rejected', 'call end rejected']) {
        assert.ok(reported.some((l) => l.includes('a call observer threw') && l.includes(`${tag}: ${what}`)), `${what} not reported: ${reported.join(' | ')}`);
      }
    });
  }
});
