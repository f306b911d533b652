// Killing the caller zone's servers (separate processes, SIGKILL) spills the calls to the other zone: no call
// fails beyond those in flight at the kill, and every call is accounted for (a reply or a status).
// The two processes die at slightly different moments, and a call failed by the first death may be re-issued
// onto the second server before it dies: so at most `concurrency` failures per killed server, and none for
// calls issued once both are dead.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, status } from '@grpc/grpc-js';
import type { Client } from '@grpc/grpc-js';
import { startBackendProcess, loadEcho, echoUnary } from '@fairway/testing';
import type { BackendProcess, EchoResult } from '@fairway/testing';
import { createClient } from './index.js';

const { EchoClient } = loadEcho();
const procs: BackendProcess[] = [];
let client: Client | undefined;
after(async () => {
  client?.close();
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
});

test('killing the local zone spills to the other zone; every call accounted for', { timeout: 120_000 }, async () => {
  const specs = [
    { id: 'a1', zone: 'zone-a' },
    { id: 'a2', zone: 'zone-a' },
    { id: 'b1', zone: 'zone-b' },
    { id: 'b2', zone: 'zone-b' },
  ];
  procs.push(...(await Promise.all(specs.map((s) => startBackendProcess({ ...s, serviceTimeMs: 20 })))));
  const target = `static:///${procs.map((p) => `${p.address}@${p.zone}`).join(',')}`;
  client = createClient(EchoClient, target, credentials.createInsecure(), { zone: 'zone-a' });
  const c = client;

  const concurrency = 4;
  const issued: Array<{ at: 'before' | 'during' | 'after'; result?: EchoResult }> = [];
  let phase: 'before' | 'during' | 'after' = 'before';
  let stop = false;
  const worker = async () => {
    while (!stop) {
      const rec: { at: 'before' | 'during' | 'after'; result?: EchoResult } = { at: phase };
      issued.push(rec);
      rec.result = await echoUnary(c, {}, { deadlineMs: 10_000 });
    }
  };
  const workers = Promise.all(Array.from({ length: concurrency }, worker));
  // Steady state in zone-a first.
  const deadline = Date.now() + 20_000;
  while (issued.filter((r) => r.result?.ok).length < 100 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const before = issued.filter((r) => r.result?.ok);
  const inZoneBefore = before.filter((r) => r.result!.ok && r.result!.reply.zone === 'zone-a').length;
  assert.ok(inZoneBefore >= before.length * 0.9, `before the kill ${inZoneBefore}/${before.length} in zone-a`);

  phase = 'during';
  const killedProcs = procs.filter((p) => p.zone === 'zone-a');
  await Promise.all(killedProcs.map((p) => p.kill('SIGKILL')));
  phase = 'after';
  const afterKill = Date.now();
  while (issued.filter((r) => r.at === 'after' && r.result).length < 200 && Date.now() - afterKill < 30_000) {
    await new Promise((r) => setTimeout(r, 20));
  }
  stop = true;
  await workers;

  // Every call issued got a reply or a status.
  assert.ok(issued.every((r) => r.result !== undefined));
  const failed = issued.filter((r) => !r.result!.ok);
  const failedAfter = failed.filter((r) => r.at === 'after');
  const bound = concurrency * killedProcs.length;
  assert.ok(failed.length <= bound, `${failed.length} calls failed (bound ${bound}): ${JSON.stringify(failed.map((f) => f.result))}`);
  for (const f of failed) assert.equal((f.result as { code: number }).code, status.UNAVAILABLE);
  assert.equal(failedAfter.length, 0, 'no call issued once the killed servers were dead failed');
  const after = issued.filter((r) => r.at === 'after' && r.result!.ok);
  assert.ok(after.length >= 100, `${after.length} calls after the kill`);
  assert.ok(after.every((r) => r.result!.ok && r.result!.reply.zone === 'zone-b'), 'calls after the kill went to zone-b');
});
