// example: examples/readme/outlier-ejection.ts
// A pod that answers UNAVAILABLE at once is ejected, then re-admitted by one probe call once it heals.
import { credentials, status } from '@grpc/grpc-js';
import { createClient } from 'fairway-grpc';
import { loadEcho, startEchoBackend } from '@fairway/testing';

const pods = await Promise.all(['a', 'b', 'c', 'd'].map((id) => startEchoBackend({ id, serviceTimeMs: 2 })));
pods[0]!.setFailCode(status.UNAVAILABLE); // "a" fails fast: cheaper-looking than a real answer
const log: string[] = [];
const { EchoClient } = loadEcho();
const client = createClient(EchoClient, `static:///${pods.map((p) => p.address).join(',')}`, credentials.createInsecure(), {
  outlierEjection: {
    consecutiveFailures: 2, // default 5: failures or timed-out attempts in a row
    baseEjectionMs: 1_000, // default 10000; the n-th ejection in a row lasts n x this ...
    maxEjectionMs: 300_000, // ... up to this (the default)
    maxEjectedPercent: 10, // the default: at least one of two or more, never the last endpoint
  },
  logger: { info: (m) => log.push(m), warn: (m) => log.push(m), error: (m) => log.push(m) },
});

const call = () =>
  new Promise<number>((resolve) => client.Unary({ message: 'hi' }, (err: any) => resolve(err ? err.code : 0)));
const calls = async (n: number) => {
  const codes: number[] = [];
  for (let i = 0; i < n; i += 8) codes.push(...(await Promise.all(Array.from({ length: 8 }, call)))); // 8 at a time
  return codes;
};

const ejected = () => log.some((l) => l.includes(' ejected for '));
const first = await calls(100);
// Usually "a" is ejected within those; if its connection came up last it had one call, failed, and its
// failure estimate keeps it out of p2c's pairs until that decays (seconds): keep calling until it is.
for (const t0 = Date.now(); !ejected() && Date.now() - t0 < 20_000; ) {
  first.push(...(await calls(8)));
  await new Promise((r) => setTimeout(r, 20));
}
const toA = pods[0]!.counts.unary;
pods[0]!.setFailCode(undefined); // "a" heals
// When its ejection ends (1 s; 2 s after a failed probe) "a" gets one probe call, which re-admits it.
const second: number[] = [];
for (const healed = Date.now(); !log.some((l) => l.includes('re-admitted')) && Date.now() - healed < 10_000; ) {
  second.push(...(await calls(8)));
  await new Promise((r) => setTimeout(r, 50));
}
second.push(...(await calls(200)));
console.log(
  JSON.stringify({
    failedFirst: first.filter((c) => c !== 0).length,
    callsToAWhileFailing: toA,
    callsToAAfterHealing: pods[0]!.counts.unary - toA,
    failedSecond: second.filter((c) => c !== 0).length,
    log: log.filter((l) => l.startsWith('outlier ejection')),
  }),
);
client.close();
pods.forEach((p) => p.forceStop());
