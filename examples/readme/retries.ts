// example: examples/readme/retries.ts
// Retry only attempts that time out: 500 ms per attempt, at most 4 attempts, 50 ms apart, each on another server.
import { credentials } from '@grpc/grpc-js';
import { createClient } from 'fairway-grpc';
import { loadEcho, startEchoBackend } from '@fairway/testing';

const servers = await Promise.all(['a', 'b', 'c'].map((id) => startEchoBackend({ id })));
const { EchoClient } = loadEcho();
const client = createClient(EchoClient, `static:///${servers.map((s) => s.address).join(',')}`, credentials.createInsecure(), {
  retry: {
    attemptTimeoutMs: 500, // per attempt, never past the call's deadline; no default: no timer, no retries
    maxAttempts: 4, // 1..6 (default 5), first attempt included
    retryIntervalMs: 50, // steady: no back-off, no jitter (default 50)
    budget: { ratio: 0.2, minPerSecond: 10, windowMs: 10_000 }, // the defaults
    methods: {
      'fairway.test.Echo/ServerStream': { attemptTimeoutMs: 1000 }, // a stream: until its first message
    },
  },
});

const unary = (message: string, fail_code = 0) =>
  new Promise<{ code: number; server?: string; details?: string }>((resolve) =>
    client.Unary({ message, fail_code }, { deadline: Date.now() + 10_000 }, (err: any, reply: any) =>
      resolve(err ? { code: err.code, details: err.details } : { code: 0, server: reply.server_id }),
    ),
  );
const attempts = () => servers.reduce((n, s) => n + s.counts.unary, 0);

// Warm up until every server has answered once: its connection is up and its latency known (at most 100 calls).
for (let i = 0; i < 100 && servers.some((s) => s.counts.unary === 0); i++) await unary('warm-up');
servers[0]!.setServiceTime(5000); // "a" stalls: attempts on it time out and are retried on "b" or "c"
const stalledBefore = servers[0]!.counts.unary;
const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => unary(`call ${i}`)));
const stalledAttempts = servers[0]!.counts.unary - stalledBefore;

servers[0]!.setServiceTime(0); // "a" recovers, so whichever server takes the next call answers at once
const before = attempts(); // a server's UNAVAILABLE is never retried: one attempt, status as it is
const unavailable = await unary('fail', 14);
console.log(JSON.stringify({ answers, stalledAttempts, unavailable, attemptsForUnavailable: attempts() - before }));
client.close();
servers.forEach((s) => s.forceStop());
