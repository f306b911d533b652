// Runs inside a network namespace of its own (see kube-apiserver-e2e.test.ts): a real kube-apiserver with its
// etcd on the namespace's 127.0.0.1, pods (grpc-js Echo servers) on pod addresses 10.201.0.x of the namespace's
// loopback device, and `createClient` from fairway-grpc with `k8s:///echo.default:grpc` and a real service-account
// token. Prints one JSON line with what happened.
import { credentials } from '@grpc/grpc-js';
import { createClient } from 'fairway-grpc';
import { startKubeApiServer, startEchoBackend, loadEcho, echoUnary, makeEndpointSlice, type EchoBackend } from '@fairway/testing';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const api = await startKubeApiServer();
const pods: EchoBackend[] = [];
const out: Record<string, unknown> = { version: api.version };
try {
  // Every pod listens on the same port (one EndpointSlice has one port list): the first binds 0, the others take its
  // number on their own addresses. Nothing else runs in this fresh namespace, so no other process can hold it.
  const first = await startEchoBackend({ id: 'echo-1', host: '10.201.0.1', zone: 'zone-a' });
  pods.push(first);
  for (const i of [2, 3, 4]) pods.push(await startEchoBackend({ id: `echo-${i}`, host: `10.201.0.${i}`, port: first.port, zone: 'zone-a' }));
  const ep = (i: number, conditions: { ready: boolean; serving?: boolean; terminating?: boolean }) => ({ ip: `10.201.0.${i}`, pod: `echo-${i}`, zone: 'zone-a', ...conditions });
  const slice = (endpoints: ReturnType<typeof ep>[]) =>
    makeEndpointSlice({ name: 'echo-abc12', namespace: 'default', service: 'echo', ports: [{ name: 'grpc', port: first.port }], endpoints });
  const applied = await api.applySlice(slice([ep(1, { ready: true }), ep(2, { ready: true }), ep(3, { ready: true })]) as never);
  out['sliceAccepted'] = Boolean(applied);

  // A service account allowed to get/list/watch endpointslices in "default", as a pod's would be.
  const token = await api.serviceAccountToken('default', 'trader', { canWatchEndpointSlices: true });
  const { EchoClient } = loadEcho();
  const client = createClient(EchoClient, 'k8s:///echo.default:grpc', credentials.createInsecure(), {
    zone: 'zone-a',
    discovery: { kubernetes: { apiServerUrl: api.url, token, caPem: api.caPem, retryInitialMs: 50, retryMaxMs: 500 } },
  });
  const served = new Map<string, number>();
  let failed = 0;
  const failures: string[] = [];
  let stop = false;
  const workers = Array.from({ length: 4 }, async () => {
    while (!stop) {
      const r = await echoUnary(client, { message: 'x' }, { deadlineMs: 10_000 });
      if (r.ok) served.set(r.reply.server_id, (served.get(r.reply.server_id) ?? 0) + 1);
      else (failed++, failures.push(`${r.code} ${r.details}`));
      await sleep(2);
    }
  });
  for (let i = 0; i < 200 && served.size < 3; i++) await sleep(50);
  out['servedBefore'] = [...served.keys()].sort();
  // A rolling update as the EndpointSlice controller writes it: echo-4 added not ready, then ready; echo-1
  // terminating but serving, then removed; only then does its process stop.
  await api.applySlice(slice([ep(1, { ready: true }), ep(2, { ready: true }), ep(3, { ready: true }), ep(4, { ready: false })]) as never);
  await sleep(500);
  await api.applySlice(slice([ep(1, { ready: true }), ep(2, { ready: true }), ep(3, { ready: true }), ep(4, { ready: true })]) as never);
  await sleep(1_000);
  await api.applySlice(slice([ep(1, { ready: false, serving: true, terminating: true }), ep(2, { ready: true }), ep(3, { ready: true }), ep(4, { ready: true })]) as never);
  await sleep(1_000);
  await api.applySlice(slice([ep(2, { ready: true }), ep(3, { ready: true }), ep(4, { ready: true })]) as never);
  await sleep(1_000);
  pods[0]!.forceStop();
  served.clear();
  await sleep(1_500);
  stop = true;
  await Promise.all(workers);
  out['servedAfter'] = [...served.keys()].sort();
  out['failed'] = failed;
  out['failures'] = failures.slice(0, 5);
  client.close();
} catch (e) {
  out['error'] = (e as Error).stack ?? String(e);
} finally {
  for (const p of pods) p.forceStop();
  await api.close();
}
console.log(JSON.stringify(out));
process.exit(0);
