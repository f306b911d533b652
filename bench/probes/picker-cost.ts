/**
 * What Fairway's policy adds to one call, without grpc-js's transport: the picker's pick (the Balancer's p2c
 * over 3 READY endpoints, the pick tracker) and the two callbacks grpc-js then makes, `onCallStarted` and
 * `onCallEnded` (release, peak-EWMA update), against a child picker that answers at once. Also the call
 * interceptor's own work for a call it passes through. Prints ns per call (CPU time), median of 7 runs.
 *
 * Run: `FAIRWAY_PROBE=picker-cost node bench/probes/run.mjs`
 */
import { getHeapSpaceStatistics } from 'node:v8';
import { Balancer } from '@fairway/core';
import { Metadata, status } from '@grpc/grpc-js';
import { FairwayPicker } from '../../packages/grpc/src/policy/picker.js';
import { PickTracker } from '../../packages/grpc/src/policy/pick-tracker.js';
import { PickResultType } from '../../packages/grpc/src/grpc-internals.js';
import type { PickArgs, PickResult, Picker } from '../../packages/grpc/src/grpc-internals.js';
import { createCallInterceptor, parseRetryOptions } from '../../packages/grpc/src/call/index.js';
import { nowMs, random } from '../../packages/grpc/src/clock.js';

const N = 200_000;

/**
 * Bytes allocated per call by `fn(n)` (n calls): young-generation growth over a run short enough that no
 * scavenge happens in it (run with `--max-semi-space-size=64`; a run during which the young generation
 * shrank saw a collection and is repeated). Median of 5 runs. NaN when every run saw a collection.
 */
function bytesPerCall(fn: (n: number) => void): number {
  const n = 20_000;
  fn(n); // warm: optimized code, caches filled
  const runs: number[] = [];
  for (let r = 0; r < 9 && runs.length < 5; r++) {
    (globalThis as { gc?: () => void }).gc?.();
    const before = newSpaceUsed();
    fn(n);
    const after = newSpaceUsed();
    if (after >= before) runs.push((after - before) / n);
  }
  runs.sort((a, b) => a - b);
  return runs.length === 0 ? Number.NaN : runs[Math.floor(runs.length / 2)]!;
}

function newSpaceUsed(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_used_size ?? 0;
}

function cpuNs(fn: () => void): number {
  const runs: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t0 = process.cpuUsage();
    fn();
    const d = process.cpuUsage(t0);
    runs.push(((d.user + d.system) * 1000) / N);
  }
  runs.sort((a, b) => a - b);
  return runs[3]!;
}

const balancer = new Balancer();
const keys = balancer.update([{ address: '127.0.0.1:1' }, { address: '127.0.0.1:2' }, { address: '127.0.0.1:3' }], nowMs()).added;
for (const k of keys) balancer.setReady(k, true, nowMs());
const subchannel = {} as PickResult['subchannel'];
const child: Picker = {
  pick: () => ({ pickResultType: PickResultType.COMPLETE, subchannel, status: null, onCallStarted: null, onCallEnded: null }),
};
const tracker = new PickTracker(nowMs);
const picker = new FairwayPicker({ balancer, tracker, now: nowMs, random }, new Map(keys.map((k) => [k, child])));
const args = { metadata: new Metadata(), extraPickInfo: {} } as unknown as PickArgs;
const pickPath = cpuNs(() => {
  for (let i = 0; i < N; i++) {
    const r = picker.pick(args);
    r.onCallStarted?.();
    r.onCallEnded?.(status.OK, 'OK', new Metadata());
  }
});
const childOnly = cpuNs(() => {
  for (let i = 0; i < N; i++) {
    const r = child.pick(args);
    r.onCallStarted?.();
  }
});
const pickOnly = cpuNs(() => {
  for (let i = 0; i < N; i++) balancer.pick(nowMs(), random)!.release({ kind: 'success', latencyMs: 1 }, nowMs());
});

const interceptor = createCallInterceptor({ retry: parseRetryOptions(undefined), target: 'static:///x' });
const options = { method_definition: { path: '/p.P/M', requestStream: false, responseStream: false } } as unknown as Parameters<typeof interceptor>[0];
const bottom = {} as ReturnType<Parameters<typeof interceptor>[1]>;
const interceptorPass = cpuNs(() => {
  for (let i = 0; i < N; i++) interceptor(options, () => bottom);
});

const md = new Metadata();
const pickPathBytes = bytesPerCall((n) => {
  for (let i = 0; i < n; i++) {
    const r = picker.pick(args);
    r.onCallStarted?.();
    r.onCallEnded?.(status.OK, 'OK', md);
  }
});
const childBytes = bytesPerCall((n) => {
  for (let i = 0; i < n; i++) child.pick(args).onCallStarted?.();
});
const pickOnlyBytes = bytesPerCall((n) => {
  for (let i = 0; i < n; i++) balancer.pick(nowMs(), random)!.release({ kind: 'success', latencyMs: 1 }, nowMs());
});
console.log(`Fairway picker path (pick + onCallStarted + onCallEnded): ${pickPathBytes.toFixed(0)} B/call allocated`);
console.log(`  of which the child picker alone:                         ${childBytes.toFixed(0)} B/call`);
console.log(`  Balancer pick + release alone:                           ${pickOnlyBytes.toFixed(0)} B/call`);
console.log(`Fairway picker path (pick + onCallStarted + onCallEnded): ${pickPath.toFixed(0)} ns/call`);
console.log(`  of which the child picker alone:                         ${childOnly.toFixed(0)} ns/call`);
console.log(`  Balancer pick + release alone:                           ${pickOnly.toFixed(0)} ns/call`);
console.log(`call interceptor, pass-through decision + InterceptingCall: ${interceptorPass.toFixed(0)} ns/call`);
tracker.close();
