// The umbrella wires every scheme, idempotently, and only when asked (no import side effects).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { credentials } from '@grpc/grpc-js';
import { registerAll, isDiscoverySchemeRegistered, createChannel, checkTarget } from './index.js';

test('registerAll() registers static, etcd and k8s, and can be called again', () => {
  registerAll();
  registerAll();
  for (const scheme of ['static', 'etcd', 'k8s']) assert.ok(isDiscoverySchemeRegistered(scheme), scheme);
  assert.equal(checkTarget('etcd:///pricer').path, 'pricer');
  assert.equal(checkTarget('k8s:///pricer.trading:grpc').scheme, 'k8s');
  createChannel('static:///127.0.0.1:1', credentials.createInsecure()).close();
});

test('importing fairway registers nothing by itself', { timeout: 60_000 }, () => {
  const code = `
    const grpc = await import('@grpc/grpc-js');
    await import('fairway-grpc');
    console.log(JSON.stringify(grpc.experimental.isLoadBalancerNameRegistered('fairway_p2c_peak_ewma')));`;
  const r = spawnSync(process.execPath, ['--conditions=fairway:source', '--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: new URL('../../..', import.meta.url).pathname,
    encoding: 'utf8',
    timeout: 55_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').pop(), 'false');
});
