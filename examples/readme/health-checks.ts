// example: examples/readme/health-checks.ts
// Active health checks (gRFC A17): servers answer grpc.health.v1 (serveAndRegisterInEtcd adds it); a client
// whose service config names healthCheckConfig watches each endpoint and stops picking one that is NOT_SERVING.
import { Server, credentials } from '@grpc/grpc-js';
import { createClient, serveAndRegisterInEtcd } from 'fairway-grpc';
import { loadEcho } from '@fairway/testing'; // stands in for your own service definition

const { service, EchoClient } = loadEcho();
const endpoints = process.env.FAIRWAY_ETCD_ENDPOINTS ?? '127.0.0.1:2379';
const served = [];
for (const name of ['pricer-a', 'pricer-b']) {
  const server = new Server();
  server.addService(service, { Unary: (call: any, reply: any) => reply(null, { message: call.request.message, server_id: name }) });
  served.push(await serveAndRegisterInEtcd(server, { bind: '127.0.0.1:0', service: 'pricer-health', instance: name, endpoints }));
}

const client: any = createClient(EchoClient, 'etcd:///pricer-health', credentials.createInsecure(), {
  discovery: { etcd: { endpoints } },
  // "" asks about the server as a whole; a name (e.g. "pricer.Pricer") must be one the server answers for.
  channelOptions: { 'grpc.service_config': JSON.stringify({ healthCheckConfig: { serviceName: '' } }) },
});
const call = () =>
  new Promise<string>((resolve, reject) =>
    client.Unary({ message: 'quote' }, { deadline: Date.now() + 5000 }, (err: Error | null, r: any) => (err ? reject(err) : resolve(r.server_id))),
  );
const answeredBy = async (n: number) => {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) seen.add(await call());
  return [...seen].sort().join(',');
};

// The flip reaches watching clients within a round trip; a busy machine can take longer, so wait for the
// answers to show it (up to 5 s) instead of sleeping a fixed time.
const until = async (want: string) => {
  let got = await answeredBy(20);
  for (const deadline = Date.now() + 5000; got !== want && Date.now() < deadline; got = await answeredBy(20)) {
    await new Promise((r) => setTimeout(r, 50));
  }
  return got;
};

console.log(`before: ${await until('pricer-a,pricer-b')}`);
served[0]!.health!.setServing(false); // watching clients stop picking pricer-a
console.log(`not serving: ${await until('pricer-b')}`);
served[0]!.health!.setServing(true);
console.log(`serving: ${await until('pricer-a,pricer-b')}`);

client.close();
await Promise.all(served.map((s) => s.shutdown())); // NOT_SERVING, then deregister, then drain
