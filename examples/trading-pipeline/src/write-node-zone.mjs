// Init container of the Kubernetes manifests: reads this pod's node (NODE_NAME, from the downward API) from
// the API server with the pod's service account, and writes the node's topology.kubernetes.io/zone label to
// /etc/fairway/zone (or ZONE_FILE), where the app's entrypoint picks it up as FAIRWAY_ZONE. Needs RBAC "get"
// on nodes (k8s/10-rbac.yaml). Plain Node.js, no dependencies.
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';

const SA = '/var/run/secrets/kubernetes.io/serviceaccount';
const node = process.env.NODE_NAME;
const out = process.env.ZONE_FILE ?? '/etc/fairway/zone';
const host = process.env.KUBERNETES_SERVICE_HOST;
const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
if (!node || !host) {
  console.error('write-node-zone: NODE_NAME (downward API spec.nodeName) and KUBERNETES_SERVICE_HOST must be set');
  process.exit(1);
}
const req = request(
  {
    host,
    port,
    path: `/api/v1/nodes/${encodeURIComponent(node)}`,
    ca: readFileSync(`${SA}/ca.crt`),
    headers: { Authorization: `Bearer ${readFileSync(`${SA}/token`, 'utf8').trim()}`, Accept: 'application/json' },
    timeout: 10_000,
  },
  (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d) => (body += d));
    res.on('end', () => {
      if (res.statusCode !== 200) {
        const hint = res.statusCode === 403 ? ' (the service account needs "get" on nodes: see k8s/10-rbac.yaml)' : '';
        console.error(`write-node-zone: GET node ${node} from https://${host}:${port}: HTTP ${res.statusCode}${hint}`);
        process.exit(1);
      }
      const zone = JSON.parse(body)?.metadata?.labels?.['topology.kubernetes.io/zone'] ?? '';
      if (zone === '') console.error(`write-node-zone: node ${node} has no topology.kubernetes.io/zone label; Fairway will balance zone-blind`);
      writeFileSync(out, zone);
      console.log(`write-node-zone: node ${node} is in zone ${JSON.stringify(zone)}`);
    });
  },
);
req.on('timeout', () => req.destroy(new Error('timed out after 10 s')));
req.on('error', (e) => {
  console.error(`write-node-zone: GET node ${node} from https://${host}:${port}: ${e.message}`);
  process.exit(1);
});
req.end();
