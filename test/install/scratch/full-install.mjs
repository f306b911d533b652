// The ESM twin of full-install.cjs (same calls, loaded with import).
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { createClient, setupTelemetry, createTelemetryObserver, parseTarget } from 'fairway-grpc';
import { createKubernetesSource, onUnusedEndpointsChange, unusedEndpointsOf } from '@fairway/discovery-kubernetes';

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
  // Both sources merged by a multi: target, its parts logging to the client's logger (nothing to say here).
  const said = [];
  const multi = createClient(Echo, `multi:///etcd:///${env.ETCD_SERVICE};k8s:///echo.${env.K8S_NAMESPACE}:grpc`, creds, {
    zone: 'z',
    logger: { info() {}, warn: (m) => said.push(`warn: ${m}`), error: (m) => said.push(`error: ${m}`) },
    discovery: { etcd: { endpoints: env.ETCD_ENDPOINTS }, kubernetes: { apiServerUrl: env.K8S_URL, token: env.K8S_TOKEN, caPem: env.K8S_CA_PEM } },
  });
  const servedBy = new Set();
  for (let i = 0; i < 60 && servedBy.size < 2; i++) servedBy.add(await unary(multi, `via multi ${i}`));
  out.multi = [...servedBy].sort();
  out.multiSaid = said;
  // The Kubernetes source's hook for tools: false for a source it did not make.
  out.unusedHookOnOther = onUnusedEndpointsChange({ start() {}, close() {} }, () => {});
  // A k8s source made with peers (this client is Pod k8s-pod behind the same Service): its place, and the
  // tools' helpers see through the peers wrapper to the Service's source.
  const target = `k8s:///echo.${env.K8S_NAMESPACE}:grpc`;
  const peered = createKubernetesSource(parseTarget(target), { apiServerUrl: env.K8S_URL, token: env.K8S_TOKEN, caPem: env.K8S_CA_PEM, peers: { target, podName: 'k8s-pod' } });
  let timer;
  out.peersPlace = await Promise.race([
    new Promise((resolve) => peered.start({ onSnapshot: (s) => s.peers && resolve(s.peers), onError() {} })),
    new Promise((resolve) => (timer = setTimeout(() => resolve('no place within 10 s'), 10_000))),
  ]);
  clearTimeout(timer);
  out.unusedViaPeers = unusedEndpointsOf(peered);
  out.unusedHookViaPeers = onUnusedEndpointsChange(peered, () => {});
  await peered.close();
  multi.close();
  etcd.close();
  k8s.close();
  await telemetry.shutdown(); // sends the spans
  console.log(JSON.stringify(out));
}
main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
