// example: examples/readme/transparent-repicks.ts
// A call that never reached a server is re-picked on another one at once: not a retry, so no timeout needed.
import { createServer, constants } from 'node:http2';
import { credentials } from '@grpc/grpc-js';
import { createClient } from 'fairway-grpc';
import type { CallObserverFactory } from 'fairway-grpc';
import { loadEcho, startEchoBackend } from '@fairway/testing';

// Two servers refuse every stream (RST_STREAM REFUSED_STREAM, as a server over its stream limit does, and
// as a stream above a GOAWAY's last-stream-id ends): the request provably never reached the application.
const refusers = await Promise.all(
  [1, 2].map(
    () =>
      new Promise<ReturnType<typeof createServer>>((resolve) => {
        const server = createServer();
        server.on('stream', (stream) => {
          stream.on('error', () => undefined);
          stream.close(constants.NGHTTP2_REFUSED_STREAM);
        });
        server.listen(0, '127.0.0.1', () => resolve(server));
      }),
  ),
);
const good = await startEchoBackend({ id: 'good' });
const addresses = [...refusers.map((s) => `127.0.0.1:${(s.address() as { port: number }).port}`), good.address];

let repicks = 0; // what telemetry records as the span event `fairway.repicked` and the counter `fairway.client.repicks`
const countRepicks: CallObserverFactory = {
  onCallStart: () => ({
    onAttemptStart: () => ({ onPick() {}, outgoingHeaders: () => ({}), onEnd: (o) => void (o.repickReason && repicks++) }),
    onEnd() {},
  }),
};
const { EchoClient } = loadEcho();
const client = createClient(EchoClient, `static:///${addresses.join(',')}`, credentials.createInsecure(), {
  observers: [countRepicks], // no retry option at all: re-picks need no attempt timer and use no retry budget
});

const unary = (message: string) =>
  new Promise<number>((resolve) => client.Unary({ message }, { deadline: Date.now() + 10_000 }, (err: any) => resolve(err ? err.code : 0)));
const codes = await Promise.all(Array.from({ length: 50 }, (_, i) => unary(`call ${i}`)));
console.log(JSON.stringify({ calls: codes.length, ok: codes.filter((c) => c === 0).length, servedByGood: good.counts.unary, repicks }));
client.close();
good.forceStop();
refusers.forEach((s) => s.close());
