// example: examples/readme/newest-stream.ts
// One live stream per (client instance, method): when the same client opens it again, the older one ends.
import { Server, ServerCredentials, credentials } from '@grpc/grpc-js';
import { createClient, newestStreamWins, setClientIdentity } from 'fairway-grpc';
import { loadEcho } from '@fairway/testing';

const { service, EchoClient } = loadEcho();
const server = new Server();
server.addService(service, {
  // A feed: a message every 100 ms until the client leaves or a newer stream from the same client takes over.
  ServerStream: newestStreamWins((call: any) => {
    const timer = setInterval(() => call.write({ message: 'tick', server_id: 'feed-1' }), 100);
    call.on('cancelled', () => clearInterval(timer)); // also emitted when superseded
  }),
});
const port = await new Promise<number>((ok, fail) =>
  server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? fail(e) : ok(p))),
);

// Every call of this process carries its identity (or set FAIRWAY_INSTANCE); the incarnation is this process's start.
setClientIdentity({ instance: 'quote-desk-7' });
const client = createClient(EchoClient, `static:///127.0.0.1:${port}`, credentials.createInsecure());
const open = () => {
  const stream = client.ServerStream({ message: 'quotes' });
  const firstMessage = new Promise((ok) => stream.once('data', ok));
  const ended = new Promise<{ code: number; details: string }>((ok) => stream.on('error', ok));
  return { stream, firstMessage, ended };
};

const older = open();
await older.firstMessage;
const newer = open(); // e.g. the client reconnected after a network blip
const { code, details } = await older.ended; // 10 (ABORTED): "... superseded by a newer ... stream ..."
await newer.firstMessage; // the newer stream keeps flowing
console.log(JSON.stringify({ older: { code, details }, newerFlowing: true }));
newer.stream.cancel();
client.close();
server.forceShutdown();
