// example: examples/readme/drain-weight.ts
// Two "pricer" servers registered in etcd; one is drained live with setWeight(0), then brought back.
import { Server, credentials } from '@grpc/grpc-js';
import { createClient, serveAndRegisterInEtcd } from 'fairway-grpc';
import { loadEcho } from '@fairway/testing'; // stands in for your own service definition

const { service, EchoClient } = loadEcho();
const endpoints = process.env.FAIRWAY_ETCD_ENDPOINTS ?? '127.0.0.1:2379';
const served = [];
for (const name of ['pricer-a', 'pricer-b']) {
  const server = new Server();
  server.addService(service, { Unary: (call: any, reply: any) => reply(null, { message: call.request.message, server_id: name }) });
  served.push(await serveAndRegisterInEtcd(server, { bind: '127.0.0.1:0', service: 'pricer-drain', instance: name, endpoints }));
}

const client: any = createClient(EchoClient, 'etcd:///pricer-drain', credentials.createInsecure(), { discovery: { etcd: { endpoints } } });
const call = () =>
  new Promise<string>((resolve, reject) =>
    client.Unary({ message: 'quote' }, { deadline: Date.now() + 5000 }, (err: Error | null, r: any) => (err ? reject(err) : resolve(r.server_id))),
  );
const answeredBy = async (n: number) => {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) seen.add(await call());
  return [...seen].sort().join(',');
};

// The etcd watch brings a weight change to every client within milliseconds; a busy machine can take longer,
// so wait for the answers to show it (up to 5 s) instead of sleeping a fixed time.
const until = async (want: string) => {
  let got = await answeredBy(20);
  for (const deadline = Date.now() + 5000; got !== want && Date.now() < deadline; got = await answeredBy(20)) {
    await new Promise((r) => setTimeout(r, 100));
  }
  return got;
};

console.log(`before: ${await until('pricer-a,pricer-b')}`);
await served[0]!.registration.setWeight(0); // drain pricer-a: no new calls, calls in flight finish
console.log(`drained: ${await until('pricer-b')}`);
await served[0]!.registration.setWeight(1); // back in
console.log(`back: ${await until('pricer-a,pricer-b')}`);

client.close();
await Promise.all(served.map((s) => s.shutdown()));
