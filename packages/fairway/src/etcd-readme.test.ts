// The README's etcd examples, run as they are: examples/readme/etcd-server.ts (serves, registers, and on
// SIGTERM deregisters, then drains) and examples/readme/etcd-client.ts (calls it through etcd:///pricer), as
// child processes pointed at a real etcd through FAIRWAY_ETCD_ENDPOINTS.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { startEtcdForSuite } from '@fairway/testing';
import { childNodeArgs } from '@fairway/testing';

const root = new URL('../../..', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('README etcd examples', { timeout: 120_000 }, () => {
  const etcd = startEtcdForSuite();

  test('README examples: examples/readme/etcd-server.ts and examples/readme/etcd-client.ts', { timeout: 100_000 }, async () => {
    const env = { ...process.env, FAIRWAY_ETCD_ENDPOINTS: etcd.endpointsCsv, FAIRWAY_ZONE: 'zone-a' };
    const node = (file: string): ChildProcess =>
      spawn(process.execPath, [...childNodeArgs(), file], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const server = node('examples/readme/etcd-server.ts');
    let serverOut = '';
    server.stdout!.on('data', (b: Buffer) => (serverOut += b.toString()));
    server.stderr!.on('data', (b: Buffer) => (serverOut += b.toString()));
    const serverExit = new Promise<number | null>((r) => server.once('exit', (code) => r(code)));
    try {
      for (let i = 0; i < 600 && !serverOut.includes('registered'); i++) await sleep(100);
      assert.match(serverOut, /registered pricer\/pricer-1/, serverOut);
      const clientProc = node('examples/readme/etcd-client.ts');
      let clientOut = '';
      clientProc.stdout!.on('data', (b: Buffer) => (clientOut += b.toString()));
      clientProc.stderr!.on('data', (b: Buffer) => (clientOut += b.toString()));
      const code = await new Promise<number | null>((r) => clientProc.once('exit', (c) => r(c)));
      assert.equal(code, 0, clientOut);
      assert.match(clientOut, /answered by pricer-1/);
      // SIGTERM: deregister first, then drain, then the process ends.
      server.kill('SIGTERM');
      const exitCode = await Promise.race([serverExit, sleep(15_000).then(() => 'timeout' as const)]);
      assert.notEqual(exitCode, 'timeout', serverOut);
      assert.equal((await etcd.etcdctl(['get', 'pricer/pricer-1', '--print-value-only'])).trim(), '');
    } finally {
      server.kill('SIGKILL');
    }
  });
});
