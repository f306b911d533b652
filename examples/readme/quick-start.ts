// example: examples/readme/quick-start.ts
import { credentials } from '@grpc/grpc-js';
import { createClient } from 'fairway-grpc';
import { loadEcho, startEchoBackend } from '@fairway/testing';

// Three Echo servers on loopback: two in zone-a, one in zone-b.
const servers = await Promise.all(
  ['zone-a', 'zone-a', 'zone-b'].map((zone, i) => startEchoBackend({ zone, id: `${zone}-${i}` })),
);
const { EchoClient } = loadEcho();

// Before: new EchoClient('127.0.0.1:50051', credentials.createInsecure())
const client = createClient(
  EchoClient,
  `static:///${servers.map((s) => `${s.address}@${s.zone}`).join(',')}`,
  credentials.createInsecure(),
  { zone: 'zone-a' },
);

// The call code does not change. Each call is balanced on its own (here 10 rounds of 4 concurrent calls).
const unary = (i: number) =>
  new Promise<{ server_id: string }>((resolve, reject) =>
    client.Unary({ message: `call ${i}` }, (err: Error | null, r: { server_id: string }) =>
      err ? reject(err) : resolve(r),
    ),
  );
const seen: Record<string, number> = {};
for (let round = 0; round < 10; round++) {
  for (const reply of await Promise.all([0, 1, 2, 3].map((j) => unary(round * 4 + j)))) {
    seen[reply.server_id] = (seen[reply.server_id] ?? 0) + 1;
  }
}
console.log(JSON.stringify(seen)); // e.g. {"zone-a-0":21,"zone-a-1":19}: both local servers, no cross-zone call
client.close();
servers.forEach((s) => s.forceStop());
