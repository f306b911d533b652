// Runs in a scratch project with the DEFAULT install only (fairway-grpc @grpc/grpc-js @grpc/proto-loader, from
// packed tarballs): a k8s: target and setupTelemetry must fail at once, naming the package and the command;
// the OpenTelemetry API instrumentation works without any SDK. Prints one JSON line.
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const fairway = require('fairway-grpc');

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
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  // API-only instrumentation: no SDK registered, so spans go nowhere, and the call is unaffected.
  const client = fairway.createClient(Echo, `static:///127.0.0.1:${port}`, creds, { zone: 'z', observers: [fairway.createTelemetryObserver()] });
  client.Unary({ message: 'hi' }, { deadline: Date.now() + 10_000 }, (e, reply) => {
    client.close();
    server.forceShutdown();
    console.log(JSON.stringify({ k8s, setup, observedCall: e ? `failed: ${e.message}` : reply.server_id }));
  });
});
