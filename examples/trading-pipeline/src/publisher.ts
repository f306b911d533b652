/**
 * A publisher pod: answers `Publisher.Publish` (counts what it publishes) after its publishing work, done through
 * a pod with a capacity (`pod-load.ts`), and registers itself in etcd as service `publisher` with its zone.
 * Run with FAIRWAY_ZONE, FAIRWAY_ETCD_ENDPOINTS, DEMO_INSTANCE, DEMO_PORT (0: any free port).
 */
import { Server, ServerCredentials, status, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { PodOverloadedError } from '@fairway/testing';
import { startPod } from './pod-load.js';
import { traceGrpcHandlers } from '@fairway/telemetry';
import { loadTradingProto, type PublishReply, type PublishRequest } from './proto.js';
import { readPodEnv, tellParent, log } from './env.js';
import { setupPodTelemetry, serveAndRegister, onShutdownSignal } from './fairway-glue.js';

const env = readPodEnv({ instance: 'publisher' });
const telemetry = await setupPodTelemetry(env, 'publisher');
const proto = loadTradingProto();
let sequence = 0;
const pod = startPod('publisher', env, () => env);

const server = new Server();
server.addService(proto.Publisher.service, traceGrpcHandlers({
  Publish(call: ServerUnaryCall<PublishRequest, PublishReply>, callback: sendUnaryData<PublishReply>) {
    if (!call.request.symbol) {
      callback({ code: 3, details: 'symbol is empty' } as never);
      return;
    }
    const abort = new AbortController();
    call.on('cancelled', () => abort.abort());
    pod.serve(abort.signal).then(
      () => {
        sequence += 1;
        callback(null, { pod: env.instance, zone: env.zone, sequence });
      },
      (e: unknown) =>
        callback({
          code: e instanceof PodOverloadedError ? status.RESOURCE_EXHAUSTED : status.UNAVAILABLE,
          details: `${env.instance}: ${abort.signal.aborted ? 'call cancelled' : (e as Error).message}`,
        } as never),
    );
  },
}));

const registration = await serveAndRegister(server, ServerCredentials.createInsecure(), env, 'publisher');
log(env, `serving on ${env.host}:${registration.port} in ${env.zone}, registered as publisher (incarnation ${env.incarnation})`);
void tellParent({ type: 'ready', instance: env.instance, incarnation: env.incarnation, port: registration.port });

onShutdownSignal(async () => {
  await registration.stop();
  pod.stop();
  await telemetry.shutdown();
});
