// A unary attempt has answered when its status arrives. A raw HTTP/2 server on loopback sends the message at
// once and holds the OK trailers back:
// - trailers within the attempt timer: one attempt, OK (an attempt's grpc-js deadline shorter than the call's
//   once turned a late OK into DEADLINE_EXCEEDED; every attempt carries the call's deadline now);
// - trailers after the attempt timer (a server that froze between its message and its status): the attempt
//   times out and the call is retried, instead of waiting for the call's deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { credentials } from '@grpc/grpc-js';
import { loadEcho, echoUnary } from '@fairway/testing';
import { createClient } from '@fairway/grpc';

/** A server that answers every unary call with "hi" at once and its OK trailers `trailerDelayMs(n)` later. */
async function lateTrailerServer(trailerDelayMs: (streamNumber: number) => number) {
  let streams = 0;
  const server = createServer();
  server.on('stream', (stream) => {
    const n = ++streams;
    stream.on('error', () => {});
    stream.on('data', () => {});
    stream.on('end', () => {
      setTimeout(() => {
        if (stream.destroyed) return;
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        const body = Buffer.from([0x0a, 0x02, 0x68, 0x69]); // Echo reply field 1 = "hi"
        const frame = Buffer.alloc(5 + body.length);
        frame.writeUInt32BE(body.length, 1);
        body.copy(frame, 5);
        stream.write(frame);
        stream.on('wantTrailers', () =>
          setTimeout(() => {
            if (!stream.destroyed) stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': '' });
          }, trailerDelayMs(n)),
        );
        stream.end();
      }, 50);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, streams: () => streams, close: () => server.close() };
}

test('an OK whose trailers arrive within the attempt timer is OK after one attempt', { timeout: 30_000 }, async () => {
  const { EchoClient } = loadEcho();
  const server = await lateTrailerServer(() => 400);
  const client = createClient(EchoClient, `static:///127.0.0.1:${server.port}`, credentials.createInsecure(), {
    retry: { attemptTimeoutMs: 1_500, maxAttempts: 3 },
  });
  try {
    const r = await echoUnary(client, { message: 'x' }, { deadlineMs: 10_000 });
    assert.equal(r.ok, true, `the server answered OK, the caller must see OK: ${JSON.stringify(r)}`);
    assert.equal(server.streams(), 1, 'one attempt: the answer (message and status) arrived before the attempt timer');
  } finally {
    client.close();
    server.close();
  }
});

test('a message without its status by the attempt timer is a timed-out attempt: retried, not waited on', { timeout: 30_000 }, async () => {
  const { EchoClient } = loadEcho();
  const server = await lateTrailerServer((n) => (n === 1 ? 20_000 : 0)); // the first "freezes" after its message
  const client = createClient(EchoClient, `static:///127.0.0.1:${server.port}`, credentials.createInsecure(), {
    retry: { attemptTimeoutMs: 800, maxAttempts: 3 },
  });
  try {
    const started = Date.now();
    const r = await echoUnary(client, { message: 'x' }, { deadlineMs: 10_000 });
    assert.equal(r.ok, true, `the retry answered OK: ${JSON.stringify(r)}`);
    assert.equal(server.streams(), 2, 'the first attempt timed out waiting for its status; the second answered');
    assert.ok(Date.now() - started < 5_000, `well before the call deadline: ${Date.now() - started} ms`);
  } finally {
    client.close();
    server.close();
  }
});
