// example: examples/readme/etcd-server.ts
// A grpc-js server that registers itself in etcd as an instance of "pricer"; on SIGTERM it deregisters, then drains.
import { Server } from '@grpc/grpc-js';
import { serveAndRegisterInEtcd } from 'fairway-grpc';
import { loadEcho } from '@fairway/testing'; // stands in for your own service definition

const { service } = loadEcho();
const server = new Server();
server.addService(service, {
  Unary: (call: any, reply: any) => reply(null, { message: call.request.message, server_id: 'pricer-1' }),
});

const served = await serveAndRegisterInEtcd(server, {
  bind: '127.0.0.1:0', // in a pod: bind '0.0.0.0:50051' and pass address: `${process.env.POD_IP}:50051`
  service: 'pricer',
  instance: 'pricer-1', // stable per pod: the pod name; a restart gets a fresh incarnation by itself
  zone: process.env.FAIRWAY_ZONE ?? 'eu-west-1a',
  endpoints: process.env.FAIRWAY_ETCD_ENDPOINTS ?? '127.0.0.1:2379',
  shutdownOnSignals: ['SIGTERM'], // NOT_SERVING, then deregister, then tryShutdown (drain), then exit
});
console.log(`registered ${served.registration.key} at ${served.address}`);
