// example: examples/readme/slow-start.ts
// A new endpoint's weight ramps up against the set's oldest endpoint, also when every endpoint is new, and
// ramps are lifted together when they would load the rest beyond 10 % over a fair share.
import { credentials } from '@grpc/grpc-js';
import { createClient } from 'fairway-grpc';
import { createBalancer } from '@fairway/core';
import { loadEcho } from '@fairway/testing';

// On a client: the defaults are on (10 s from 10 %, at most 10 % extra on the rest); `slowStart: false` turns it off.
const { EchoClient } = loadEcho();
const client = createClient(EchoClient, 'static:///127.0.0.1:50051', credentials.createInsecure(), {
  slowStart: { windowMs: 20_000, minWeightPercent: 10, maxExtraLoadPercent: 10 },
});
client.close();

// The ramp itself, on the balancer the client uses (pure: time is an argument). Lists the endpoints below full weight.
const ramp = (readyAtMs: number[], atMs: number, maxExtraLoadPercent?: number) => {
  const b = createBalancer({ slowStart: { windowMs: 20_000, maxExtraLoadPercent } });
  const keys = b.update(readyAtMs.map((_, i) => ({ address: `10.0.0.${i + 1}:8080` })), 0).added;
  readyAtMs.forEach((t, i) => b.setReady(keys[i]!, true, t));
  return b
    .snapshot(atMs)
    .filter((s) => s.slowStartFactor < 1)
    .map((s) => `${s.address} ${Math.round(100 * s.slowStartFactor)}%`);
};
const old = Array.from({ length: 12 }, () => 0);
console.log(
  JSON.stringify({
    // A newcomer to 12 endpoints READY for a minute: 5 s into a 20 s ramp (the 12 carry under 10 % extra: no lift).
    newcomer: ramp([...old, 55_000], 60_000),
    // A full rollout: every endpoint new (READY 0, 2 and 4 s ago). The oldest has its full weight, the younger
    // ones ramp against its age (4 s), not against 20 s: 55 % and 10 % on their own ...
    rolloutRampsAlone: ramp([56_000, 58_000, 60_000], 60_000, Infinity),
    // ... which would leave the oldest 1.8x a fair share; lifted together, it carries 1.1x.
    rollout: ramp([56_000, 58_000, 60_000], 60_000),
  }),
);
