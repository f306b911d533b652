// End to end: deterministic subsetting with the etcd peer registry. Three clients of one service (each with
// `discovery.etcd.peerRegistry` and `subset: { size: 3 }`) learn their places from etcd and split nine registered
// servers into three disjoint windows that cover them all; when one client closes, the other two re-divide the
// servers between them.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, type Client } from '@grpc/grpc-js';
import { startEtcdForSuite, startEchoBackend, loadEcho, echoUnary, type EchoBackend } from '@fairway/testing';
import { createClient, registerInEtcd } from './index.js';

const quiet = { info() {}, warn() {}, error() {} };
const backends: EchoBackend[] = [];
const clients: Client[] = [];
const registrations: Array<{ deregister(): Promise<void> }> = [];
after(async () => {
  for (const c of clients) c.close();
  await Promise.allSettled(registrations.map((r) => r.deregister()));
  for (const b of backends) b.forceStop();
});
const etcd = startEtcdForSuite();

test('three clients with the etcd peer registry split nine servers into disjoint windows of three; two re-divide them', { timeout: 90_000 }, async () => {
  for (let i = 0; i < 9; i++) {
    const b = await startEchoBackend({ id: `s${i}` });
    backends.push(b);
    registrations.push(await registerInEtcd({ service: 'ledger', address: b.address, instance: `s${i}`, endpoints: etcd.endpoints, logger: quiet }));
  }
  const { EchoClient } = loadEcho();
  const make = () => {
    const c = createClient(EchoClient, 'etcd:///ledger', credentials.createInsecure(), {
      subset: { size: 3 },
      discovery: { etcd: { endpoints: etcd.endpoints, peerRegistry: true, maxBackoffMs: 500, logger: quiet } },
    });
    clients.push(c);
    return c;
  };
  const trio = [make(), make(), make()];
  /** The servers a client uses once its window has settled (the same set over two rounds of 30 calls). */
  const settledWindow = async (c: Client, size: number): Promise<string[]> => {
    let previous = '';
    for (let attempt = 0; attempt < 100; attempt++) {
      const seen = new Set<string>();
      for (let round = 0; round < 5; round++) {
        for (const r of await Promise.all(Array.from({ length: 6 }, () => echoUnary(c, { message: 'x' }, { deadlineMs: 5_000 })))) {
          if (r.ok) seen.add(r.reply.server_id);
        }
      }
      const now = [...seen].sort().join(',');
      if (seen.size === size && now === previous) return [...seen].sort();
      previous = now;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no settled window of ${size}; last ${previous}`);
  };
  const windows = await Promise.all(trio.map((c) => settledWindow(c, 3)));
  assert.equal(new Set(windows.flat()).size, 9, `windows ${JSON.stringify(windows)} cover the nine servers once`);

  trio[0]!.close();
  const pair = await Promise.all(trio.slice(1).map((c) => settledWindow(c, 3)));
  assert.equal(new Set(pair.flat()).size, 6, `two clients, windows of three, disjoint: ${JSON.stringify(pair)}`);
});
