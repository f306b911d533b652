// The Kubernetes manifests in examples/trading-pipeline/k8s/: every object validates against the Kubernetes
// JSON schemas (kubernetes-models 4.5.1), has no field the API does not know (checked against the models of
// @kubernetes/client-node, since the schemas allow unknown fields), and the pieces fit together: Deployments
// spread over zones, Services select them on a port named grpc, the service account may get/list/watch
// EndpointSlices, and every pod learns its zone (FAIRWAY_ZONE) from its node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import * as k8s from '@kubernetes/client-node';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';

const DIR = fileURLToPath(new URL('../k8s/', import.meta.url));

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: unknown };

function load(): { file: string; obj: Obj }[] {
  const out: { file: string; obj: Obj }[] = [];
  for (const file of readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const doc of yaml.loadAll(readFileSync(join(DIR, file), 'utf8'))) {
      if (doc) out.push({ file, obj: doc as Obj });
    }
  }
  return out;
}

const MODELS: Record<string, { model: new (d: never) => { validate(): void }; type: string }> = {
  'v1/Namespace': { model: Namespace as never, type: 'V1Namespace' },
  'v1/Service': { model: Service as never, type: 'V1Service' },
  'v1/ServiceAccount': { model: ServiceAccount as never, type: 'V1ServiceAccount' },
  'apps/v1/Deployment': { model: Deployment as never, type: 'V1Deployment' },
  'rbac.authorization.k8s.io/v1/Role': { model: Role as never, type: 'V1Role' },
  'rbac.authorization.k8s.io/v1/RoleBinding': { model: RoleBinding as never, type: 'V1RoleBinding' },
  'rbac.authorization.k8s.io/v1/ClusterRole': { model: ClusterRole as never, type: 'V1ClusterRole' },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': { model: ClusterRoleBinding as never, type: 'V1ClusterRoleBinding' },
};

/** Paths of fields that the API's model of `type` does not have (the JSON schemas let them through). */
function unknownFields(value: unknown, type: string, path: string): string[] {
  const array = /^Array<(.+)>$/.exec(type);
  if (array) return Array.isArray(value) ? value.flatMap((v, i) => unknownFields(v, array[1]!, `${path}[${i}]`)) : [];
  const cls = (k8s as unknown as Record<string, { getAttributeTypeMap?: () => { baseName: string; type: string }[] }>)[type];
  if (!cls?.getAttributeTypeMap || value === null || typeof value !== 'object') return [];
  const attrs = cls.getAttributeTypeMap();
  const out: string[] = [];
  for (const [key, v] of Object.entries(value)) {
    const attr = attrs.find((a) => a.baseName === key);
    if (!attr) out.push(`${path}.${key}`);
    else out.push(...unknownFields(v, attr.type, `${path}.${key}`));
  }
  return out;
}

test('every manifest validates against the Kubernetes schemas and has no unknown field', () => {
  const docs = load();
  assert.ok(docs.length >= 12, `expected the namespace, RBAC, 4 Deployments and 3 Services, found ${docs.length} objects`);
  for (const { file, obj } of docs) {
    const key = `${obj.apiVersion}/${obj.kind}`;
    const m = MODELS[key];
    assert.ok(m, `${file}: no validator for ${key}`);
    assert.doesNotThrow(() => new m.model(obj as never).validate(), `${file}: ${obj.kind} ${obj.metadata?.name}`);
    assert.deepEqual(unknownFields(obj, m.type, `${file}:${obj.kind}/${obj.metadata.name}`), []);
  }
});

test('the validators do catch mistakes (so the test above can fail)', () => {
  const dep = load().find((d) => d.obj.kind === 'Deployment')!.obj;
  const bad = structuredClone(dep) as unknown as { spec: { replicas: unknown; template: { spec: Record<string, unknown> } } };
  bad.spec.replicas = 'six';
  assert.throws(() => new Deployment(bad as never).validate(), /replicas must be integer/);
  const typo = structuredClone(dep) as unknown as { spec: { template: { spec: Record<string, unknown> } } };
  typo.spec.template.spec.topologySpreadConstraint = [];
  assert.doesNotThrow(() => new Deployment(typo as never).validate()); // the schemas allow unknown fields...
  assert.deepEqual(unknownFields(typo, 'V1Deployment', 'd'), ['d.spec.template.spec.topologySpreadConstraint']); // ...this check does not
});

test('the pieces fit: zones, services, RBAC, the zone of each pod', () => {
  const docs = load().map((d) => d.obj);
  const deployments = docs.filter((d) => d.kind === 'Deployment') as unknown as k8s.V1Deployment[];
  const services = docs.filter((d) => d.kind === 'Service') as unknown as k8s.V1Service[];
  assert.deepEqual(deployments.map((d) => [d.metadata!.name, d.spec!.replicas]).sort(), [
    ['price-feed', 1],
    ['pricer', 6],
    ['publisher', 3],
    ['quote-driver', 3],
  ]);
  for (const d of deployments) {
    const name = d.metadata!.name!;
    const pod = d.spec!.template.spec!;
    const labels = d.spec!.template.metadata!.labels!;
    for (const [k, v] of Object.entries(d.spec!.selector.matchLabels!)) assert.equal(labels[k], v, `${name}: selector matches the pod labels`);
    assert.equal(pod.serviceAccountName, 'trading-pipeline', `${name} runs as the service account with the RBAC`);
    if (d.spec!.replicas! > 1) {
      const zone = pod.topologySpreadConstraints?.find((c) => c.topologyKey === 'topology.kubernetes.io/zone');
      assert.ok(zone, `${name} spreads over zones`);
      assert.equal(zone.maxSkew, 1);
      assert.equal(zone.whenUnsatisfiable, 'DoNotSchedule');
      for (const [k, v] of Object.entries(zone.labelSelector!.matchLabels!)) assert.equal(labels[k], v, `${name}: spread selector matches its pods`);
    }
    // The zone: the init container writes the node's zone label to a shared volume, the app exports it.
    const init = pod.initContainers?.find((c) => c.name === 'zone');
    assert.ok(init, `${name} has the zone init container`);
    assert.ok(init.command!.join(' ').includes('write-node-zone.mjs'));
    assert.equal(init.env?.find((e) => e.name === 'NODE_NAME')?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName');
    const app = pod.containers[0]!;
    assert.match(app.args!.join(' '), /export FAIRWAY_ZONE="\$\(cat \/etc\/fairway\/zone/);
    assert.equal(init.volumeMounts![0]!.mountPath, '/etc/fairway');
    assert.ok(app.volumeMounts!.some((v) => v.mountPath === '/etc/fairway' && v.name === init.volumeMounts![0]!.name));
    assert.equal(app.env?.find((e) => e.name === 'DEMO_DISCOVERY')?.value, 'k8s');
    assert.equal(app.env?.find((e) => e.name === 'DEMO_INSTANCE')?.valueFrom?.fieldRef?.fieldPath, 'metadata.name');
  }
  // Each called service selects its Deployment's pods on a port named grpc (what k8s:///<svc>:grpc names).
  for (const svcName of ['pricer', 'publisher', 'price-feed']) {
    const svc = services.find((s) => s.metadata!.name === svcName);
    assert.ok(svc, `Service ${svcName}`);
    assert.equal(svc.spec!.ports![0]!.name, 'grpc');
    const target = deployments.find((d) => Object.entries(svc.spec!.selector!).every(([k, v]) => d.spec!.template.metadata!.labels![k] === v));
    assert.ok(target, `Service ${svcName} selects a Deployment`);
    assert.ok(target.spec!.template.spec!.containers[0]!.ports!.some((p) => p.name === 'grpc'), `${svcName}'s pods name their port grpc`);
  }
  // RBAC: the service account may get/list/watch EndpointSlices in the namespace.
  const role = docs.find((d) => d.kind === 'Role') as unknown as k8s.V1Role;
  const rule = role.rules!.find((r) => r.apiGroups!.includes('discovery.k8s.io') && r.resources!.includes('endpointslices'));
  assert.deepEqual([...rule!.verbs].sort(), ['get', 'list', 'watch']);
  const binding = docs.find((d) => d.kind === 'RoleBinding') as unknown as k8s.V1RoleBinding;
  assert.equal(binding.roleRef.name, role.metadata!.name);
  assert.deepEqual(binding.subjects!.map((s) => [s.kind, s.name, s.namespace]), [['ServiceAccount', 'trading-pipeline', 'trading']]);
  const nodeRole = docs.find((d) => d.kind === 'ClusterRole') as unknown as k8s.V1ClusterRole;
  assert.deepEqual(nodeRole.rules!.map((r) => [r.resources, r.verbs]), [[['nodes'], ['get']]]);
});
