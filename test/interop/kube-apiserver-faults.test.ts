// The faults of test/reliability/kubernetes-faults.test.ts made real, against the real kube-apiserver (v1.37.2,
// built from k8s.io/kubernetes by scripts/tools/build-kube-apiserver.sh; its etcd v3.7.0 by build-etcd.sh).
// Fairway's k8s: source reaches the API server through a loopback TCP proxy with a service-account token bound
// to a Role for endpointslices. "Watch streams dropped" is the proxy cutting every connection; "410 Gone" is
// etcd compacted and the API server restarted while the source was cut off (its watch cache then starts after
// the source's resourceVersion); "unreachable" is the API server stopped and started again. Pods come and go
// between the faults; after each fault the source's set is exactly the Service's set, and the last good set
// is kept (never an empty one) while the API server is away.
//
// Calls do not run end to end here, unlike the stand-in version: the real API server refuses loopback addresses
// in an EndpointSlice ("may not be in the loopback range"; an FQDN must have two labels, and no such name
// resolves to loopback on this machine), and the test backends can only listen on loopback.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTarget, type DiscoveryError, type DiscoverySource, type EndpointSnapshot } from '@fairway/core';
import { createKubernetesSource } from '@fairway/discovery-kubernetes';
import { startKubeApiServer, startTcpProxy, makeEndpointSlice, type KubeApiServer, type TcpProxy } from '@fairway/testing';

const root = fileURLToPath(new URL('../..', import.meta.url));
const ns = 'rel';
let api: KubeApiServer | undefined;
let proxy: TcpProxy | undefined;
let source: DiscoverySource | undefined;

before(() => {
  const build = (script: string) =>
    execFileSync('bash', [join(root, 'scripts/tools', script)], { encoding: 'utf8', timeout: 45 * 60_000, stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  process.env['FAIRWAY_KUBE_APISERVER_BIN'] = build('build-kube-apiserver.sh');
  process.env['FAIRWAY_KUBE_ETCD_BIN'] = build('build-etcd.sh');
});
after(async () => {
  await source?.close();
  await proxy?.close();
  await api?.close();
});

const pod = (i: number) => makeEndpointSlice({ name: `echo-p${i}`, namespace: ns, service: 'echo', endpoints: [{ ip: `10.3.0.${i}`, pod: `p${i}`, zone: 'zone-a' }] });

test('real kube-apiserver: dropped watch streams, 410 Gone after compaction, the API server restarted: the set follows the Service and is never emptied', { timeout: 400_000 }, async () => {
  api = await startKubeApiServer();
  proxy = await startTcpProxy(Number(new URL(api.url).port));
  const token = await api.serviceAccountToken(ns, 'echo-client', { canWatchEndpointSlices: true });
  const apply = (i: number) => api!.applySlice(pod(i) as never);
  for (const i of [1, 2, 3]) await apply(i);
  const snapshots: EndpointSnapshot[] = [];
  const errors: DiscoveryError[] = [];
  source = createKubernetesSource(parseTarget(`k8s:///echo.${ns}:grpc`), {
    apiServerUrl: `https://${proxy.address}`,
    token,
    caPem: api.caPem,
    namespaceFile: '/nonexistent/namespace',
    retryInitialMs: 100,
    retryMaxMs: 800,
    logger: { info: () => {}, warn: () => {}, error: () => {} },
  });
  source.start({ onSnapshot: (s: EndpointSnapshot) => snapshots.push(s), onError: (e: DiscoveryError) => errors.push(e) });
  const set = () => (snapshots[snapshots.length - 1]?.endpoints ?? []).map((e) => e.instance).sort().join();
  const exactly = async (want: string[], what: string, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    while (set() !== [...want].sort().join()) {
      if (Date.now() > deadline) assert.fail(`${what}: the source has ${set()}, wanted ${want.sort().join()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await exactly(['p1', 'p2', 'p3'], 'initial set');

  // Watch streams dropped three times, with a change after each.
  proxy.cut();
  proxy.restore();
  await apply(4);
  await new Promise((r) => setTimeout(r, 500));
  proxy.cut();
  proxy.restore();
  await api.deleteSlice(ns, 'echo-p1');
  await new Promise((r) => setTimeout(r, 500));
  proxy.cut();
  proxy.restore();
  await exactly(['p2', 'p3', 'p4'], 'after dropped streams');

  // Cut off while the Service changes, etcd is compacted and the API server restarts: 410 Gone, then a list.
  proxy.cut();
  await apply(5);
  await api.deleteSlice(ns, 'echo-p2');
  await api.compactEtcd();
  await api.restart();
  proxy.restore();
  await exactly(['p3', 'p4', 'p5'], 'after 410 Gone');

  // The API server stopped and started again; the last good set stays; then a change arrives.
  const before = snapshots.length;
  await api.restart();
  await apply(1);
  await exactly(['p1', 'p3', 'p4', 'p5'], 'after the API server came back');
  assert.ok(snapshots.slice(before).every((s) => s.endpoints.length > 0), 'never an empty set while the API server was away');
  assert.ok(snapshots.every((s) => s.endpoints.length > 0), 'never an empty set at all');
});
