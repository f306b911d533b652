/**
 * What Fairway's policy adds to one call, without grpc-js's transport: the picker's pick (the Balancer's p2c
 * over 3 READY endpoints, the pick tracker) and the two callbacks grpc-js then makes, `onCallStarted` and
 * `onCallEnded` (release, peak-EWMA update), against a child picker that answers at once. Also the call
 * interceptor's own work for a call it passes through. Prints ns per call (CPU time), median of 7 runs.
 *
 * Run: `FAIRWAY_PROBE=picker-cost node bench/probes/run.mjs`
 */
import { Balancer } from '@fairway/core';
import { Metadata, status } from '@grpc/grpc-js';
import { FairwayPicker } from '../../packages/grpc/src/policy/picker.js';
import { PickTracker } from '../../packages/grpc/src/policy/pick-tracker.js';
import { PickResultType } from '../../packages/grpc/src/grpc-internals.js';
import type { PickArgs, PickResult, Picker } from '../../packages/grpc/src/grpc-internals.js';
import { createCallInterceptor, parseRetryOptions } from '../../packages/grpc/src/call/index.js';
import { nowMs, random } from '../../packages/grpc/src/clock.js';

const N = 200_000;

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

console.log(`Fairway picker path (pick + onCallStarted + onCallEnded): ${pickPath.toFixed(0)} ns/call`);
console.log(`  of which the child picker alone:                         ${childOnly.toFixed(0)} ns/call`);
console.log(`  Balancer pick + release alone:                           ${pickOnly.toFixed(0)} ns/call`);
console.log(`call interceptor, pass-through decision + InterceptingCall: ${interceptorPass.toFixed(0)} ns/call`);
tracker.close();
