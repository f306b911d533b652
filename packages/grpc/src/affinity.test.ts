// Affinity by key with bounded load, on loopback: real grpc-js servers, a scripted discovery source with instance
// names, and createClient with `affinity: { header }`. A key always reaches the same instance, also across a
// rolling restart (a new incarnation on a new address gets its keys back); a hot key is spread once its owner is
// at the load bound; calls without the header are balanced as usual; a bad option is refused, naming it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, Metadata, type Client } from '@grpc/grpc-js';
import { startEchoBackend, loadEcho, createScriptedDiscovery, echoUnary, type EchoBackend } from '@fairway/testing';
import { createClient, registerDiscoveryScheme, FairwayOptionsError } from './index.js';

const { EchoClient } = loadEcho();
const backends: EchoBackend[] = [];
const clients: Array<{ close(): void }> = [];
after(() => {
  for (const c of clients) c.close();
  for (const b of backends) b.forceStop();
});

/** One Unary call (with the affinity header when `user` is given): the id of the server that answered. */
async function call(client: Client, user: string | undefined): Promise<string> {
  const md = new Metadata();
  if (user !== undefined) md.set('x-user-id', user);
  const r = await echoUnary(client, { message: 'hi' }, { metadata: md, deadlineMs: 5_000 });
  if (!r.ok) throw new Error(`call failed: ${r.code} ${r.details}`);
  return r.reply.server_id;
}

test('a key sticks to its instance, through a rolling restart, and a hot key is spread at the bound', { timeout: 60_000 }, async () => {
  const start = async (instance: string, serviceTimeMs = 0) => {
    const b = await startEchoBackend({ id: instance, serviceTimeMs });
    backends.push(b);
    return b;
  };
  const live = new Map<string, { backend: EchoBackend; incarnation: string }>();
  for (let i = 0; i < 4; i++) live.set(`pricer-${i}`, { backend: await start(`pricer-${i}`), incarnation: '1' });
  const discovery = createScriptedDiscovery();
  registerDiscoveryScheme('affinity-test', discovery.factory);
  const push = () =>
    discovery.push([...live].map(([instance, { backend, incarnation }]) => ({ address: backend.address, instance, incarnation })));
  push();
  const client = createClient(EchoClient, 'affinity-test:///echo', credentials.createInsecure(), { affinity: { header: 'x-user-id' } });
  clients.push(client);

  const users = Array.from({ length: 40 }, (_, i) => `player-${i}`);
  const owner = new Map<string, string>();
  for (const u of users) owner.set(u, await call(client, u));
  for (let round = 0; round < 3; round++) for (const u of users) assert.equal(await call(client, u), owner.get(u), `${u} moved`);
  assert.ok(new Set(owner.values()).size >= 3, `40 keys over 4 instances used ${new Set(owner.values()).size}`);

  // Rolling restart of pricer-1: a new process (its reply id says so) on a new address, a newer incarnation.
  const victim = live.get('pricer-1')!;
  const replacement = await startEchoBackend({ id: 'pricer-1-restarted' });
  backends.push(replacement);
  live.set('pricer-1', { backend: replacement, incarnation: '2' });
  push();
  victim.backend.forceStop();
  for (let i = 0; i < 200; i++) {
    try {
      if ((await call(client, [...owner].find(([, s]) => s === 'pricer-1')![0])) === 'pricer-1-restarted') break;
    } catch {
      /* the old connection is going away */
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  for (const u of users) {
    const expected = owner.get(u) === 'pricer-1' ? 'pricer-1-restarted' : owner.get(u);
    assert.equal(await call(client, u), expected, `${u} after the restart`);
  }

  // Calls without the header: ordinary p2c over all four.
  const seen = new Set<string>();
  for (let i = 0; i < 60; i++) seen.add(await call(client, undefined));
  assert.ok(seen.size >= 3, `calls without a key used ${[...seen].join(',')}`);
});

test('a hot key is spread once its owner holds more than (1 + epsilon) x the mean in flight', { timeout: 60_000 }, async () => {
  const discovery = createScriptedDiscovery();
  registerDiscoveryScheme('affinity-hot', discovery.factory);
  const slow = await Promise.all([0, 1, 2, 3].map((i) => startEchoBackend({ id: `slow-${i}`, serviceTimeMs: 200 })));
  backends.push(...slow);
  discovery.push(slow.map((b, i) => ({ address: b.address, instance: `slow-${i}` })));
  const client = createClient(EchoClient, 'affinity-hot:///echo', credentials.createInsecure(), { affinity: { header: 'x-user-id', epsilon: 0.25 } });
  clients.push(client);
  await Promise.all([0, 1, 2, 3].map(() => call(client, undefined))); // connect every endpoint
  const servedBy = await Promise.all(Array.from({ length: 40 }, () => call(client, 'whale')));
  const counts = new Map<string, number>();
  for (const s of servedBy) counts.set(s, (counts.get(s) ?? 0) + 1);
  const max = Math.max(...counts.values());
  // 40 calls in flight at once: the bound is floor(1.25 x 40 / 4) = 12 per endpoint at the last pick.
  assert.ok(max <= 13, `one endpoint took ${max} of 40 concurrent calls of one key: ${JSON.stringify([...counts])}`);
  assert.ok(counts.size >= 4, `the overflow walks on around the ring: ${JSON.stringify([...counts])}`);
});

test('a bad affinity option is an error naming it', () => {
  assert.throws(() => createClient(EchoClient, 'static:///127.0.0.1:1', credentials.createInsecure(), { affinity: { header: 'X-User' } }), (e: unknown) => e instanceof FairwayOptionsError && /affinity\.header/.test((e as Error).message));
  assert.throws(() => createClient(EchoClient, 'static:///127.0.0.1:1', credentials.createInsecure(), { affinity: { header: 'x-user', epsilon: 0 } as never }), /affinity\.epsilon/);
  assert.throws(() => createClient(EchoClient, 'static:///127.0.0.1:1', credentials.createInsecure(), { affinity: { epsilon: 1 } as never }), /affinity\.header: is required/);
});
