// The ESM twin of default-install.cjs (same checks, loaded with import).
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import * as fairway from 'fairway-grpc';

const Echo = grpc.loadPackageDefinition(protoLoader.loadSync(process.env.ECHO_PROTO, { keepCase: true })).fairway.test.Echo;
const creds = grpc.credentials.createInsecure();

function failure(fn) {
  try {
    fn();
    return { threw: false };
  } catch (e) {
    return { threw: true, name: e.name, message: e.message };
  }
}

const k8s = failure(() => fairway.createClient(Echo, 'k8s:///echo.default:grpc', creds, { zone: 'z' }));
const setup = failure(() => fairway.setupTelemetry({ serviceName: 'scratch' }));

const server = new grpc.Server();
server.addService(Echo.service, { Unary: (call, reply) => reply(null, { message: call.request.message, server_id: 'api-only' }) });
const port = await new Promise((resolve, reject) =>
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
);
const client = fairway.createClient(Echo, `static:///127.0.0.1:${port}`, creds, { zone: 'z', observers: [fairway.createTelemetryObserver()] });
const observedCall = await new Promise((resolve) =>
  client.Unary({ message: 'hi' }, { deadline: Date.now() + 10_000 }, (e, reply) => resolve(e ? `failed: ${e.message}` : reply.server_id)),
);
client.close();
server.forceShutdown();
console.log(JSON.stringify({ k8s, setup, observedCall }));
