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

for (let i = 0; i < 6; i++) await unary('warm-up');
const [a, b] = [servers[0]!, servers[1]!];
// "a" and "b" stall: attempts on them time out and are retried on a server not yet tried, so "c" answers all.
a.setServiceTime(5000);
b.setServiceTime(5000);
const stalledBefore = a.counts.unary + b.counts.unary;
const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => unary(`call ${i}`)));
const stalledAttempts = a.counts.unary + b.counts.unary - stalledBefore;

a.setServiceTime(0); // both recover, so whichever server takes the next call answers at once
b.setServiceTime(0);
const before = attempts(); // a server's UNAVAILABLE is never retried: one attempt, status as it is
const unavailable = await unary('fail', 14);
console.log(JSON.stringify({ answers, stalledAttempts, unavailable, attemptsForUnavailable: attempts() - before }));
client.close();
servers.forEach((s) => s.forceStop());
