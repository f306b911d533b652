// connect-node with Fairway (CommonJS): three servers, one slow; the slow one gets a small share; an attempt
// that times out is retried on another server. Prints one JSON line.
const { createServer } = require('node:http2');
const { createClient } = require('@connectrpc/connect');
const { connectNodeAdapter } = require('@connectrpc/connect-node');
const { createFairwayTransport } = require('@fairway/connect');
const { Greeter } = require('./gen/greeter_pb.cjs');

async function startGreeter(name, delayMs) {
  const g = { name, delayMs, calls: 0 };
  const sessions = new Set();
  const server = createServer(
    connectNodeAdapter({
      routes: (router) =>
        router.service(Greeter, {
          async greet(req, ctx) {
            g.calls += 1;
            await new Promise((resolve) => {
              const t = setTimeout(resolve, g.delayMs);
              ctx.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
            });
            return { message: `hello ${req.name}`, server: name };
          },
        }),
    }),
  );
  server.on('session', (s) => (sessions.add(s), s.once('close', () => sessions.delete(s))));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  g.address = `127.0.0.1:${server.address().port}`;
  g.close = () => new Promise((resolve) => (sessions.forEach((s) => s.destroy()), server.close(() => resolve())));
  return g;
}

async function main() {
  const servers = await Promise.all([startGreeter('a', 0), startGreeter('b', 0), startGreeter('c', 40)]); // c is slow
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

  servers[0].delayMs = 10_000; // "a" stalls
  const stalledBefore = servers[0].calls;
  const answeredBy = [];
  for (let i = 0; i < 12; i++) answeredBy.push((await client.greet({ name: `retry ${i}` }, { timeoutMs: 5_000 })).server);
  const attemptsOnStalled = servers[0].calls - stalledBefore;

  console.log(JSON.stringify({ share, answeredBy, attemptsOnStalled }));
  await transport.close();
  await Promise.all(servers.map((s) => s.close()));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
