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

// The live p98 needs answers (20 at least). 300 calls also put 15 hedges in the budget (5 %), so hedges
// that a busy machine's jitter sends during the warm-up cannot spend it all before "c" stalls.
for (let i = 0; i < 300; i++) await unary('warm-up');
servers[2]!.setServiceTime(1000); // "c" stalls for 1 s: a call picked onto it is hedged to "a" or "b"
const before = served();
const answers = [];
// At least 1 s of calls, one at a time: "c" gets picked (by p2c, or by a recovery probe 250 ms after its
// last answer) and each call that lands on it is hedged; a lost race teaches the balancer that "c" is late.
for (const t0 = Date.now(); answers.length < 100 || Date.now() - t0 < 1_000; ) answers.push(await unary('call'));
const hedgeBudget = Math.floor(0.05 * (300 + answers.length)); // 5 % of the calls in the 10 s window
console.log(JSON.stringify({ calls: answers.length, ok: answers.filter((a) => a.code === 0).length, answeredByC: answers.filter((a) => a.server === 'c').length, extraAttempts: served() - before - answers.length, hedgeBudget, slowestMs: Math.round(Math.max(...answers.map((a) => a.ms))) }));
client.close();
servers.forEach((s) => s.forceStop());
