// connect-node with Fairway (CommonJS): three servers, one slow; the slow one gets a small share; an attempt
// that times out is retried on another server. Prints one JSON line.
const { createClient } = require('@connectrpc/connect');
const { createFairwayTransport } = require('@fairway/connect');
const { Greeter } = require('./gen/greeter_pb.cjs');
const { startGreeters } = require('./servers.cjs');

async function main() {
  // Why 150 ms: with 6 calls in flight in this one process, a 0 ms server's answers take 10-25 ms of the
  // process's own queueing (more on a busy machine), and a balancer that weighs latency by calls in flight
  // rightly sends some calls to a 40 ms server that is idle; at 150 ms the slow one is slow under any load.
  const servers = await startGreeters([0, 0, 150]); // c is slow: 150 ms
  const transport = createFairwayTransport({
    target: `static:///${servers.map((s) => s.address).join(',')}`,
    retry: { attemptTimeoutMs: 300 },
  });
  const client = createClient(Greeter, transport);

  const share = {};
  let sent = 0;
  await Promise.all(
    Array.from({ length: 6 }, async () => {
      while (sent++ < 300) {
        const reply = await client.greet({ name: 'load' }, { timeoutMs: 5_000 });
        share[reply.server] = (share[reply.server] || 0) + 1;
      }
    }),
  );

  // "a" and "b" stall: attempts on them time out after 300 ms and the calls are answered by "c".
  const stalled = servers.slice(0, 2);
  for (const s of stalled) s.delayMs = 10_000;
  const callsOnStalled = () => stalled.reduce((n, s) => n + s.calls, 0);
  const stalledBefore = callsOnStalled();
  const answeredBy = [];
  for (let i = 0; i < 12; i++) answeredBy.push((await client.greet({ name: `retry ${i}` }, { timeoutMs: 5_000 })).server);
  const attemptsOnStalled = callsOnStalled() - stalledBefore;

  console.log(JSON.stringify({ share, answeredBy, attemptsOnStalled }));
  await transport.close();
  await Promise.all(servers.map((s) => s.close()));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
