// Fairway's k8s: discovery source against two API servers, with one suite: the stand-in of @fairway/testing
// (fast, for the unit tests) and the real kube-apiserver built from k8s.io/kubernetes by
// scripts/tools/build-kube-apiserver.sh (cached), with its own etcd (v3.7.0, scripts/tools/build-etcd.sh) and RBAC on. The same assertions on both:
// - list, then watch from the list's resourceVersion: added, changed and deleted slices followed;
// - bookmarks: a watch asked with allowWatchBookmarks gets BOOKMARK events; the source renews short watches
//   without losing a change;
// - 410 Gone: history expired while the source was cut off (stand-in: its history compacted; real: etcd
//   compacted and the API server restarted, so its watch cache starts after the source's resourceVersion):
//   the server answers 410 for the old resourceVersion and the source lists again and has every slice;
// - RBAC: a service-account token bound to a Role with get/list/watch on endpointslices works; a token
//   without it is refused and Fairway's error says 403 and which Role is needed;
// - a rolling update written as the EndpointSlice controller writes it (a new Pod added not ready, then
//   ready; the old one terminating but serving, then removed): the set never becomes empty.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTarget, type DiscoveryError, type EndpointSnapshot } from '@fairway/core';
import { createKubernetesSource } from '@fairway/discovery-kubernetes';
import { startKubeApiStandIn, startKubeApiServer, startTcpProxy, makeEndpointSlice, type SliceEndpointSpec, type TcpProxy } from '@fairway/testing';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** What the suite needs of an API server. */
interface Cluster {
  readonly name: string;
  url(): string;
  readonly caPem: string;
  readonly adminToken: string;
  apply(namespace: string, name: string, service: string, endpoints: readonly SliceEndpointSpec[]): Promise<void>;
  remove(namespace: string, name: string): Promise<void>;
  /** A token allowed (or not) to get/list/watch endpointslices in `namespace`. */
  token(namespace: string, name: string, canWatch: boolean): Promise<string>;
  /** Makes every resourceVersion seen so far too old to watch from. */
  expireHistory(): Promise<void>;
  close(): Promise<void>;
}

async function standInCluster(): Promise<Cluster> {
  const api = await startKubeApiStandIn({ bookmarkIntervalMs: 500 });
  const tokens = [{ token: api.token }];
  return {
    name: 'the stand-in',
    url: () => api.url,
    caPem: api.caPem,
    adminToken: api.token,
    async apply(namespace, name, service, endpoints) {
      api.applySlice(makeEndpointSlice({ name, namespace, service, endpoints }));
    },
    async remove(namespace, name) {
      api.deleteSlice(namespace, name);
    },
    async token(namespace, name, canWatch) {
      const token = `sa-${name}-${tokens.length}`;
      tokens.push({ token, user: `system:serviceaccount:${namespace}:${name}`, namespaces: canWatch ? [namespace] : [] } as never);
      api.setTokens(tokens);
      return token;
    },
    async expireHistory() {
      api.compactHistory();
    },
    close: () => api.close(),
  };
}

async function realCluster(): Promise<Cluster> {
  const api = await startKubeApiServer();
  return {
    name: `kube-apiserver ${api.version}`,
    url: () => api.url,
    caPem: api.caPem,
    adminToken: api.adminToken,
    async apply(namespace, name, service, endpoints) {
      await api.applySlice(makeEndpointSlice({ name, namespace, service, endpoints }) as never);
    },
    async remove(namespace, name) {
      await api.deleteSlice(namespace, name);
    },
    token: (namespace, name, canWatch) => api.serviceAccountToken(namespace, name, { canWatchEndpointSlices: canWatch }),
    async expireHistory() {
      await api.compactEtcd();
      await api.restart();
    },
    close: () => api.close(),
  };
}

interface Recorder {
  readonly snapshots: EndpointSnapshot[];
  readonly errors: DiscoveryError[];
  readonly logs: string[];
  last(): EndpointSnapshot | undefined;
}

function recorder(): Recorder & { onSnapshot(s: EndpointSnapshot): void; onError(e: DiscoveryError): void; logger: Record<'info' | 'warn' | 'error', (m: string) => void> } {
  const snapshots: EndpointSnapshot[] = [];
  const errors: DiscoveryError[] = [];
  const logs: string[] = [];
  return {
    snapshots,
    errors,
    logs,
    logger: { info: (m) => logs.push(`info: ${m}`), warn: (m) => logs.push(`warn: ${m}`), error: (m) => logs.push(`error: ${m}`) },
    onSnapshot: (s) => snapshots.push(s),
    onError: (e) => errors.push(e),
    last: () => snapshots[snapshots.length - 1],
  };
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const addresses = (s: EndpointSnapshot | undefined) => (s?.endpoints ?? []).map((e) => e.address).sort();
const ep = (i: number, extra: Partial<SliceEndpointSpec> = {}): SliceEndpointSpec => ({ ip: `10.2.0.${i}`, pod: `pricer-${i}`, zone: i % 2 ? 'zone-b' : 'zone-a', ...extra });

/** A raw HTTPS GET that returns the status and the first `maxLines` lines of the body (or all of it when it ends). */
function rawGet(cluster: Cluster, path: string, token: string, until: (lines: string[]) => boolean, timeoutMs = 30_000): Promise<{ status: number; lines: string[] }> {
  const url = new URL(cluster.url());
  return new Promise((resolve, reject) => {
    const lines: string[] = [];
    let buffer = '';
    const req = httpsRequest({ host: url.hostname, port: Number(url.port), path, ca: cluster.caPem, headers: { authorization: `Bearer ${token}`, accept: 'application/json' } }, (res) => {
      const finish = () => {
        clearTimeout(timer);
        req.destroy();
        resolve({ status: res.statusCode ?? 0, lines });
      };
      res.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        let nl;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          lines.push(buffer.slice(0, nl));
          buffer = buffer.slice(nl + 1);
        }
        if (until(lines)) finish();
      });
      res.on('end', () => {
        if (buffer) lines.push(buffer);
        finish();
      });
      res.on('error', () => finish());
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`GET ${path}: ${lines.length} line(s) and no end within ${timeoutMs} ms: ${lines.join('\n').slice(0, 500)}`));
    }, timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end();
  });
}

const slicesPath = (ns: string) => `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`;

const kinds: Array<{ name: string; start: () => Promise<Cluster>; timeoutMs: number }> = [
  { name: 'stand-in', start: standInCluster, timeoutMs: 60_000 },
  { name: 'real kube-apiserver', start: realCluster, timeoutMs: 600_000 },
];

for (const kind of kinds) {
  describe(`k8s: discovery against ${kind.name}`, { timeout: kind.timeoutMs }, () => {
    let cluster: Cluster;
    const closers: Array<() => unknown> = [];
    before(async () => {
      if (kind.name !== 'stand-in') {
        // Builds kube-apiserver the first time on this machine (minutes), then only prints the cached path.
        const build = (script: string) =>
          execFileSync('bash', [join(root, 'scripts/tools', script)], { encoding: 'utf8', timeout: 45 * 60_000, stdio: ['ignore', 'pipe', 'inherit'] }).trim();
        process.env['FAIRWAY_KUBE_APISERVER_BIN'] = build('build-kube-apiserver.sh');
        process.env['FAIRWAY_KUBE_ETCD_BIN'] = build('build-etcd.sh');
      }
      cluster = await kind.start();
    });
    after(async () => {
      for (const c of closers.reverse()) await c();
      await cluster?.close();
    });

    function start(ns: string, token: string, rec: ReturnType<typeof recorder>, extra: Record<string, unknown> = {}, url = cluster.url()) {
      const source = createKubernetesSource(parseTarget(`k8s:///pricer.${ns}:grpc`), {
        apiServerUrl: url,
        token,
        caPem: cluster.caPem,
        namespaceFile: '/nonexistent/namespace',
        retryInitialMs: 50,
        retryMaxMs: 500,
        logger: rec.logger,
        ...extra,
      });
      closers.push(() => source.close());
      source.start(rec);
      return source;
    }

    test('list, then watch from its resourceVersion: added, changed and deleted slices are followed', async () => {
      const ns = 'lw';
      await cluster.apply(ns, 'pricer-a', 'pricer', [ep(1), ep(2, { ready: false })]);
      await cluster.apply(ns, 'other-a', 'other', [ep(9)]);
      const rec = recorder();
      start(ns, cluster.adminToken, rec);
      await waitFor('first snapshot', () => rec.snapshots.length > 0);
      assert.deepEqual(rec.last()!.endpoints.map((e) => [e.address, e.zone, e.instance]), [['10.2.0.1:50051', 'zone-b', 'pricer-1']]);
      await cluster.apply(ns, 'pricer-b', 'pricer', [ep(3)]);
      await waitFor('slice b added', () => addresses(rec.last()).includes('10.2.0.3:50051'));
      await cluster.apply(ns, 'pricer-a', 'pricer', [ep(1), ep(2)]);
      await waitFor('endpoint 2 ready', () => addresses(rec.last()).includes('10.2.0.2:50051'));
      await cluster.remove(ns, 'pricer-b');
      await waitFor('slice b deleted', () => !addresses(rec.last()).includes('10.2.0.3:50051'));
      assert.deepEqual(addresses(rec.last()), ['10.2.0.1:50051', '10.2.0.2:50051']);
      assert.deepEqual(rec.errors, []);
    });

    test('bookmarks: a watch that allows them gets BOOKMARK events; the source renews short watches and misses nothing', async () => {
      const ns = 'bm';
      await cluster.apply(ns, 'pricer-a', 'pricer', [ep(1)]);
      const list = await rawGet(cluster, `${slicesPath(ns)}?labelSelector=kubernetes.io%2Fservice-name%3Dpricer`, cluster.adminToken, () => false);
      assert.equal(list.status, 200);
      const rv = JSON.parse(list.lines.join('\n')).metadata.resourceVersion as string;
      assert.match(rv, /^\d+$/);
      // A bookmark carries progress the watcher would not otherwise see: here a change elsewhere (another
      // namespace) after the watch began. The real server sends it 2 s before the watch's timeoutSeconds end
      // (and about once a minute), and only with a resourceVersion newer than the watch's.
      const watching = rawGet(
        cluster,
        `${slicesPath(ns)}?labelSelector=kubernetes.io%2Fservice-name%3Dpricer&watch=1&allowWatchBookmarks=true&resourceVersion=${rv}&timeoutSeconds=5`,
        cluster.adminToken,
        (lines) => lines.some((l) => l.includes('"BOOKMARK"') && BigInt(JSON.parse(l).object.metadata.resourceVersion) > BigInt(rv)),
        20_000,
      );
      await new Promise((r) => setTimeout(r, 1000));
      await cluster.apply('bm-elsewhere', 'other-a', 'other', [ep(30)]);
      const watch = await watching;
      assert.equal(watch.status, 200);
      const events = watch.lines.map((l) => JSON.parse(l) as { type: string; object: { metadata: { resourceVersion: string } } });
      const bookmarks = events.filter((e) => e.type === 'BOOKMARK').map((e) => BigInt(e.object.metadata.resourceVersion));
      assert.ok(bookmarks.some((v) => v > BigInt(rv)), `a BOOKMARK past ${rv} within the 5 s watch: ${watch.lines.join('\n').slice(0, 400)}`);
      assert.ok(bookmarks.every((v) => v >= BigInt(rv)), 'no bookmark goes back');
      assert.deepEqual(events.filter((e) => e.type !== 'BOOKMARK'), [], 'the change elsewhere is not sent as an event');

      const rec = recorder();
      start(ns, cluster.adminToken, rec, { watchTimeoutSeconds: 2 });
      await waitFor('first snapshot', () => addresses(rec.last()).length === 1);
      await new Promise((r) => setTimeout(r, 5000)); // two or three watch renewals
      await cluster.apply(ns, 'pricer-b', 'pricer', [ep(4)]);
      await waitFor('change after renewals', () => addresses(rec.last()).includes('10.2.0.4:50051'));
      assert.deepEqual(rec.errors, []);
    });

    test('410 Gone: history expired while the source was cut off; the server says 410 for the old resourceVersion and the source lists again', async () => {
      const ns = 'gone';
      await cluster.apply(ns, 'pricer-a', 'pricer', [ep(1)]);
      const proxy: TcpProxy = await startTcpProxy(Number(new URL(cluster.url()).port));
      closers.push(() => proxy.close());
      const rec = recorder();
      // Through the proxy, so this source alone can be cut off. The proxy is on 127.0.0.1, which the certificate names.
      start(ns, cluster.adminToken, rec, { apiServerUrl: `https://${proxy.address}` }, `https://${proxy.address}`);
      await waitFor('first snapshot', () => addresses(rec.last()).length === 1);
      const list = await rawGet(cluster, slicesPath(ns), cluster.adminToken, () => false);
      const oldRv = JSON.parse(list.lines.join('\n')).metadata.resourceVersion as string;

      proxy.cut();
      await cluster.apply(ns, 'pricer-b', 'pricer', [ep(5)]);
      for (let i = 0; i < 5; i++) await cluster.apply('gone-noise', `noise-${i}`, 'noise', [ep(20 + i)]);
      await cluster.expireHistory();

      const watch = await rawGet(cluster, `${slicesPath(ns)}?watch=1&resourceVersion=${oldRv}&allowWatchBookmarks=true`, cluster.adminToken, (lines) => lines.length > 0, 30_000);
      const said410 = watch.status === 410 || watch.lines.some((l) => /"code":\s*410/.test(l));
      assert.ok(said410, `410 for resourceVersion ${oldRv}: HTTP ${watch.status} ${watch.lines.join('\n').slice(0, 400)}`);

      proxy.restore();
      await waitFor('the source listed again and has the slice added while it was cut off', () => addresses(rec.last()).includes('10.2.0.5:50051'), 60_000);
      assert.deepEqual(addresses(rec.last()), ['10.2.0.1:50051', '10.2.0.5:50051']);
      // And it watches again from the new list.
      await cluster.remove(ns, 'pricer-a');
      await waitFor('deletion after the re-list', () => !addresses(rec.last()).includes('10.2.0.1:50051'));
    });

    test('RBAC: a service-account token with a Role for endpointslices works; one without is refused and Fairway says what is needed', async () => {
      const ns = 'rbac';
      await cluster.apply(ns, 'pricer-a', 'pricer', [ep(1)]);
      const allowedToken = await cluster.token(ns, 'fairway-reader', true);
      const deniedToken = await cluster.token(ns, 'no-role', false);
      const allowed = recorder();
      start(ns, allowedToken, allowed);
      await waitFor('snapshot with the allowed token', () => addresses(allowed.last()).length === 1);
      const denied = recorder();
      start(ns, deniedToken, denied);
      await waitFor('the refusal', () => denied.errors.length > 0);
      const error = denied.errors[0]!;
      assert.equal(error.fatalForNow, true);
      assert.match(error.message, /403 Forbidden/);
      assert.match(error.message, new RegExp(`system:serviceaccount:${ns}:no-role|no-role`), 'the server names the service account');
      assert.match(error.message, /needs RBAC get, list and watch on endpointslices \(API group discovery\.k8s\.io\) in namespace "rbac"/);
      assert.equal(denied.snapshots.length, 0);
    });

    test('a rolling update written as the EndpointSlice controller writes it: the usable set never empties', async () => {
      const ns = 'roll';
      const slice = 'pricer-x7k2p';
      let pods = [ep(1), ep(2)];
      await cluster.apply(ns, slice, 'pricer', pods);
      const rec = recorder();
      start(ns, cluster.adminToken, rec);
      await waitFor('first snapshot', () => addresses(rec.last()).length === 2);
      const from = rec.snapshots.length;
      for (const [oldIp, newIp] of [[1, 3], [2, 4]] as const) {
        // A surge Pod appears not ready, then becomes ready; then the old Pod terminates (still serving), then goes.
        pods = [...pods, ep(newIp, { ready: false })];
        await cluster.apply(ns, slice, 'pricer', pods);
        pods = pods.map((p) => (p.ip === `10.2.0.${newIp}` ? ep(newIp) : p));
        await cluster.apply(ns, slice, 'pricer', pods);
        await waitFor(`new pod ${newIp} ready`, () => addresses(rec.last()).includes(`10.2.0.${newIp}:50051`));
        pods = pods.map((p) => (p.ip === `10.2.0.${oldIp}` ? ep(oldIp, { ready: false, serving: true, terminating: true }) : p));
        await cluster.apply(ns, slice, 'pricer', pods);
        pods = pods.filter((p) => p.ip !== `10.2.0.${oldIp}`);
        await cluster.apply(ns, slice, 'pricer', pods);
        await waitFor(`old pod ${oldIp} gone`, () => !addresses(rec.last()).includes(`10.2.0.${oldIp}:50051`));
      }
      assert.deepEqual(addresses(rec.last()), ['10.2.0.3:50051', '10.2.0.4:50051']);
      const during = rec.snapshots.slice(from);
      assert.ok(during.length >= 2, 'the update was seen step by step');
      assert.ok(during.every((s) => s.endpoints.length > 0), `never empty: ${during.map((s) => addresses(s).join(' ')).join(' | ')}`);
      assert.deepEqual(rec.errors, []);
    });
  });
}
