// Deterministic subsetting on loopback: three clients with a fixed place (index of 3) split twelve real servers
// into disjoint windows of four that cover them all; a client whose window is overloaded widens it; bad options
// are refused naming the field.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, type Client } from '@grpc/grpc-js';
import { startEchoBackend, loadEcho, echoUnary, type EchoBackend } from '@fairway/testing';
import { createClient, FairwayOptionsError } from './index.js';

const { EchoClient } = loadEcho();
const backends: EchoBackend[] = [];
const clients: Array<{ close(): void }> = [];
after(() => {
  for (const c of clients) c.close();
  for (const b of backends) b.forceStop();
});

/** One Unary call: the id of the server that answered. */
async function call(client: Client): Promise<string> {
  const r = await echoUnary(client, { message: 'hi' }, { deadlineMs: 10_000 });
  if (!r.ok) throw new Error(`call failed: ${r.code} ${r.details}`);
  return r.reply.server_id;
}

test('three clients, twelve servers, windows of four: disjoint, covering, and each client uses only its own', { timeout: 60_000 }, async () => {
  for (let i = 0; i < 12; i++) backends.push(await startEchoBackend({ id: `s${i}` }));
  const target = `static:///${backends.map((b) => b.address).join(',')}`;
  const used: Array<Set<string>> = [];
  for (let index = 0; index < 3; index++) {
    const client = createClient(EchoClient, target, credentials.createInsecure(), { subset: { size: 4, clientIndex: index, clientCount: 3 } });
    clients.push(client);
    const seen = new Set<string>();
    for (let round = 0; round < 20; round++) for (const id of await Promise.all(Array.from({ length: 8 }, () => call(client)))) seen.add(id);
    used.push(seen);
  }
  for (const s of used) assert.equal(s.size, 4, `a client used ${[...s].join(',')}`);
  const all = used.flatMap((s) => [...s]);
  assert.equal(new Set(all).size, 12, 'the three windows cover every server exactly once');
});

test('an overloaded window grows: 2 members at ~10 calls in flight each widen to more servers', { timeout: 60_000 }, async () => {
  const slow: EchoBackend[] = [];
  for (let i = 0; i < 6; i++) slow.push(await startEchoBackend({ id: `slow${i}`, serviceTimeMs: 30 }));
  backends.push(...slow);
  const client = createClient(EchoClient, `static:///${slow.map((b) => b.address).join(',')}`, credentials.createInsecure(), {
    subset: { size: 2, clientIndex: 0, clientCount: 1 },
  });
  clients.push(client);
  const seenEarly = new Set<string>();
  for (const id of await Promise.all(Array.from({ length: 4 }, () => call(client)))) seenEarly.add(id);
  assert.ok(seenEarly.size <= 2, `window of 2 at first, saw ${[...seenEarly].join(',')}`);
  // Twenty callers for ~3.5 s: 20 in flight over 2 members is 10 per member, far above the band's 2.
  const seen = new Set<string>();
  const stopAt = Date.now() + 3_500;
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      while (Date.now() < stopAt) seen.add(await call(client));
    }),
  );
  assert.ok(seen.size >= 4, `the window should have grown past 2 servers, saw ${[...seen].join(',')}`);
});

test('bad subset options are errors naming the field', () => {
  const t = 'static:///127.0.0.1:1';
  const mk = (subset: unknown) => () => createClient(EchoClient, t, credentials.createInsecure(), { subset } as never);
  assert.throws(mk({ size: 0 }), (e: unknown) => e instanceof FairwayOptionsError && /subset\.size/.test((e as Error).message));
  assert.throws(mk({ size: 4, clientIndex: 3, clientCount: 3 }), /subset\.clientIndex/);
  assert.throws(mk({ size: 4, clientIndex: 1 }), /subset\.clientCount/);
  assert.throws(mk({ sizes: 4 }), /subset\.sizes/);
});
