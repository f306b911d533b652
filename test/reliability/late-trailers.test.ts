// A unary answer whose message arrives before the attempt timer but whose OK trailers come 2 s later (after the attempt timer plus the old grace) must
// reach the caller as OK: an attempt's grpc-js deadline shorter than the call's once turned it into
// DEADLINE_EXCEEDED. A raw HTTP/2 server on loopback holds the trailers back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { credentials } from '@grpc/grpc-js';
import { loadEcho, echoUnary } from '@fairway/testing';
import { createClient } from '@fairway/grpc';

test('an OK whose trailers arrive after the attempt timer is still OK', { timeout: 30_000 }, async () => {
  const { EchoClient } = loadEcho();
  let streams = 0;
  const server = createServer();
  server.on('stream', (stream) => {
    streams++;
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
          }, 2_000),
        );
        stream.end();
      }, 50);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const client = createClient(EchoClient, `static:///127.0.0.1:${port}`, credentials.createInsecure(), {
    retry: { attemptTimeoutMs: 800, maxAttempts: 3 },
  });
  try {
    const r = await echoUnary(client, { message: 'x' }, { deadlineMs: 10_000 });
    assert.equal(r.ok, true, `the server answered OK, the caller must see OK: ${JSON.stringify(r)}`);
    assert.equal(streams, 1, 'one attempt: the answer arrived before the attempt timer');
  } finally {
    client.close();
    server.close();
  }
});
