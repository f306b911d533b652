// The ESM twin of full-install.cjs (same calls, loaded with import).
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { createClient, setupTelemetry, createTelemetryObserver } from 'fairway-grpc';

const env = process.env;
const Echo = grpc.loadPackageDefinition(protoLoader.loadSync(env.ECHO_PROTO, { keepCase: true })).fairway.test.Echo;
const creds = grpc.credentials.createInsecure();
const unary = (client, message) =>
  new Promise((resolve) =>
    client.Unary({ message }, { deadline: Date.now() + 15_000 }, (e, reply) => resolve(e ? `failed: ${e.message}` : reply.server_id)),
  );

async function main() {
  const telemetry = setupTelemetry({ serviceName: env.SERVICE_NAME, exporter: 'otlp-http', endpoint: env.OTLP_HTTP_ENDPOINT, metrics: false });
  const etcd = createClient(Echo, `etcd:///${env.ETCD_SERVICE}`, creds, { zone: 'z', discovery: { etcd: { endpoints: env.ETCD_ENDPOINTS } } });
  const k8s = createClient(Echo, `k8s:///echo.${env.K8S_NAMESPACE}:grpc`, creds, {
    zone: 'z',
    discovery: { kubernetes: { apiServerUrl: env.K8S_URL, token: env.K8S_TOKEN, caPem: env.K8S_CA_PEM } },
    observers: [createTelemetryObserver()],
  });
  const out = { etcd: await unary(etcd, 'via etcd'), k8s: await unary(k8s, 'via k8s, traced') };
  etcd.close();
  k8s.close();
  await telemetry.shutdown(); // sends the spans
  console.log(JSON.stringify(out));
}
main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
