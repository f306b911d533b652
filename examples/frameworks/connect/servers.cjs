// Connect-node gRPC servers of the example's Greeter service, each on 127.0.0.1, port 0, each answering after
// its own delay (changeable: `server.delayMs = 10_000` stalls it) and saying which server it is.
// CommonJS, so that main.cjs, main.mjs and the README's TypeScript example can all load it.
const { createServer } = require('node:http2');
const { connectNodeAdapter } = require('@connectrpc/connect-node');
const { Greeter } = require('./gen/greeter_pb.cjs');

/** Starts one server; resolves to { name, address, delayMs, calls, close() }. */
async function startGreeter(name, delayMs = 0) {
  const g = { name, address: '', delayMs, calls: 0, close: async () => {} };
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

/** Starts one server per delay (ms), named a, b, c, ... */
function startGreeters(delaysMs) {
  return Promise.all(delaysMs.map((d, i) => startGreeter(String.fromCharCode(97 + i), d)));
}

module.exports = { startGreeter, startGreeters };
