// The harness pieces that stand for "a port": none is chosen by probing (issue 14 item 2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import { startEtcd } from './etcd-harness.js';
import { startRefusingEndpoint } from './refusing-endpoint.js';

function connectOutcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    s.once('close', () => resolve('closed'));
    s.once('data', () => resolve('data'));
  });
}

test('a refusing endpoint holds its port (port 0) and resets every connection until closed', async () => {
  const dead = await startRefusingEndpoint();
  assert.match(dead.address, /^127\.0\.0\.1:\d+$/);
  assert.equal(dead.address, `127.0.0.1:${dead.port}`);
  assert.equal(await connectOutcome(dead.port), 'ECONNRESET');
  assert.equal(await connectOutcome(dead.port), 'ECONNRESET');
  assert.equal(dead.connectionsRefused, 2);
  await dead.close();
  assert.equal(await connectOutcome(dead.port), 'ECONNREFUSED');
});

test('etcd whose port is taken starts again on other ports', { timeout: 60_000 }, async () => {
  // Another listener holds the first client port handed to etcd: etcd exits with "address already in use",
  // the harness picks a fresh set and the cluster comes up there.
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', () => resolve()));
  const taken = (squatter.address() as { port: number }).port;
  const handedOut: number[][] = [];
  const etcd = await startEtcd({
    portPicker: (count) => {
      const real = (): number[] => {
        const out = new Set<number>();
        while (out.size < count) out.add(20_000 + Math.floor(Math.random() * 10_000));
        return [...out];
      };
      const ports = handedOut.length === 0 ? [taken, ...real().slice(1)] : real();
      handedOut.push(ports);
      return ports;
    },
  });
  try {
    assert.ok(handedOut.length >= 2, `asked for ports ${handedOut.length} time(s)`);
    assert.equal(handedOut[0]![0], taken);
    assert.notEqual(etcd.members[0]!.clientPort, taken);
    assert.deepEqual(etcd.endpoints, [`127.0.0.1:${etcd.members[0]!.clientPort}`]);
    await etcd.etcdctl(['put', 'k', 'v']);
    assert.match(await etcd.etcdctl(['get', 'k']), /v/);
  } finally {
    await etcd.close();
    squatter.close();
  }
});
