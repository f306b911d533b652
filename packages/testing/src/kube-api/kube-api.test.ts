// The Kubernetes API stand-in's wire protocol, checked with plain HTTPS requests.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { startKubeApiStandIn, makeEndpointSlice, type KubeApiStandIn } from './server.js';
import { parseLabelSelector } from './store.js';

const EPS = '/apis/discovery.k8s.io/v1/namespaces/ns/endpointslices';
const SEL = 'labelSelector=' + encodeURIComponent('kubernetes.io/service-name=pricer');

function open(api: KubeApiStandIn, path: string, token: string | undefined = api.token): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(api.url + path, { ca: api.caPem, headers: token ? { Authorization: `Bearer ${token}` } : {} }, resolve);
    req.on('error', reject);
    req.end();
  });
}

async function get(api: KubeApiStandIn, path: string, token?: string): Promise<{ status: number; body: any }> {
  const res = await open(api, path, token);
  let text = '';
  for await (const c of res) text += c;
  return { status: res.statusCode ?? 0, body: JSON.parse(text) };
}

/** Opens a watch and collects parsed events; `next(n)` waits until n events arrived. */
async function watch(api: KubeApiStandIn, query: string) {
  const res = await open(api, `${EPS}?${SEL}&watch=1&${query}`);
  const events: any[] = [];
  let buf = '';
  let ended: 'end' | 'aborted' | undefined;
  res.setEncoding('utf8');
  res.on('data', (c: string) => {
    buf += c;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      events.push(JSON.parse(buf.slice(0, nl)));
      buf = buf.slice(nl + 1);
    }
  });
  res.on('end', () => (ended ??= 'end'));
  res.on('error', () => (ended = 'aborted'));
  res.on('aborted', () => (ended = 'aborted'));
  res.on('close', () => (ended ??= res.complete ? 'end' : 'aborted'));
  const until = async (what: string, check: () => boolean) => {
    const deadline = Date.now() + 5000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; events: ${JSON.stringify(events.map((e) => e.type))}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return { res, events, ended: () => ended, next: (n: number) => until(`${n} events`, () => events.length >= n), until };
}

const slice = (name: string, ip: string, service = 'pricer') => makeEndpointSlice({ name, namespace: 'ns', service, endpoints: [{ ip, pod: name }] });

describe('Kubernetes API stand-in', { timeout: 30_000 }, () => {
  let api: KubeApiStandIn;
  before(async () => {
    api = await startKubeApiStandIn({ bookmarkIntervalMs: 100_000, historyLimit: 50, tokens: [{ token: 'full' }, { token: 'no-watch', verbs: ['get', 'list'], user: 'system:serviceaccount:ns:viewer' }] });
  });
  after(() => api.close());

  test('401 Status without a token or with an unknown one; 403 in the API server words without the verb', async () => {
    const none = await get(api, EPS, '');
    assert.equal(none.status, 401);
    assert.deepEqual(none.body, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
    assert.equal((await get(api, '/api', 'wrong')).status, 401);
    const w = await get(api, `${EPS}?watch=1`, 'no-watch');
    assert.equal(w.status, 403);
    assert.equal(w.body.message, 'endpointslices.discovery.k8s.io is forbidden: User "system:serviceaccount:ns:viewer" cannot watch resource "endpointslices" in API group "discovery.k8s.io" in the namespace "ns"');
    assert.equal((await get(api, EPS, 'no-watch')).status, 200);
  });

  test('discovery documents name the discovery.k8s.io/v1 endpointslices resource', async () => {
    assert.deepEqual((await get(api, '/api', 'full')).body.versions, ['v1']);
    const groups = (await get(api, '/apis', 'full')).body;
    assert.equal(groups.kind, 'APIGroupList');
    assert.equal(groups.groups[0].preferredVersion.groupVersion, 'discovery.k8s.io/v1');
    const res = (await get(api, '/apis/discovery.k8s.io/v1', 'full')).body;
    assert.equal(res.resources[0].name, 'endpointslices');
    assert.equal(res.resources[0].kind, 'EndpointSlice');
    assert.deepEqual(res.resources[0].verbs, ['get', 'list', 'watch']);
    assert.equal((await get(api, '/version', 'full')).body.major, '1');
  });

  test('list: label selector, increasing resourceVersion, consistent limit/continue pages, 410 for a compacted continue', async () => {
    api.applySlice(slice('a1', '10.0.0.1'));
    api.applySlice(slice('a2', '10.0.0.2'));
    api.applySlice(slice('a3', '10.0.0.3'));
    api.applySlice(slice('b1', '10.0.0.9', 'other'));
    const all = await get(api, `${EPS}?${SEL}`, 'full');
    assert.equal(all.body.kind, 'EndpointSliceList');
    assert.deepEqual(all.body.items.map((i: any) => i.metadata.name), ['a1', 'a2', 'a3']);
    const rv1 = Number(all.body.metadata.resourceVersion);
    assert.equal(rv1, api.resourceVersion);
    const p1 = await get(api, `${EPS}?${SEL}&limit=2`, 'full');
    assert.deepEqual(p1.body.items.map((i: any) => i.metadata.name), ['a1', 'a2']);
    assert.equal(p1.body.metadata.remainingItemCount, 1);
    api.deleteSlice('ns', 'a3'); // not visible in the continued (consistent) list
    assert.ok(api.resourceVersion > rv1);
    const p2 = await get(api, `${EPS}?${SEL}&limit=2&continue=${p1.body.metadata.continue}`, 'full');
    assert.deepEqual(p2.body.items.map((i: any) => i.metadata.name), ['a3']);
    assert.equal(p2.body.metadata.continue, undefined);
    const p3 = await get(api, `${EPS}?${SEL}&limit=1`, 'full');
    api.applySlice(slice('a4', '10.0.0.4'));
    api.compactHistory(); // everything before the newest resourceVersion is gone
    assert.equal((await get(api, `${EPS}?${SEL}&limit=1&continue=${p3.body.metadata.continue}`, 'full')).status, 410);
    const clusterWide = await get(api, '/apis/discovery.k8s.io/v1/endpointslices?labelSelector=kubernetes.io%2Fservice-name%20in%20(other)', 'full');
    assert.deepEqual(clusterWide.body.items.map((i: any) => i.metadata.name), ['b1']);
  });

  test('watch: replay from resourceVersion, ADDED/MODIFIED/DELETED, selector exit as DELETED, bookmarks only when allowed', async () => {
    const rv = api.resourceVersion;
    api.applySlice(slice('w1', '10.1.0.1'));
    const w = await watch(api, `resourceVersion=${rv}&allowWatchBookmarks=true`);
    const plain = await watch(api, `resourceVersion=${rv}`);
    await w.next(1);
    assert.equal(w.events[0].type, 'ADDED');
    assert.equal(w.events[0].object.kind, 'EndpointSlice');
    assert.equal(w.events[0].object.apiVersion, 'discovery.k8s.io/v1');
    api.applySlice(slice('w1', '10.1.0.2'));
    api.applySlice(slice('w1', '10.1.0.2', 'other')); // leaves the selection
    api.applySlice(slice('w2', '10.1.0.3'));
    api.deleteSlice('ns', 'w2');
    api.sendBookmarks();
    await w.next(6);
    assert.deepEqual(w.events.map((e) => e.type), ['ADDED', 'MODIFIED', 'DELETED', 'ADDED', 'DELETED', 'BOOKMARK']);
    assert.equal(w.events[1].object.endpoints[0].addresses[0], '10.1.0.2');
    assert.equal(w.events[5].object.metadata.resourceVersion, String(api.resourceVersion));
    const rvs = w.events.slice(0, 5).map((e) => Number(e.object.metadata.resourceVersion));
    assert.deepEqual(rvs, [...rvs].sort((a, b) => a - b));
    await plain.next(5);
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(!plain.events.some((e) => e.type === 'BOOKMARK'));
    api.dropWatches();
    await w.until('abrupt end', () => w.ended() === 'aborted');
  });

  test('watch from a compacted resourceVersion: ERROR event with a 410 Expired Status; timeoutSeconds ends cleanly', async () => {
    const rv = api.resourceVersion;
    api.applySlice(slice('c1', '10.2.0.1'));
    api.compactHistory();
    const w = await watch(api, `resourceVersion=${rv}`);
    await w.next(1);
    assert.equal(w.events[0].type, 'ERROR');
    assert.equal(w.events[0].object.code, 410);
    assert.equal(w.events[0].object.reason, 'Expired');
    await w.until('end', () => w.ended() === 'end');
    const t = await watch(api, `resourceVersion=${api.resourceVersion}&timeoutSeconds=1`);
    await t.until('timeout end', () => t.ended() === 'end');
  });

  test('a history overflow also expires old resourceVersions; no resourceVersion starts with the current state', async () => {
    const rv = api.resourceVersion;
    for (let i = 0; i < 60; i++) api.applySlice(slice('h1', `10.3.0.${i + 1}`));
    const old = await watch(api, `resourceVersion=${rv}`);
    await old.next(1);
    assert.equal(old.events[0].object.code, 410);
    const fresh = await watch(api, '');
    await fresh.next(1);
    assert.ok(fresh.events.every((e) => e.type === 'ADDED'));
    assert.ok(fresh.events.some((e) => e.object.metadata.name === 'h1'));
    api.dropWatches();
  });

  test('setReachable(false) refuses connections; true serves again on the same port', async () => {
    await api.setReachable(false);
    await assert.rejects(get(api, '/api', 'full'), /ECONNREFUSED/);
    await api.setReachable(true);
    assert.equal((await get(api, '/api', 'full')).status, 200);
  });
});

test('parseLabelSelector: equality and set based requirements', () => {
  const l = { app: 'pricer', tier: 'api' };
  assert.ok(parseLabelSelector('app=pricer').matches(l));
  assert.ok(parseLabelSelector('app==pricer,tier').matches(l));
  assert.ok(!parseLabelSelector('app!=pricer').matches(l));
  assert.ok(parseLabelSelector('tier in (api, web),!gone').matches(l));
  assert.ok(!parseLabelSelector('tier notin (api)').matches(l));
  assert.ok(parseLabelSelector('').matches(undefined));
  assert.throws(() => parseLabelSelector('a b c'), /unable to parse requirement/);
});
