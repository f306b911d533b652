// Runs in a scratch project that installed the package FOLDERS of a checkout with plain links (npm's default,
// no --install-links), as issue 19 tried: Fairway then loads the checkout's grpc-js, the app its own, and
// createClient must throw DuplicateGrpcError naming both folders. Prints one JSON line.
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const { createClient } = require('fairway-grpc');
const Echo = grpc.loadPackageDefinition(protoLoader.loadSync(process.env.ECHO_PROTO, { keepCase: true })).fairway.test.Echo;
try {
  createClient(Echo, 'static:///127.0.0.1:1', grpc.credentials.createInsecure());
  console.log(JSON.stringify({ threw: false }));
} catch (e) {
  console.log(JSON.stringify({ threw: true, name: e.name, fairwayCopy: e.fairwayCopy, otherCopies: e.otherCopies, message: e.message }));
}
