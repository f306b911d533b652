// example: examples/readme/quick-start.mjs
// Three Echo servers on loopback (two in zone-a, one in zone-b) and a client that balances every call.
// Runs as copied: `npm install fairway-grpc @grpc/grpc-js @grpc/proto-loader`, then `node quick-start.mjs`.
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { createClient } from 'fairway-grpc';

// The service, inline so the program runs as copied (protoLoader.loadSync('echo.proto') works the same way):
// service Echo { rpc Say (Msg) returns (Msg); }  message Msg { string text = 1; string server = 2; }
const definition = protoLoader.fromJSON({
  nested: {
    demo: {
      nested: {
        Echo: { methods: { Say: { requestType: 'Msg', responseType: 'Msg' } } },
        Msg: { fields: { text: { type: 'string', id: 1 }, server: { type: 'string', id: 2 } } },
      },
    },
  },
});
const { Echo } = grpc.loadPackageDefinition(definition).demo;

/** A server that answers with its own name; binds port 0 and reports the port it got. */
function startServer(name) {
  const server = new grpc.Server();
  server.addService(Echo.service, { Say: (call, reply) => reply(null, { text: call.request.text, server: name }) });
  return new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(err) : resolve({ server, address: `127.0.0.1:${port}` }),
    ),
  );
}

async function main() {
  const zones = ['zone-a', 'zone-a', 'zone-b'];
  const servers = await Promise.all(zones.map((zone, i) => startServer(`${zone}-${i}`)));
  const target = `static:///${servers.map((s, i) => `${s.address}@${zones[i]}`).join(',')}`;

  // Before: new Echo('127.0.0.1:50051', grpc.credentials.createInsecure())
  const client = createClient(Echo, target, grpc.credentials.createInsecure(), { zone: 'zone-a' });

  // The call code does not change. Each call is balanced on its own (here 10 rounds of 4 concurrent calls).
  const say = (text) =>
    new Promise((resolve, reject) => client.Say({ text }, (err, reply) => (err ? reject(err) : resolve(reply))));
  const seen = {};
  for (let round = 0; round < 10; round++) {
    const replies = await Promise.all([0, 1, 2, 3].map((j) => say(`call ${round * 4 + j}`)));
    for (const reply of replies) seen[reply.server] = (seen[reply.server] ?? 0) + 1;
  }
  console.log(JSON.stringify(seen)); // e.g. {"zone-a-0":21,"zone-a-1":19}: both local servers, no cross-zone call
  client.close();
  for (const s of servers) s.server.forceShutdown();
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
