// The echo backend serves through a pod: finite slots queue, a full queue answers RESOURCE_EXHAUSTED, a
// cancelled call frees its slot, and a backend process reports its pod's figures and takes a capacity cut.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, status, type Client } from '@grpc/grpc-js';
import { startEchoBackend, type EchoBackend } from './echo-backend.js';
import { startBackendProcess } from './backend-process.js';
import { loadEcho } from './echo-proto.js';
import { echoUnary } from './echo-calls.js';

const { EchoClient } = loadEcho();
const backends: EchoBackend[] = [];
const clients: Client[] = [];
after(() => {
  for (const c of clients) c.close();
  for (const b of backends) b.forceStop();
});
async function start(options: Parameters<typeof startEchoBackend>[0]): Promise<{ backend: EchoBackend; client: Client }> {
  const backend = await startEchoBackend(options);
  backends.push(backend);
  const client = new EchoClient(backend.address, credentials.createInsecure());
  clients.push(client);
  return { backend, client };
}

test('calls beyond the slots queue, and one beyond the queue bound is answered RESOURCE_EXHAUSTED', async () => {
  const { backend, client } = await start({ id: 'small', capacity: { slots: 1, serviceTime: { kind: 'fixed', ms: 2000 }, queueBound: 1 } });
  const until = async (what: string, ok: () => boolean) => {
    for (let i = 0; i < 2000 && !ok(); i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(ok(), what);
  };
  // One call in its slot, one waiting (each checked before the next is sent, so timing does not matter) ...
  const first = echoUnary(client, { message: 'm1' }, { deadlineMs: 60_000 });
  await until('the first call got the slot', () => backend.pod.stats().inService === 1);
  const second = echoUnary(client, { message: 'm2' }, { deadlineMs: 60_000 });
  await until('the second call waits', () => backend.pod.stats().queueLength === 1);
  // ... so the third finds the queue full.
  const refused = await echoUnary(client, { message: 'm3' }, { deadlineMs: 60_000 });
  assert.ok(!refused.ok && refused.code === status.RESOURCE_EXHAUSTED, JSON.stringify(refused));
  assert.match(!refused.ok ? refused.details : '', /small: pod overloaded: 1 calls already waiting/);
  assert.ok((await first).ok);
  assert.ok((await second).ok);
  const s = backend.pod.stats();
  assert.equal(s.served, 2);
  assert.equal(s.rejected, 1);
  assert.ok(s.queueDelayMs.max > 0, 'the second call waited for the first');
});

test('a cancelled call frees its slot at once', async () => {
  const { backend, client } = await start({ id: 'long', capacity: { slots: 1, serviceTime: { kind: 'fixed', ms: 600_000 } } });
  const r = await echoUnary(client, { message: 'slow' }, { deadlineMs: 300 });
  assert.ok(!r.ok && r.code === status.DEADLINE_EXCEEDED);
  for (let i = 0; i < 200 && backend.pod.stats().inService > 0; i++) await new Promise((res) => setTimeout(res, 10));
  assert.equal(backend.pod.stats().inService, 0, 'the deadline freed the slot');
  assert.equal(backend.pod.stats().aborted, 1);
  backend.setServiceTime(1);
  const next = await echoUnary(client, { message: 'next' }, { deadlineMs: 20_000 });
  assert.ok(next.ok, JSON.stringify(next));
  assert.equal(backend.counts.cancelled, 1);
});

test('serviceTimeMs and capacity together are refused', async () => {
  await assert.rejects(
    startEchoBackend({ serviceTimeMs: 5, capacity: { slots: 1, serviceTime: { kind: 'fixed', ms: 5 } } }),
    /either capacity \(a pod\) or serviceTimeMs\/jitterMs/,
  );
  await assert.rejects(startEchoBackend({ capacity: { slots: 0, serviceTime: { kind: 'fixed', ms: 5 } } }), /slots must be an integer >= 1/);
});

test('a backend process reports its pod figures and takes a capacity cut over IPC', async () => {
  const proc = await startBackendProcess({ id: 'proc', capacity: { slots: 2, serviceTime: { kind: 'fixed', ms: 5 } } });
  try {
    const client = new EchoClient(proc.address, credentials.createInsecure());
    clients.push(client);
    assert.ok((await echoUnary(client, { message: 'x' }, { deadlineMs: 20_000 })).ok);
    const before = await proc.podStats();
    assert.equal(before.served, 1);
    assert.equal(before.capacityPerSec, 400);
    await proc.setCapacityFactor(0.25);
    const after = await proc.podStats();
    assert.equal(after.capacityFactor, 0.25);
    assert.equal(after.capacityPerSec, 100);
    await assert.rejects(proc.setCapacityFactor(2), /capacity factor must be a number with 0 < factor <= 1, got 2/);
  } finally {
    await proc.close();
  }
});
