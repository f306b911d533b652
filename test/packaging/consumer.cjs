// Loads the built `fairway` with require() (no source condition) and makes one balanced call on loopback.
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const path = require('node:path');
const fairway = require('fairway-grpc');

const def = protoLoader.loadSync(path.join(__dirname, '..', '..', 'proto', 'fairway', 'test', 'echo.proto'), { keepCase: true, defaults: true });
const Echo = grpc.loadPackageDefinition(def).fairway.test.Echo;
const server = new grpc.Server();
server.addService(Echo.service, { Unary: (call, cb) => cb(null, { message: call.request.message, server_id: 'cjs' }) });
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  const client = fairway.createClient(Echo, `static:///127.0.0.1:${port}`, grpc.credentials.createInsecure(), { zone: 'z' });
  client.Unary({ message: 'hello' }, { deadline: Date.now() + 10_000 }, (e, r) => {
    client.close();
    server.forceShutdown();
    if (e) {
      console.error(e);
      process.exit(1);
    }
    console.log(JSON.stringify({ kind: 'cjs', reply: r.message, exports: Object.keys(fairway).sort() }));
  });
});
