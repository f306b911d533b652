/**
 * A publisher pod: answers `Publisher.Publish` (counts what it publishes) and registers itself in etcd as
 * service `publisher` with its zone. Run with FAIRWAY_ZONE, FAIRWAY_ETCD_ENDPOINTS, DEMO_INSTANCE, DEMO_PORT.
 */
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { traceGrpcHandlers } from '@fairway/telemetry';
import { loadTradingProto, type PublishReply, type PublishRequest } from './proto.js';
import { readPodEnv, tellParent, log } from './env.js';
import { setupPodTelemetry, serveAndRegister, onShutdownSignal } from './fairway-glue.js';

const env = readPodEnv({ instance: 'publisher' });
const telemetry = await setupPodTelemetry(env, 'publisher');
const proto = loadTradingProto();
let sequence = 0;

const server = new Server();
server.addService(proto.Publisher.service, traceGrpcHandlers({
  Publish(call: ServerUnaryCall<PublishRequest, PublishReply>, callback: sendUnaryData<PublishReply>) {
    if (!call.request.symbol) {
      callback({ code: 3, details: 'symbol is empty' } as never);
      return;
    }
    sequence += 1;
    callback(null, { pod: env.instance, zone: env.zone, sequence });
  },
}));

const registration = await serveAndRegister(server, ServerCredentials.createInsecure(), env, 'publisher');
log(env, `serving on ${env.host}:${env.port} in ${env.zone}, registered as publisher (incarnation ${env.incarnation})`);
void tellParent({ type: 'ready', instance: env.instance, incarnation: env.incarnation });

onShutdownSignal(async () => {
  await registration.stop();
  await telemetry.shutdown();
});
