// example: examples/readme/telemetry-server.ts
// The called service continues the caller's trace: calls its handlers make are children of its SERVER span.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { setupTelemetry, traceGrpcHandlers } from 'fairway-grpc';
import { loadEcho } from '@fairway/testing'; // stands in for your own service definition

const telemetry = setupTelemetry({ serviceName: 'pricer' }); // OTLP over HTTP to localhost:4318 unless OTEL_* says otherwise

const { service } = loadEcho();
const server = new Server();
server.addService(
  service,
  traceGrpcHandlers({
    Unary: (call: any, reply: any) => reply(null, { message: call.request.message, server_id: 'pricer-1' }),
  }),
);
server.bindAsync(process.env.PRICER_BIND ?? '127.0.0.1:50051', ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  console.log(`listening on ${port}`);
});
process.on('SIGTERM', () => server.tryShutdown(() => void telemetry.shutdown().then(() => process.exit(0))));
