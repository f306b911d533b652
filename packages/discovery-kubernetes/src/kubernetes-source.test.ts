// The k8s: source against the Kubernetes API stand-in (HTTPS on loopback, real list/watch wire protocol).
import { test, describe, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTarget } from '@fairway/core';
import { startKubeApiStandIn, startRefusingEndpoint, makeEndpointSlice, type KubeApiStandIn } from '@fairway/testing';
import { createKubernetesSource, onUnusedEndpointsChange, unusedEndpointsOf, type KubernetesDiscoveryOptions } from './index.js';
import { recorder, waitFor, addresses, type Recorder } from './test-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'fairway-k8s-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function opts(api: KubeApiStandIn, rec: Recorder, extra: Partial<KubernetesDiscoveryOptions> = {}): KubernetesDiscoveryOptions {
  return {
    apiServerUrl: api.url,
    token: api.token,
    caPem: api.caPem,
    namespaceFile: join(dir, 'no-such-namespace-file'),
    retryInitialMs: 20,
    retryMaxMs: 200,
    logger: rec.logger,
    ...extra,
  };
}

function ep(i: number, extra: Record<string, unknown> = {}) {
  return { ip: `10.1.${Math.floor(i / 250)}.${(i % 250) + 1}`, pod: `pricer-${i}`, zone: i % 2 ? 'zone-b' : 'zone-a', ...extra };
}

describe('k8s: source against the API stand-in', { timeout: 60_000 }, () => {
  let api: KubeApiStandIn;
  const sources: { close(): unknown }[] = [];
  before(async () => {
    api = await startKubeApiStandIn({ bookmarkIntervalMs: 200 });
  });
  after(async () => {
    for (const s of sources) await s.close();
    await api.close();
  });
  function start(target: string, rec: Recorder, extra: Partial<KubernetesDiscoveryOptions> = {}) {
    const src = createKubernetesSource(parseTarget(target), opts(api, rec, extra));
    sources.push(src);
    src.start(rec);
    return src;
  }

  test('merges every slice of the Service, maps port name, zone and Pod identity, and follows the watch', async () => {
    const ns = 'merge';
    api.applySlice(makeEndpointSlice({ name: 'pricer-a', namespace: ns, service: 'pricer', ports: [{ name: 'grpc', port: 50051 }, { name: 'metrics', port: 9090 }], endpoints: [ep(1), ep(2, { ready: false })] }));
    api.applySlice(makeEndpointSlice({ name: 'pricer-b', namespace: ns, service: 'pricer', ports: [{ name: 'grpc', port: 50051 }], endpoints: [ep(3, { hintZones: ['zone-c'], zone: undefined })] }));
    api.applySlice(makeEndpointSlice({ name: 'other-a', namespace: ns, service: 'other', endpoints: [ep(9)] }));
    const rec = recorder();
    const src = start(`k8s:///pricer.${ns}:grpc`, rec);
    await waitFor('first snapshot', () => rec.snapshots.length > 0);
    const first = rec.last()!;
    assert.deepEqual(first.endpoints, [
      { address: '10.1.0.2:50051', zone: 'zone-b', instance: 'pricer-1', incarnation: 'uid-pricer-1' },
      { address: '10.1.0.4:50051', zone: 'zone-c', instance: 'pricer-3', incarnation: 'uid-pricer-3' },
    ]);
    assert.equal(first.stale, undefined);
    // The Pod that is not ready is in no snapshot, but can be read beside it (for `fairway resolve`).
    assert.deepEqual(unusedEndpointsOf(src), [
      { address: '10.1.0.3:50051', zone: 'zone-a', instance: 'pricer-2', incarnation: 'uid-pricer-2', ready: false, serving: false, terminating: false },
    ]);
    // The watch: a new slice, a change, a deletion.
    api.applySlice(makeEndpointSlice({ name: 'pricer-c', namespace: ns, service: 'pricer', endpoints: [ep(5)] }));
    await waitFor('slice c', () => addresses(rec.last()).includes('10.1.0.6:50051'));
    api.applySlice(makeEndpointSlice({ name: 'pricer-a', namespace: ns, service: 'pricer', endpoints: [ep(1), ep(2)] }));
    await waitFor('endpoint 2 ready', () => addresses(rec.last()).includes('10.1.0.3:50051'));
    assert.deepEqual(unusedEndpointsOf(src), []);
    api.deleteSlice(ns, 'pricer-b');
    await waitFor('slice b gone', () => !addresses(rec.last()).includes('10.1.0.4:50051'));
    assert.deepEqual(addresses(rec.last()), ['10.1.0.2:50051', '10.1.0.3:50051', '10.1.0.6:50051']);
    const watches = api.requests.filter((r) => r.watch && r.path.includes(`/namespaces/${ns}/`));
    assert.ok(watches.length >= 1);
    assert.equal(watches[0]!.query.allowWatchBookmarks, 'true');
    assert.match(watches[0]!.query.resourceVersion ?? '', /^\d+$/);
    assert.equal(watches[0]!.query.labelSelector, 'kubernetes.io/service-name=pricer');
    assert.deepEqual(rec.errors, []);
    await src.close();
    await src.close(); // idempotent
  });

  test('onUnusedEndpointsChange: told when only the unused endpoints change (no snapshot then), not when a snapshot carries the change', async () => {
    const ns = 'unused-change';
    api.applySlice(makeEndpointSlice({ name: 'pricer-a', namespace: ns, service: 'pricer', endpoints: [ep(1)] }));
    const rec = recorder();
    const src = start(`k8s:///pricer.${ns}:50051`, rec);
    const told: string[][] = [];
    assert.equal(onUnusedEndpointsChange(src, (unused) => told.push(unused.map((e) => `${e.address} ready=${e.ready}`))), true);
    await waitFor('first set', () => rec.snapshots.length === 1);
    // A new Pod, not ready: the set in use is the same, so no snapshot; the callback hears of it.
    api.applySlice(makeEndpointSlice({ name: 'pricer-a', namespace: ns, service: 'pricer', endpoints: [ep(1), ep(2, { ready: false, serving: false })] }));
    await waitFor('told of the not-ready Pod', () => told.length === 1);
    assert.deepEqual(told, [['10.1.0.3:50051 ready=false']]);
    assert.equal(rec.snapshots.length, 1);
    // Ready now: a snapshot carries it (and the unused set, now empty, is read with it), so the callback is quiet.
    api.applySlice(makeEndpointSlice({ name: 'pricer-a', namespace: ns, service: 'pricer', endpoints: [ep(1), ep(2)] }));
    await waitFor('the Pod in the set', () => addresses(rec.last()).includes('10.1.0.3:50051'));
    assert.deepEqual(unusedEndpointsOf(src), []);
    assert.equal(told.length, 1);
    // Not a Kubernetes source: nothing to hear of.
    assert.equal(onUnusedEndpointsChange({ start() {}, close() {} }, () => {}), false);
  });

  test('closed from inside its first snapshot (as `fairway resolve` does): close() returns at once and no watch is opened', async () => {
    const ns = 'close-first';
    api.applySlice(makeEndpointSlice({ name: 'pricer-a', namespace: ns, service: 'pricer', endpoints: [ep(1)] }));
    const rec = recorder();
    const src = createKubernetesSource(parseTarget(`k8s:///pricer.${ns}:50051`), opts(api, rec, { liveConfig: true }));
    let closing: Promise<void> | void | undefined;
    src.start({ ...rec, onSnapshot: (snap) => void (rec.snapshots.push(snap), (closing ??= src.close())) });
    await waitFor('first snapshot', () => closing !== undefined);
    // Before, the watch that followed the list was opened after close() and held it for its ~290 s.
    const outcome = await Promise.race([closing!.then(() => 'closed'), new Promise((r) => setTimeout(() => r('still open after 5 s'), 5_000))]);
    assert.equal(outcome, 'closed');
    assert.deepEqual(api.requests.filter((r) => r.watch && r.path.includes(`/namespaces/${ns}/endpointslices`)), []);
  });

  test('namespace comes from the service account file when the target names none; a port number is used as is', async () => {
    const nsFile = join(dir, 'namespace');
    writeFileSync(nsFile, 'podns\n');
    api.applySlice(makeEndpointSlice({ name: 'svc-1', namespace: 'podns', service: 'svc', ports: [{ name: 'x', port: 1 }, { name: 'y', port: 2 }], endpoints: [ep(7)] }));
    const rec = recorder();
    start('k8s:///svc:8443', rec, { namespaceFile: nsFile });
    await waitFor('snapshot', () => rec.snapshots.length > 0);
    assert.deepEqual(addresses(rec.last()), ['10.1.0.8:8443']);
  });

  test('when no endpoint is ready, those serving while terminating are used (rolling update, KEP-1669)', async () => {
    const ns = 'roll';
    api.applySlice(makeEndpointSlice({ name: 's1', namespace: ns, service: 'pricer', endpoints: [ep(1), ep(2)] }));
    const rec = recorder();
    start(`k8s:///pricer.${ns}:grpc`, rec);
    await waitFor('2 ready', () => addresses(rec.last()).length === 2);
    api.applySlice(makeEndpointSlice({ name: 's1', namespace: ns, service: 'pricer', endpoints: [ep(1, { ready: false, serving: true, terminating: true }), ep(2, { ready: false, serving: false, terminating: true })] }));
    await waitFor('fallback', () => addresses(rec.last()).length === 1);
    assert.deepEqual(addresses(rec.last()), ['10.1.0.2:50051']);
    assert.match(rec.last()!.note ?? '', /serving while terminating/);
    api.applySlice(makeEndpointSlice({ name: 's2', namespace: ns, service: 'pricer', endpoints: [ep(3)] }));
    await waitFor('new pod only', () => addresses(rec.last()).join() === '10.1.0.4:50051');
  });

  test('1,500 endpoints over 15 slices (listed in pages of 4 slices) are all in the snapshot', async () => {
    const ns = 'big';
    for (let s = 0; s < 15; s++) {
      api.applySlice(makeEndpointSlice({ name: `pricer-${s}`, namespace: ns, service: 'pricer', endpoints: Array.from({ length: 100 }, (_, j) => ep(s * 100 + j)) }));
    }
    const rec = recorder();
    start(`k8s:///pricer.${ns}:grpc`, rec, { listPageSize: 4 });
    await waitFor('1500 endpoints', () => rec.last()?.endpoints.length === 1500);
    assert.equal(new Set(addresses(rec.last())).size, 1500);
    const lists = api.requests.filter((r) => !r.watch && r.path.includes(`/namespaces/${ns}/`));
    assert.equal(lists.length, 4, 'four pages of at most 4 slices');
    assert.ok(lists.slice(1).every((r) => typeof r.query.continue === 'string'));
    // One more endpoint via the watch: 1,501.
    api.applySlice(makeEndpointSlice({ name: 'pricer-15', namespace: ns, service: 'pricer', endpoints: [ep(1500)] }));
    await waitFor('1501 endpoints', () => rec.last()?.endpoints.length === 1501);
  });

  test('IPv6 endpoints, and an API server on ::1', async () => {
    const api6 = await startKubeApiStandIn({ host: '::1' });
    try {
      api6.applySlice(makeEndpointSlice({ name: 'v6', namespace: 'six', service: 'pricer', endpoints: [{ ip: 'fd00::1', pod: 'p1' }, { ip: '::1', pod: 'p2' }] }));
      const rec = recorder();
      const src = createKubernetesSource(parseTarget('k8s:///pricer.six:grpc'), opts(api6, rec));
      src.start(rec);
      try {
        await waitFor('v6 snapshot', () => rec.snapshots.length > 0);
        assert.ok(api6.url.startsWith('https://[::1]:'));
        assert.deepEqual(addresses(rec.last()), ['[::1]:50051', '[fd00::1]:50051']);
      } finally {
        await src.close();
      }
    } finally {
      await api6.close();
    }
  });

  test('a dropped watch stream is re-watched from its resourceVersion (no re-list), with no change lost', async () => {
    const ns = 'drop';
    api.applySlice(makeEndpointSlice({ name: 's1', namespace: ns, service: 'pricer', endpoints: [ep(1)] }));
    const rec = recorder();
    start(`k8s:///pricer.${ns}:grpc`, rec);
    await waitFor('first', () => rec.snapshots.length > 0);
    await waitFor('watching', () => api.requests.some((r) => r.watch && r.path.includes(`/${ns}/`)));
    const watchesBefore = api.requests.filter((r) => r.watch && r.path.includes(`/${ns}/`)).length;
    api.dropWatches();
    api.applySlice(makeEndpointSlice({ name: 's2', namespace: ns, service: 'pricer', endpoints: [ep(2)] }));
    await waitFor('change after the drop', () => addresses(rec.last()).length === 2);
    const ours = api.requests.filter((r) => r.path.includes(`/${ns}/`));
    assert.ok(ours.filter((r) => r.watch).length > watchesBefore, 'watched again');
    assert.equal(ours.filter((r) => !r.watch).length, 1, 'no second list');
    assert.deepEqual(rec.errors, []);
  });

  test('410 Gone (history compacted while disconnected) leads to a re-list', async () => {
    const ns = 'gone';
    api.applySlice(makeEndpointSlice({ name: 's1', namespace: ns, service: 'pricer', endpoints: [ep(1), ep(2)] }));
    const rec = recorder();
    // Long back-off, so the changes and the compaction happen before the source watches again.
    start(`k8s:///pricer.${ns}:grpc`, rec, { retryInitialMs: 600, retryMaxMs: 600, random: () => 0.5 });
    await waitFor('first', () => rec.snapshots.length > 0);
    await waitFor('watching', () => api.openWatches > 0 && api.requests.some((r) => r.watch && r.path.includes(`/${ns}/`)));
    api.dropWatches();
    api.applySlice(makeEndpointSlice({ name: 's1', namespace: ns, service: 'pricer', endpoints: [ep(2)] }));
    api.deleteSlice(ns, 's1');
    api.applySlice(makeEndpointSlice({ name: 's3', namespace: ns, service: 'pricer', endpoints: [ep(3)] }));
    api.compactHistory();
    await waitFor('re-listed state', () => addresses(rec.last()).join() === '10.1.0.4:50051');
    const lists = api.requests.filter((r) => !r.watch && r.path.includes(`/${ns}/`));
    assert.equal(lists.length, 2, 'listed again after the 410');
    assert.deepEqual(rec.errors, []);
  });

  test('an unreachable API server keeps the last set (stale, with a note) and recovers', async () => {
    const own = await startKubeApiStandIn();
    try {
      own.applySlice(makeEndpointSlice({ name: 's1', namespace: 'ns', service: 'pricer', endpoints: [ep(1), ep(2)] }));
      const rec = recorder();
      const src = createKubernetesSource(parseTarget('k8s:///pricer.ns:grpc'), opts(own, rec, { warningIntervalMs: 60_000 }));
      src.start(rec);
      try {
        await waitFor('first', () => rec.snapshots.length > 0);
        await waitFor('watching', () => own.openWatches > 0);
        await own.setReachable(false);
        await waitFor('stale snapshot', () => rec.last()?.stale === true);
        const stale = rec.last()!;
        assert.deepEqual(addresses(stale), ['10.1.0.2:50051', '10.1.0.3:50051']);
        assert.ok(stale.note?.includes(own.url), stale.note);
        assert.match(stale.note!, /keeping the last 2 endpoints/);
        // Several failed attempts, one warning (rate-limited), one stale snapshot.
        await new Promise((r) => setTimeout(r, 600));
        assert.equal(rec.snapshots.filter((s) => s.stale).length, 1);
        assert.equal(rec.logs.filter((l) => l.startsWith('warn:')).length, 1, rec.logs.join('\n'));
        own.applySlice(makeEndpointSlice({ name: 's2', namespace: 'ns', service: 'pricer', endpoints: [ep(3)] }));
        await own.setReachable(true);
        await waitFor('fresh again', () => rec.last()?.stale !== true && addresses(rec.last()).length === 3);
        assert.deepEqual(rec.errors, []);
      } finally {
        await src.close();
      }
    } finally {
      await own.close();
    }
  });

  test('an API server that refuses from the start: each failure is handed on, and logged at error with the attempt, never as a warning', async () => {
    const refusing = await startRefusingEndpoint();
    try {
      const rec = recorder();
      const src = createKubernetesSource(parseTarget('k8s:///pricer.ns:grpc'), {
        apiServerUrl: `https://${refusing.address}`,
        token: 'unused-token',
        insecureSkipTlsVerify: true,
        namespaceFile: join(dir, 'no-such-namespace-file'),
        retryInitialMs: 20,
        retryMaxMs: 50,
        logger: rec.logger,
      });
      src.start(rec);
      try {
        await waitFor('three failures', () => rec.errors.length >= 3);
      } finally {
        await src.close();
      }
      assert.ok(rec.errors.every((e) => e.fatalForNow), JSON.stringify(rec.errors));
      assert.match(rec.errors[0]!.message, new RegExp(`cannot reach the Kubernetes API server https://${refusing.address.replace(/\./g, '\\.')}`));
      // One line per distinct failure and interval (60 s): rate-limited, each naming its attempt, at `error`.
      const handedOn = new Set(rec.errors.map((e) => e.message));
      assert.ok(rec.logs.length >= 1 && rec.logs.length <= handedOn.size, rec.logs.join('\n'));
      for (const line of rec.logs) {
        const m = /^error: (.*); retrying \(attempt \d+\)$/.exec(line);
        assert.ok(m && handedOn.has(m[1]!), `a logged failure is one handed on, at error: ${line}`);
      }
      assert.equal(rec.logs[0], `error: ${rec.errors[0]!.message}; retrying (attempt 1)`);
    } finally {
      await refusing.close();
    }
  });

  test('a rejected token (401) is a clear error naming the API server and the status, never the token', async () => {
    const rec = recorder();
    const secret = 'eyJhbGciOiJSUzI1NiIsImtpZCI6InNlY3JldC10b2tlbi12YWx1ZSJ9.do-not-print-me';
    start('k8s:///pricer.trading:grpc', rec, { token: secret });
    await waitFor('an error', () => rec.errors.length > 0);
    const err = rec.errors[0]!;
    assert.equal(err.fatalForNow, true);
    assert.ok(err.message.includes(api.url), err.message);
    assert.match(err.message, /401 Unauthorized/);
    assert.match(err.message, /get, list and watch on endpointslices \(API group discovery\.k8s\.io\) in namespace "trading"/);
    const everything = JSON.stringify({ errors: rec.errors, logs: rec.logs, snapshots: rec.snapshots }) + rec.errors.map((e) => String(e.cause)).join();
    assert.ok(!everything.includes(secret) && !everything.includes('do-not-print-me'), 'the token appears in the output');
    assert.ok(rec.logs.some((l) => l.startsWith('error:') && l.includes('401')));
    assert.ok(!rec.logs.some((l) => l.startsWith('warn:')), `handed on, so not also a warning: ${rec.logs.join('\n')}`);
    assert.equal(rec.snapshots.length, 0);
  });

  test('a token revoked after the first set: the set is kept (stale), and the error names the server and 401', async () => {
    const own = await startKubeApiStandIn({ tokens: [{ token: 'first-token-value' }] });
    try {
      own.applySlice(makeEndpointSlice({ name: 's1', namespace: 'ns', service: 'pricer', endpoints: [ep(1)] }));
      const rec = recorder();
      const src = createKubernetesSource(parseTarget('k8s:///pricer.ns:grpc'), opts(own, rec, { token: 'first-token-value' }));
      src.start(rec);
      try {
        await waitFor('first', () => rec.snapshots.length > 0);
        await waitFor('watching', () => own.openWatches > 0);
        own.setTokens([{ token: 'another-token' }]);
        own.dropWatches();
        await waitFor('stale snapshot', () => rec.last()?.stale === true);
        await waitFor('error', () => rec.errors.length > 0);
        assert.deepEqual(addresses(rec.last()), ['10.1.0.2:50051']);
        assert.equal(rec.errors[0]!.fatalForNow, false);
        assert.ok(rec.errors[0]!.message.includes(own.url));
        assert.match(rec.errors[0]!.message, /401 Unauthorized/);
        assert.match(rec.last()!.note ?? '', /401 Unauthorized.*keeping the last 1 endpoints/);
        assert.ok(!JSON.stringify({ e: rec.errors, l: rec.logs, s: rec.snapshots }).includes('first-token-value'));
      } finally {
        await src.close();
      }
    } finally {
      await own.close();
    }
  });

  test('a token without RBAC in the namespace (403) names the missing RBAC', async () => {
    const rbac = await startKubeApiStandIn({ tokens: [{ token: 'limited-token-value', user: 'system:serviceaccount:trading:pricer-client', namespaces: ['elsewhere'] }] });
    try {
      const rec = recorder();
      const src = createKubernetesSource(parseTarget('k8s:///pricer.trading:grpc'), opts(rbac, rec));
      src.start(rec);
      try {
        await waitFor('an error', () => rec.errors.length > 0);
        const m = rec.errors[0]!.message;
        assert.ok(m.includes(rbac.url), m);
        assert.match(m, /403 Forbidden/);
        assert.match(m, /cannot list resource "endpointslices"/);
        assert.match(m, /RBAC get, list and watch on endpointslices .* in namespace "trading"/);
        assert.ok(!JSON.stringify({ e: rec.errors, l: rec.logs }).includes('limited-token-value'));
      } finally {
        await src.close();
      }
    } finally {
      await rbac.close();
    }
  });

  test('garbage slices and garbage watch lines give warnings naming the slice; the rest of the set stays', async () => {
    const ns = 'garbage';
    api.applySlice(makeEndpointSlice({ name: 'good', namespace: ns, service: 'pricer', endpoints: [ep(1), ep(2)] }));
    const labels = { 'kubernetes.io/service-name': 'pricer' };
    api.applySlice({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'no-fields', namespace: ns, labels } });
    api.applySlice({ metadata: { name: 'wrong-types', namespace: ns, labels }, addressType: 'IPv4', ports: [{ name: 'grpc', port: 50051 }], endpoints: [{ addresses: 'x' }, { addresses: [7] }, { addresses: ['10.9.9.9'], conditions: { ready: 'yes' } }, { addresses: ['10.9.9.8'], zone: 5 }] });
    api.applySlice(makeEndpointSlice({ name: 'too-many', namespace: ns, service: 'pricer', endpoints: Array.from({ length: 1001 }, (_, i) => ep(100 + i)) }));
    const rec = recorder();
    start(`k8s:///pricer.${ns}:grpc`, rec, { maxObjectBytes: 400_000 });
    await waitFor('first', () => rec.snapshots.length > 0);
    assert.deepEqual(addresses(rec.last()), ['10.1.0.2:50051', '10.1.0.3:50051', '10.9.9.8:50051']);
    const warns = rec.logs.filter((l) => l.startsWith('warn:')).join('\n');
    // Skipped, not handed to the listener: warnings only (a caller leaving `error` out still sees them).
    assert.deepEqual(rec.logs.filter((l) => !l.startsWith('warn:')), []);
    assert.match(warns, /EndpointSlice garbage\/no-fields: addressType is missing, not "IPv4"/);
    assert.match(warns, /EndpointSlice garbage\/wrong-types: endpoint 0: addresses is the string "x"/);
    assert.match(warns, /EndpointSlice garbage\/wrong-types: endpoint 2: conditions\.ready is the string "yes"/);
    assert.match(warns, /EndpointSlice garbage\/wrong-types: endpoint 3: zone is number 5/);
    assert.match(warns, /EndpointSlice garbage\/too-many: has 1001 endpoints/);
    // An object larger than maxObjectBytes, through the watch; then a line that is not JSON.
    api.applySlice(makeEndpointSlice({ name: 'huge', namespace: ns, service: 'pricer', endpoints: Array.from({ length: 900 }, (_, i) => ep(i, { pod: `p-${'x'.repeat(250)}-${i}` })) }));
    await waitFor('oversize warning', () => rec.logs.some((l) => /huge is \d+ bytes, more than maxObjectBytes/.test(l)));
    // The oversized event made the source list again; once it watches again, a line that is not JSON.
    const watchCount = () => api.requests.filter((r) => r.watch && r.path.includes(`/${ns}/`)).length;
    await waitFor('watching again', () => watchCount() >= 2);
    api.injectWatchLine('{"type": "ADDED", "object": {not json');
    await waitFor('garbage line warning', () => rec.logs.some((l) => /not JSON/.test(l)));
    api.applySlice(makeEndpointSlice({ name: 'good2', namespace: ns, service: 'pricer', endpoints: [ep(3)] }));
    await waitFor('still following', () => addresses(rec.last()).includes('10.1.0.4:50051'));
    assert.deepEqual(addresses(rec.last()), ['10.1.0.2:50051', '10.1.0.3:50051', '10.1.0.4:50051', '10.9.9.8:50051']);
    assert.deepEqual(rec.errors, []);
  });

  test('a kubeconfig file (server, CA data, token) is honoured', async () => {
    const file = join(dir, 'kubeconfig');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- name: stand-in`,
        `  cluster: { server: "${api.url}", certificate-authority-data: "${Buffer.from(api.caPem).toString('base64')}" }`,
        'users:',
        `- name: u`,
        `  user: { token: "${api.token}" }`,
        'contexts:',
        '- name: c',
        '  context: { cluster: stand-in, user: u, namespace: kcns }',
        'current-context: c',
      ].join('\n'),
    );
    api.applySlice(makeEndpointSlice({ name: 'k1', namespace: 'kcns', service: 'pricer', endpoints: [ep(4)] }));
    const rec = recorder();
    const src = createKubernetesSource(parseTarget('k8s:///pricer:grpc'), { kubeconfigPath: file, namespaceFile: join(dir, 'none'), logger: rec.logger });
    sources.push(src);
    src.start(rec);
    await waitFor('snapshot', () => rec.snapshots.length > 0);
    assert.deepEqual(addresses(rec.last()), ['10.1.0.5:50051']);
  });

  test('a missing kubeconfig and a malformed target are clear errors', async () => {
    assert.throws(() => parseTarget('k8s:///Pricer.trading:grpc'), /not a valid DNS label/);
    const rec = recorder();
    const src = createKubernetesSource(parseTarget('k8s:///pricer.trading:grpc'), { kubeconfigPath: join(dir, 'missing'), logger: rec.logger });
    sources.push(src);
    src.start(rec);
    await waitFor('error', () => rec.errors.length > 0);
    assert.match(rec.errors[0]!.message, /k8s:\/\/\/pricer\.trading:grpc: kubeconfig .*missing does not exist/);
  });
});
