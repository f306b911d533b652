// Killing the caller zone's servers (separate processes, SIGKILL) spills the calls to the other zone: no call
// fails beyond those in flight on the killed connections, and every call is accounted for (a reply or a status).
// "In flight" is judged where the client stands (support/seen-down.ts): a call picked onto a killed connection
// before the client saw it close can fail (a killed peer sends no GOAWAY); no call picked after the client saw the
// close fails. (An earlier version cut at the moment the test saw the processes exit, which can come a moment
// before the client's sockets report the close: a call picked in that gap failed it now and then.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, status } from '@grpc/grpc-js';
import { startBackendProcess, loadEcho, echoUnary } from '@fairway/testing';
import type { EchoResult } from '@fairway/testing';
import { createClient } from 'fairway-grpc';
import { recordFailedPicks, watchDown, failuresAfterSeenDown, type FailedPick } from './support/seen-down.js';
import { stopProcessesAfterTests } from './support/under-load.js';

const { EchoClient } = loadEcho();
const started = stopProcessesAfterTests();
const procs = started.procs;

test('killing the local zone spills to the other zone; every call accounted for', { timeout: 120_000 }, async () => {
  const specs = [
    { id: 'a1', zone: 'zone-a' },
    { id: 'a2', zone: 'zone-a' },
    { id: 'b1', zone: 'zone-b' },
    { id: 'b2', zone: 'zone-b' },
  ];
  procs.push(...(await Promise.all(specs.map((s) => startBackendProcess({ ...s, serviceTimeMs: 20 })))));
  const target = `static:///${procs.map((p) => `${p.address}@${p.zone}`).join(',')}`;
  const failedPicks: FailedPick[] = [];
  started.client = createClient(EchoClient, target, credentials.createInsecure(), { zone: 'zone-a', observers: [recordFailedPicks(failedPicks)] });
  const c = started.client;

  const concurrency = 4;
  const issued: Array<{ at: 'before' | 'after'; result?: EchoResult }> = [];
  let phase: 'before' | 'after' = 'before';
  let stop = false;
  const worker = async () => {
    while (!stop) {
      const rec: { at: 'before' | 'after'; result?: EchoResult } = { at: phase };
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

  const killedProcs = procs.filter((p) => p.zone === 'zone-a');
  const killed = killedProcs.map((p) => p.address);
  const sawDownAt = new Map<string, number>();
  const seen = watchDown(c, killed, sawDownAt);
  await Promise.all(killedProcs.map((p) => p.kill('SIGKILL')));
  await seen;
  assert.equal(sawDownAt.size, killed.length, 'the client saw both killed connections close');
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
  // The two processes die at slightly different moments, and a call failed by the first death may be re-issued
  // onto the second before it dies: so at most `concurrency` failures per killed server.
  const bound = concurrency * killedProcs.length;
  assert.ok(failed.length <= bound, `${failed.length} calls failed (bound ${bound}): ${JSON.stringify(failed.map((f) => f.result))}`);
  for (const f of failed) assert.equal((f.result as { code: number }).code, status.UNAVAILABLE);
  assert.equal(failedPicks.length, failed.length, 'the observer saw every failed call');
  for (const f of failedPicks) assert.ok(killed.includes(f.instance), `a call failed on ${f.instance}, which was not killed: ${f.status}`);
  assert.deepEqual(failuresAfterSeenDown(failedPicks, sawDownAt), [], 'no call picked after the client saw a killed connection close failed');
  assert.equal(issued.filter((r) => r.at === 'after' && !r.result!.ok).length, 0, 'no call issued once the client saw both closes failed');
  const afterOk = issued.filter((r) => r.at === 'after' && r.result!.ok);
  assert.ok(afterOk.length >= 100, `${afterOk.length} calls after the kill`);
  assert.ok(afterOk.every((r) => r.result!.ok && r.result!.reply.zone === 'zone-b'), 'calls after the kill went to zone-b');
});
