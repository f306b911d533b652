// example: examples/readme/etcd-client.ts
// Calls "pricer" as registered in etcd (keys "pricer/<instance>"): balanced per call, same-zone first.
import { credentials } from '@grpc/grpc-js';
import { createClient } from 'fairway-grpc';
import { loadEcho } from '@fairway/testing'; // any generated or proto-loader client class works the same

const { EchoClient } = loadEcho();
const client = createClient(EchoClient, 'etcd:///pricer', credentials.createInsecure(), {
  zone: process.env.FAIRWAY_ZONE, // e.g. eu-west-1a
  // Leave `endpoints` out to use FAIRWAY_ETCD_ENDPOINTS; or write them in the target: etcd://10.0.0.5:2379,10.0.0.6:2379/pricer
  discovery: { etcd: { endpoints: process.env.FAIRWAY_ETCD_ENDPOINTS?.split(',') ?? ['127.0.0.1:2379'] } },
});

client.Unary({ message: 'hello' }, { deadline: Date.now() + 5000 }, (err: Error | null, reply: { server_id: string }) => {
  console.log(err ? `failed: ${err.message}` : `answered by ${reply.server_id}`);
  client.close();
  process.exitCode = err ? 1 : 0;
});
