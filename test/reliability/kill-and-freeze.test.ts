// Random `kill -9` of backend processes under load, and a backend frozen with SIGSTOP, through createClient
// with timeout-only retries. A call ledger accounts for every call (a reply, or a status with details; none
// hanging), and each kill is reported: calls in flight at the kill against calls that failed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, status } from '@grpc/grpc-js';
import { startBackendProcess, loadEcho, createScriptedDiscovery, createSeededRandom } from '@fairway/testing';
import type { BackendProcess } from '@fairway/testing';
import type { CallObserverFactory } from '@fairway/core';
import { createClient, registerDiscoveryScheme } from '@fairway/grpc';
import { sleep, startEchoLoad, stopProcessesAfterTests } from './support/under-load.js';

const { EchoClient } = loadEcho();
const started = stopProcessesAfterTests();
const procs = started.procs;
// Keeps the attempts of every call that did not end OK, to explain a failure.
const failedCalls: string[] = [];
const failedCallRecorder: CallObserverFactory = {
  onCallStart() {
    const attempts: string[] = [];
    const t0 = Date.now();
    return {
      onAttemptStart(n) {
        let where = '';
        return {
          onPick: (p) => void (where = p.address),
          outgoingHeaders: () => ({}),
          onEnd: (o) => void attempts.push(`#${n}@${where} +${Date.now() - t0}ms code ${o.code} timedOut=${o.timedOut} ${o.details} ${o.retryReason ?? ''}${o.retryRefusedReason ?? ''}`),
        };
      },
      onEnd: (st) => {
        if (st.code !== 0) failedCalls.push(`at ${new Date().toISOString()} code ${st.code}: ${attempts.join(' | ')}`);
      },
    };
  },
};

test('kill -9 of random backends and a SIGSTOP freeze under load: every call accounted for; a kill costs at most the calls in flight', { timeout: 240_000 }, async () => {
  const random = createSeededRandom('kill-and-freeze');
  const discovery = createScriptedDiscovery();
  registerDiscoveryScheme('rel-kill', discovery.factory);
  let seq = 0;
  const spawnOne = async () => {
    const p = await startBackendProcess({ id: `k${++seq}`, serviceTimeMs: 10, jitterMs: 10, startTimeoutMs: 90_000 });
    procs.push(p);
    return p;
  };
  let live: BackendProcess[] = await Promise.all([spawnOne(), spawnOne(), spawnOne(), spawnOne()]);
  discovery.push(live.map((p) => ({ address: p.address, instance: p.id })));
  started.client = createClient(EchoClient, 'rel-kill:///echo', credentials.createInsecure(), {
    retry: { attemptTimeoutMs: 2_000, maxAttempts: 4, retryIntervalMs: 20 },
    observers: [failedCallRecorder],
  });
  const c = started.client;

  const load = startEchoLoad(c, { workers: 8, callsPerWorker: 20_000, hardStopMs: 80_000 });
  const { ledger } = load;
  const okCount = () => ledger.entries.filter((e) => e.result?.ok).length;
  try {
    for (let i = 0; i < 400 && okCount() < 100; i++) await sleep(25);
    assert.ok(okCount() >= 100, `warm-up: ${okCount()} replies`);

    // Three kills, each of a random live backend; a replacement is started and discovery updated after each.
    const windows: Array<{ from: number; detectedBy: number; to: number }> = [];
    for (let k = 0; k < 3; k++) {
      const victim = live[Math.floor(random() * live.length)]!;
      const kill = ledger.kill(`kill -9 ${victim.id}`);
      await victim.kill('SIGKILL');
      kill.done();
      const replacement = await spawnOne();
      live = [...live.filter((p) => p !== victim), replacement];
      discovery.push(live.map((p) => ({ address: p.address, instance: p.id })));
      await sleep(2_500);
      windows.push({ from: kill.record.at, detectedBy: kill.record.doneAt! + 1_000, to: Date.now() });
    }

    // A frozen backend (SIGSTOP): its attempts time out and are retried on another endpoint.
    const frozen = live[Math.floor(random() * live.length)]!;
    const freeze = ledger.kill(`SIGSTOP ${frozen.id}`);
    frozen.stop();
    await sleep(4_000);
    frozen.cont();
    freeze.done();
    await sleep(1_000);
    const freezeEnd = Date.now();

    await load.stop();
    await ledger.drain(15_000);
    const summary = ledger.assertAllAccounted();

    const report = ledger.killReport().map((r, i) => {
      const w = windows[i];
      const failedInWindow = w ? ledger.failedBetween(w.from, w.to).length : ledger.failedBetween(freeze.record.at, freezeEnd).length;
      return { ...r, failedInWindow };
    });
    console.log(`[kill-and-freeze] ${summary}`);
    for (const r of report) {
      console.log(`[kill-and-freeze] ${r.what}: ${r.inFlight} calls in flight at the kill, ${r.failedInWindow} failed (of those in flight: ${r.failedOfThose})`);
    }
    const failures = ledger.entries.filter((e) => e.result && !e.result.ok);
    for (const f of failedCalls) console.log(`[kill-and-freeze] failed call: ${f}`);
    for (const k of ledger.kills) console.log(`[kill-and-freeze] ${k.what} at ${new Date(k.at).toISOString()} gone at ${new Date(k.doneAt ?? 0).toISOString()}`);
    for (const f of failures) assert.equal(f.result!.ok ? -1 : f.result!.code, status.UNAVAILABLE, JSON.stringify(f.result));
    // A kill costs at most the calls that were in flight when it happened.
    for (const r of report.slice(0, 3)) assert.ok(r.failedInWindow <= r.inFlight, `${r.what}: ${r.failedInWindow} failed > ${r.inFlight} in flight`);
    // Once the death is seen (1 s after the process is gone), no later call fails (but for the next kill's).
    const caughtByAKill = new Set(ledger.kills.flatMap((k) => [...k.inFlight]));
    for (const w of windows) {
      const late = ledger.entries.filter((e) => e.startedAt >= w.detectedBy && e.startedAt < w.to && !caughtByAKill.has(e.id) && e.result && !e.result.ok);
      assert.deepEqual(late.map((e) => e.result), [], 'calls issued after the death was seen all succeed');
    }
    // The freeze costs nothing: attempts on the frozen backend time out and are retried elsewhere.
    assert.equal(report[3]!.failedInWindow, 0, 'no call failed while a backend was frozen');
    const duringFreeze = ledger.entries.filter((e) => e.startedAt >= freeze.record.at && e.startedAt < freeze.record.doneAt!);
    assert.ok(duringFreeze.filter((e) => e.result?.ok).length >= 50, `calls kept completing while frozen: ${duringFreeze.length}`);
    assert.ok(failures.length <= report.slice(0, 3).reduce((s, r) => s + r.inFlight, 0), `${failures.length} failures in all`);
  } finally {
    await load.stop();
  }
});
