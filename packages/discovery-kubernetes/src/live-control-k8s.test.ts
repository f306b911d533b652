// Live control for k8s: targets, against a real kube-apiserver (built by scripts/tools/build-kube-apiserver.sh):
// the live configuration document in a ConfigMap followed through list and watch, validated (a bad document is
// refused naming the field, the last good one stays), its weight overrides applied to the snapshot, deleted =
// none; and canary Pods (label fairway.io/canary=true) marking their endpoints canary, followed live.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTarget } from '@fairway/core';
import { startKubeApiServer, makeEndpointSlice, type KubeApiServer } from '@fairway/testing';
import { createKubernetesSource } from './index.js';
import { recorder, waitFor } from './test-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'fairway-k8s-cm-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('live configuration ConfigMap and canary Pods on a real kube-apiserver', { timeout: 180_000 }, () => {
  let api: KubeApiServer;
  before(async () => {
    api = await startKubeApiServer();
  });
  after(async () => {
    await api?.close();
  });

  test('list, watch, validation, weight overrides, delete', async () => {
    const ns = 'livecfg';
    await api.ensureNamespace(ns);
    await api.applySlice(
      makeEndpointSlice({ name: 'pricer-a', namespace: ns, service: 'pricer', endpoints: [{ ip: '10.1.0.1', pod: 'pricer-1' }, { ip: '10.1.0.2', pod: 'pricer-2' }] }) as never,
    );
    const cm = (doc: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'fairway-config-pricer', namespace: ns }, data: { 'config.json': doc } });
    const created = await api.request('POST', `/api/v1/namespaces/${ns}/configmaps`, cm('{"version":1,"endpoints":{"pricer-1":{"weight":0}}}'));
    assert.equal(created.status, 201, JSON.stringify(created.body));

    const rec = recorder();
    const src = createKubernetesSource(parseTarget(`k8s:///pricer.${ns}:50051`), {
      apiServerUrl: api.url,
      token: api.adminToken,
      caPem: api.caPem,
      namespaceFile: join(dir, 'none'),
      retryInitialMs: 50,
      retryMaxMs: 500,
      logger: rec.logger,
      liveConfig: true,
    });
    src.start(rec);
    try {
      const weightOf = (instance: string) => rec.last()?.endpoints.find((e) => e.instance === instance)?.weight;
      await waitFor('the document applied', () => weightOf('pricer-1') === 0);
      const rev1 = rec.last()!.liveConfig!.revision;
      assert.ok(rev1 > 0, 'the revision is the ConfigMap resourceVersion');
      assert.equal(weightOf('pricer-2'), undefined, 'others unchanged');

      // A bad document: refused naming the field and value, the last good one stays.
      const put = (doc: string) => api.request('PUT', `/api/v1/namespaces/${ns}/configmaps/fairway-config-pricer`, cm(doc));
      assert.equal((await put('{"version":1,"balancer":{"decayMs":-1}}')).status, 200);
      await waitFor('refused', () => rec.logs.some((l) => /balancer\.decayMs: must be a number from 1 to 3600000, got -1/.test(l)));
      assert.ok(rec.logs.some((l) => l.includes(`livecfg/fairway-config-pricer`) && l.includes(`keeping resourceVersion ${rev1}`)), rec.logs.join('\n'));
      assert.equal(rec.last()!.liveConfig!.revision, rev1);

      // A good one: applied, with its balancer settings carried to the channel.
      assert.equal((await put('{"version":1,"endpoints":{"pricer-2":{"weight":3}},"balancer":{"decayMs":2000}}')).status, 200);
      await waitFor('the new document applied', () => weightOf('pricer-2') === 3);
      assert.equal(weightOf('pricer-1'), undefined, 'the old override is gone');
      assert.ok(rec.last()!.liveConfig!.revision > rev1);
      assert.deepEqual(rec.last()!.liveConfig!.config.balancer, { decayMs: 2000 });

      // Deleted: no document.
      assert.equal((await api.request('DELETE', `/api/v1/namespaces/${ns}/configmaps/fairway-config-pricer`)).status, 200);
      await waitFor('the document removed', () => rec.last()?.liveConfig === undefined && weightOf('pricer-2') === undefined);
    } finally {
      await src.close();
    }
  });

  test('canary Pods: endpoints of Pods labelled fairway.io/canary=true are marked canary, live', async () => {
    const ns = 'canarypods';
    await api.ensureNamespace(ns);
    // No controller manager runs here: the namespace's default service account is made by hand for Pod admission.
    await api.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } });
    const pod = (name: string, canary: boolean) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: ns, labels: { app: 'pricer', ...(canary ? { 'fairway.io/canary': 'true' } : {}) } },
      spec: { automountServiceAccountToken: false, containers: [{ name: 'pricer', image: 'pricer:1' }] },
    });
    for (const [name, canary] of [['pricer-1', false], ['pricer-2', true]] as const) {
      const r = await api.request('POST', `/api/v1/namespaces/${ns}/pods`, pod(name, canary));
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    await api.applySlice(
      makeEndpointSlice({ name: 'pricer-a', namespace: ns, service: 'pricer', endpoints: [{ ip: '10.2.0.1', pod: 'pricer-1' }, { ip: '10.2.0.2', pod: 'pricer-2' }] }) as never,
    );
    const rec = recorder();
    const src = createKubernetesSource(parseTarget(`k8s:///pricer.${ns}:50051`), {
      apiServerUrl: api.url,
      token: api.adminToken,
      caPem: api.caPem,
      namespaceFile: join(dir, 'none'),
      retryInitialMs: 50,
      retryMaxMs: 500,
      logger: rec.logger,
      canaryPods: true,
    });
    src.start(rec);
    try {
      const canaries = () => (rec.last()?.endpoints ?? []).filter((e) => e.canary === true).map((e) => e.instance);
      await waitFor('pricer-2 marked canary', () => canaries().join() === 'pricer-2');
      // The label is removed from pricer-2 and put on pricer-1: followed through the watch.
      const patch = async (name: string, labels: Record<string, string>) => {
        const cur = await api.request('GET', `/api/v1/namespaces/${ns}/pods/${name}`);
        const r = await api.request('PUT', `/api/v1/namespaces/${ns}/pods/${name}`, { ...cur.body, metadata: { ...cur.body.metadata, labels } });
        assert.equal(r.status, 200, JSON.stringify(r.body));
      };
      await patch('pricer-2', { app: 'pricer' });
      await patch('pricer-1', { app: 'pricer', 'fairway.io/canary': 'true' });
      await waitFor('pricer-1 is the canary now', () => canaries().join() === 'pricer-1');
    } finally {
      await src.close();
    }
  });
});
