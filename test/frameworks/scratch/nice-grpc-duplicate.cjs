// Runs in a folder whose node_modules holds nice-grpc with its OWN nested @grpc/grpc-js (what npm does when
// nice-grpc's grpc-js range does not meet the app's), while fairway-grpc and the app's grpc-js come from the
// project above. A call of nice-grpc's client on a Fairway channel must fail with DuplicateGrpcError's message
// naming both copies, not run half on one copy and half on the other. Prints one JSON line.
const grpc = require('@grpc/grpc-js'); // the app's copy (the project's), the one Fairway registered into
const protoLoader = require('@grpc/proto-loader');
const { createClient } = require('nice-grpc');
const { createChannel } = require('fairway-grpc');

const definition = protoLoader.fromJSON({
  nested: {
    demo: {
      nested: {
        Echo: { methods: { Say: { requestType: 'Msg', responseType: 'Msg' } } },
        Msg: { fields: { text: { type: 'string', id: 1 }, server: { type: 'string', id: 2 } } },
      },
    },
  },
});
const { Echo } = grpc.loadPackageDefinition(definition).demo;

const server = new grpc.Server();
server.addService(Echo.service, { Say: (call, reply) => reply(null, { text: call.request.text, server: 'only' }) });
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), async (err, port) => {
  if (err) throw err;
  const errors = [];
  const logger = { info() {}, warn() {}, error: (m) => errors.push(m) };
  const channel = createChannel(`static:///127.0.0.1:${port}`, grpc.credentials.createInsecure(), { retry: { attemptTimeoutMs: 500 }, logger });
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
});
