// example: examples/readme/hedging.ts
// Hedge a read: when its answer is late, ask another server too; the first answer wins, the other is cancelled.
import { credentials } from '@grpc/grpc-js';
import { createClient } from 'fairway-grpc';
import { loadEcho, startEchoBackend } from '@fairway/testing';

const servers = await Promise.all(['a', 'b', 'c'].map((id) => startEchoBackend({ id, serviceTimeMs: 2 })));
const { EchoClient } = loadEcho();
const client = createClient(EchoClient, `static:///${servers.map((s) => s.address).join(',')}`, credentials.createInsecure(), {
  retry: {
    hedging: {
      methods: ['fairway.test.Echo/Unary'], // opt-in per method: only methods safe to run twice
      // idempotent: true, // or: every method whose proto says idempotency_level = IDEMPOTENT / NO_SIDE_EFFECTS
      percentile: 98, // hedge after the method's live p98 latency (the default); or a fixed delayMs
      budgetRatio: 0.05, // at most 5% extra calls over 10 s (the default)
    },
  },
});

const unary = (message: string) =>
  new Promise<{ code: number; server?: string; ms: number }>((resolve) => {
    const t0 = performance.now();
    client.Unary({ message }, { deadline: Date.now() + 10_000 }, (err: any, reply: any) =>
      resolve({ code: err ? err.code : 0, server: reply?.server_id, ms: performance.now() - t0 }),
    );
  });
const served = () => servers.reduce((n, s) => n + s.counts.unary, 0);

for (let i = 0; i < 100; i++) await unary('warm-up'); // the live p98 needs answers (20 at least)
servers[2]!.setServiceTime(5000); // "c" stalls: a call picked onto it is hedged to "a" or "b"
const before = served();
const answers = [];
for (let i = 0; i < 100; i++) answers.push(await unary(`call ${i}`));
const slowest = Math.max(...answers.map((a) => a.ms));
console.log(JSON.stringify({ calls: answers.length, ok: answers.filter((a) => a.code === 0).length, answeredByC: answers.filter((a) => a.server === 'c').length, extraAttempts: served() - before - answers.length, slowestMs: Math.round(slowest) }));
client.close();
servers.forEach((s) => s.forceStop());
