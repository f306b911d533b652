// example: examples/readme/adaptive-concurrency.ts
// Attempts above the adaptive limit fail at once with RESOURCE_EXHAUSTED naming the limit.
import { credentials } from '@grpc/grpc-js';
import { createClient } from 'fairway-grpc';
import { loadEcho, startEchoBackend } from '@fairway/testing';

const pod = await startEchoBackend({ id: 'a', serviceTimeMs: 200 });
const { EchoClient } = loadEcho();
const client = createClient(EchoClient, `static:///${pod.address}`, credentials.createInsecure(), {
  // `true` takes the defaults (Gradient2's): initialLimit 20, minLimit 20, maxLimit 200, smoothing 0.2,
  // queueSize 4, rttTolerance 1.5, longWindow 600. Small figures here to see the limit at work.
  concurrencyLimit: { initialLimit: 4, minLimit: 4, maxLimit: 50 },
  retry: { attemptTimeoutMs: 1_000 }, // a shed attempt is not a timeout: never retried
});

const call = () =>
  new Promise<{ code: number; details?: string }>((resolve) =>
    client.Unary({ message: 'hi' }, (err: any) => resolve(err ? { code: err.code, details: err.details } : { code: 0 })),
  );
const results = await Promise.all(Array.from({ length: 10 }, call));
console.log(
  JSON.stringify({
    answered: results.filter((r) => r.code === 0).length,
    shed: results.filter((r) => r.code !== 0),
    reachedTheServer: pod.counts.unary,
  }),
);
client.close();
pod.forceStop();
