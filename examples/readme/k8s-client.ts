// example: examples/readme/k8s-client.ts
// Service "echo" in namespace "demo", port named "grpc": every ready pod of its EndpointSlices, balanced per call.
import { readFileSync } from 'node:fs';
import { credentials } from '@grpc/grpc-js';
import { createClient } from 'fairway-grpc';
import { loadEcho } from '@fairway/testing'; // any generated or proto-loader client class works the same

// In a pod, pass no discovery options: the service account's token and CA are used. Outside, point it at an API server.
const api = process.env.K8S_API_URL;
const kubernetes = api
  ? { apiServerUrl: api, token: process.env.K8S_TOKEN, caPem: readFileSync(process.env.K8S_CA_FILE!, 'utf8') }
  : undefined;

const { EchoClient } = loadEcho();
const client = createClient(EchoClient, 'k8s:///echo.demo:grpc', credentials.createInsecure(), {
  zone: process.env.FAIRWAY_ZONE, // e.g. eu-west-1a; see "How a pod learns its zone"
  discovery: { kubernetes },
});

client.Unary({ message: 'hello' }, { deadline: Date.now() + 5000 }, (err: Error | null, reply: { server_id: string }) => {
  console.log(err ? `failed: ${err.message}` : `answered by ${reply.server_id}`);
  client.close();
  process.exitCode = err ? 1 : 0;
});
