// example: examples/readme/slow-start.ts
// A new endpoint's weight ramps up against the set's oldest endpoint, also when every endpoint is new.
import { credentials } from '@grpc/grpc-js';
import { createClient } from 'fairway-grpc';
import { createBalancer } from '@fairway/core';
import { loadEcho } from '@fairway/testing';

// On a client: the defaults are on (10 s from 10 %); `slowStart: false` turns it off.
const { EchoClient } = loadEcho();
const client = createClient(EchoClient, 'static:///127.0.0.1:50051', credentials.createInsecure(), {
  slowStart: { windowMs: 20_000, minWeightPercent: 10 },
});
client.close();

// The ramp itself, on the balancer the client uses (pure: time is an argument).
const ramp = (readyAtMs: number[], atMs: number) => {
  const b = createBalancer({ slowStart: { windowMs: 20_000 } });
  const keys = b.update(readyAtMs.map((_, i) => ({ address: `10.0.0.${i + 1}:8080` })), 0).added;
  readyAtMs.forEach((t, i) => b.setReady(keys[i]!, true, t));
  return b.snapshot(atMs).map((s) => `${s.address} ${Math.round(100 * s.slowStartFactor)}%`);
};
console.log(
  JSON.stringify({
    // A newcomer to a set READY for a minute: 5 s into a 20 s ramp.
    newcomer: ramp([0, 0, 55_000], 60_000),
    // A full rollout: every endpoint new (READY 0, 2 and 4 s ago). The oldest has its full weight, the
    // younger ones ramp against its age (4 s), not against 20 s.
    rollout: ramp([56_000, 58_000, 60_000], 60_000),
  }),
);
