// A target's scheme is case-insensitive (RFC 3986; grpc-go lower-cases it too). grpc-js looks its resolvers up by
// the exact scheme, so "STATIC:///..." handed on as written would resolve as a DNS name, a silent fallback to
// `dns:` that the README rules out. Every way of making a client hands grpc-js the scheme in lower case.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { credentials } from '@grpc/grpc-js';
import { loadEcho, startEchoBackend, echoUnary, type EchoBackend } from '@fairway/testing';
import { clientOptions, createChannel, createClient } from './factory.js';

const { EchoClient } = loadEcho();
const creds = credentials.createInsecure();

describe('a target whose scheme is not in lower case', { timeout: 30_000 }, () => {
  let pod: EchoBackend;
  before(async () => {
    pod = await startEchoBackend({ id: 'p', zone: 'z' });
  });
  after(() => pod.forceStop());

  test('createClient, createChannel and clientOptions all reach the static source, not DNS', async () => {
    const makers = [
      () => createClient(EchoClient, `STATIC:///${pod.address}`, creds, { zone: 'z' }),
      () => new EchoClient(`Static:///${pod.address}`, creds, clientOptions({ zone: 'z' })),
      () => {
        const channel = createChannel(`sTaTiC:///${pod.address}`, creds, { zone: 'z', retry: { attemptTimeoutMs: 1_000 } });
        return new EchoClient(`sTaTiC:///${pod.address}`, creds, clientOptions(channel));
      },
    ];
    for (const make of makers) {
      const client = make();
      try {
        assert.equal(client.getChannel().getTarget(), `static:///${pod.address}`);
        const r = await echoUnary(client, { message: 'x' }, { deadlineMs: 5_000 });
        assert.equal(r.ok, true, r.ok ? '' : `${r.code} ${r.details}`);
      } finally {
        client.close();
      }
    }
  });
});
