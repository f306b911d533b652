// End to end against the real kube-apiserver: createClient with a k8s: target, a service-account token, and pods that
// answer calls. The API server refuses loopback pod addresses ("may not be in the loopback range"), so the scenario
// runs in a network namespace made for it: its own loopback device carries pod addresses 10.201.0.1-4 (so no packet
// leaves the namespace), and the API server, its etcd, the pods and the client all run inside
// (support/k8s-e2e-main.ts). Needs root for `ip netns` (CI runs as root).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { childNodeArgs } from '@fairway/testing';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('real kube-apiserver: a k8s: client with a service-account token calls every pod, and a rolling update under load fails no call', { timeout: 300_000 }, () => {
  assert.equal(process.getuid?.(), 0, 'this test makes a network namespace (ip netns): run it as root, as CI does');
  const ns = `fairway-k8s-${process.pid}`;
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  ip('netns', 'add', ns);
  try {
    ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
    for (const i of [1, 2, 3, 4]) ip('netns', 'exec', ns, 'ip', 'addr', 'add', `10.201.0.${i}/32`, 'dev', 'lo');
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, ...childNodeArgs(), join(root, 'test/interop/support/k8s-e2e-main.ts')], {
      cwd: root,
      encoding: 'utf8',
      timeout: 280_000,
      env: { ...process.env, FAIRWAY_ZONE: '' },
    });
    assert.equal(r.status, 0, `the scenario failed (status ${r.status}, signal ${r.signal}):\n${r.stderr.slice(-3000)}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    console.log(`kube-apiserver e2e: ${JSON.stringify(out)}`);
    assert.equal(out['error'], undefined, String(out['error']));
    assert.equal(out['sliceAccepted'], true);
    assert.deepEqual(out['servedBefore'], ['echo-1', 'echo-2', 'echo-3'], 'every ready pod served');
    assert.deepEqual(out['servedAfter'], ['echo-2', 'echo-3', 'echo-4'], 'after the update: the new pod in, the old one out');
    assert.equal(out['failed'], 0, `failed calls: ${JSON.stringify(out['failures'])}`);
  } finally {
    ip('netns', 'del', ns);
  }
});
