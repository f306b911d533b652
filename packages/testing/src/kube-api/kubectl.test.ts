// A stock kubectl lists and watches EndpointSlices through the stand-in: the check that the stand-in speaks the
// real wire protocol (discovery, TLS, bearer token, list, chunked watch). kubectl comes from the system
// (scripts/setup-test-deps.sh installs Debian's kubernetes-client when none is on PATH).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKubeApiStandIn, makeEndpointSlice, type KubeApiStandIn } from './server.js';

const dir = mkdtempSync(join(tmpdir(), 'fairway-kubectl-'));
const env = { ...process.env, HOME: dir, KUBECONFIG: join(dir, 'none') };

function kubectl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('kubectl', args, { env, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('kubectl against the Kubernetes API stand-in', { timeout: 60_000 }, () => {
  let api: KubeApiStandIn;
  let flags: string[];
  before(async () => {
    api = await startKubeApiStandIn({ bookmarkIntervalMs: 500 });
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, api.caPem);
    flags = ['--server', api.url, '--token', api.token, '--certificate-authority', ca, '--cache-dir', join(dir, 'cache'), '-n', 'trading'];
    api.applySlice(makeEndpointSlice({ name: 'pricer-a', namespace: 'trading', service: 'pricer', endpoints: [{ ip: '10.0.0.1', pod: 'pricer-1', zone: 'zone-a' }] }));
    api.applySlice(makeEndpointSlice({ name: 'pricer-b', namespace: 'trading', service: 'pricer', endpoints: [{ ip: '10.0.0.2', pod: 'pricer-2', zone: 'zone-b' }] }));
    api.applySlice(makeEndpointSlice({ name: 'other-a', namespace: 'trading', service: 'other', endpoints: [{ ip: '10.0.0.9' }] }));
  });
  after(async () => {
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('kubectl get endpointslices -l ... -o json lists the Service slices', async () => {
    const r = await kubectl([...flags, 'get', 'endpointslices', '-l', 'kubernetes.io/service-name=pricer', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const list = JSON.parse(r.stdout);
    assert.deepEqual(list.items.map((i: any) => i.metadata.name), ['pricer-a', 'pricer-b']);
    assert.equal(list.items[0].kind, 'EndpointSlice');
    assert.equal(list.items[1].endpoints[0].zone, 'zone-b');
    assert.ok(api.requests.some((q) => q.path === '/apis/discovery.k8s.io/v1/namespaces/trading/endpointslices' && q.status === 200));
  });

  test('kubectl with a wrong token is refused with 401', async () => {
    const bad = flags.map((f) => (f === api.token ? 'not-the-token' : f));
    const r = await kubectl([...bad, 'get', 'endpointslices']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Unauthorized|provide credentials|logged in/i);
  });

  test('kubectl get --watch sees MODIFIED and DELETED events as they happen', async () => {
    const child = spawn(
      'kubectl',
      [...flags, 'get', 'endpointslices', '-l', 'kubernetes.io/service-name=pricer', '--watch', '--output-watch-events', '-o', 'custom-columns=EVENT:.type,NAME:.object.metadata.name,ADDR:.object.endpoints[*].addresses[0]'],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    const rows = () => out.split('\n').map((l) => l.trim().split(/\s+/)).filter((r) => r.length === 3 && r[0] !== 'EVENT');
    const until = async (what: string, check: () => boolean) => {
      const deadline = Date.now() + 20_000;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`kubectl: timed out waiting for ${what}; stdout:\n${out}\nstderr:\n${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      await until('the initial list', () => rows().length >= 2);
      await until('kubectl watching', () => api.openWatches > 0);
      api.applySlice(makeEndpointSlice({ name: 'pricer-a', namespace: 'trading', service: 'pricer', endpoints: [{ ip: '10.0.0.3', pod: 'pricer-3' }] }));
      api.deleteSlice('trading', 'pricer-b');
      await until('two events', () => rows().length >= 4);
      assert.deepEqual(rows(), [
        ['ADDED', 'pricer-a', '10.0.0.1'],
        ['ADDED', 'pricer-b', '10.0.0.2'],
        ['MODIFIED', 'pricer-a', '10.0.0.3'],
        ['DELETED', 'pricer-b', '10.0.0.2'],
      ]);
      const w = api.requests.find((q) => q.watch);
      assert.ok(w, 'kubectl opened a watch');
      assert.match(w.query.resourceVersion ?? '', /^\d+$/, 'kubectl watched from the list resourceVersion');
    } finally {
      child.kill('SIGTERM');
    }
  });
});
