// A deadline thousands of years away (Number.MAX_SAFE_INTEGER, a common "no deadline") is no deadline: grpc-js
// cannot write such a grpc-timeout and throws "Deadline is too far in the future" from a promise, an unhandled
// rejection that ends the process (a plain grpc-js client does that too). Through a Fairway client the call answers.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, type Client } from '@grpc/grpc-js';
import { loadEcho, startEchoBackend, type EchoBackend } from '@fairway/testing';
import { createClient } from './factory.js';

const { EchoClient } = loadEcho();
const creds = credentials.createInsecure();

function callWithDeadline(client: Client, deadline: number | Date): Promise<string> {
  return new Promise((resolve) => {
    (client as unknown as { Unary: (r: object, o: object, cb: (e: { code?: number } | null) => void) => void }).Unary({ message: 'x' }, { deadline }, (e) =>
      resolve(e ? `error ${e.code}` : 'OK'),
    );
  });
}

describe('a deadline too far away for grpc-js', { timeout: 30_000 }, () => {
  let pod: EchoBackend;
  before(async () => {
    pod = await startEchoBackend({ id: 'p', zone: 'z' });
  });
  after(() => pod.forceStop());

  for (const [name, options] of [
    ['no call layer (the pass-through)', { zone: 'z' }],
    ['with an attempt timeout (the call layer)', { zone: 'z', retry: { attemptTimeoutMs: 1_000 } }],
  ] as const) {
    test(`${name}: Number.MAX_SAFE_INTEGER and a Date in the year 275760 answer OK`, async () => {
      const client = createClient(EchoClient, `static:///${pod.address}@z`, creds, options);
      try {
        assert.equal(await callWithDeadline(client, Number.MAX_SAFE_INTEGER), 'OK');
        assert.equal(await callWithDeadline(client, new Date(8.64e15)), 'OK');
        assert.equal(await callWithDeadline(client, Date.now() + 5_000), 'OK');
      } finally {
        client.close();
      }
    });
  }
});
