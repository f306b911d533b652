// Runs in a folder whose node_modules holds nice-grpc with its OWN nested @grpc/grpc-js (what npm does when
// nice-grpc's grpc-js range does not meet the app's), while fairway-grpc and the app's grpc-js come from the
// project above. A call of nice-grpc's client on a Fairway channel must fail with DuplicateGrpcError's message
// naming both copies, not run half on one copy and half on the other. Prints one JSON line.
// The Echo service and server come from ../shared/echo-fixture.cjs (examples/frameworks/shared, copied by the
// test), which loads the app's copy of grpc-js as this file does.
const grpc = require('@grpc/grpc-js'); // the app's copy (the project's), the one Fairway registered into
const { createClient } = require('nice-grpc');
const { createChannel } = require('fairway-grpc');
const { Echo, startServer } = require('../shared/echo-fixture.cjs');

async function main() {
  const { server, address } = await startServer('only', 0);
  const errors = [];
  const logger = { info() {}, warn() {}, error: (m) => errors.push(m) };
  const channel = createChannel(`static:///${address}`, grpc.credentials.createInsecure(), { retry: { attemptTimeoutMs: 500 }, logger });
  const echo = createClient(Echo.service, channel);
  let result;
  try {
    const reply = await echo.Say({ text: 'x' }, { deadline: new Date(Date.now() + 5000) });
    result = { failed: false, server: reply.server };
  } catch (e) {
    result = { failed: true, name: e.name, code: e.code, details: e.details ?? e.message };
  }
  console.log(JSON.stringify({ ...result, niceGrpcCopy: require.resolve('@grpc/grpc-js', { paths: [require.resolve('nice-grpc')] }), logged: errors }));
  channel.close();
  server.forceShutdown();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
