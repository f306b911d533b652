// Loads the built `fairway` with import (no source condition) and makes one balanced call on loopback.
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import { createClient, clientOptions, registerAll } from 'fairway-grpc';
import * as fairway from 'fairway-grpc';

const def = protoLoader.loadSync(fileURLToPath(new URL('../../proto/fairway/test/echo.proto', import.meta.url)), { keepCase: true, defaults: true });
const Echo = grpc.loadPackageDefinition(def).fairway.test.Echo;
const server = new grpc.Server();
server.addService(Echo.service, { Unary: (call, cb) => cb(null, { message: call.request.message, server_id: 'esm' }) });
const port = await new Promise((resolve, reject) =>
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
);
registerAll();
const target = `static:///127.0.0.1:${port}`;
const a = createClient(Echo, target, grpc.credentials.createInsecure(), { zone: 'z' });
const b = new Echo(target, grpc.credentials.createInsecure(), clientOptions({ zone: 'z' }));
const call = (c) => new Promise((resolve, reject) => c.Unary({ message: 'hello' }, (e, r) => (e ? reject(e) : resolve(r.message))));
const replies = [await call(a), await call(b)];
a.close();
b.close();
server.forceShutdown();
console.log(JSON.stringify({ kind: 'esm', reply: replies.join(','), exports: Object.keys(fairway).sort() }));
