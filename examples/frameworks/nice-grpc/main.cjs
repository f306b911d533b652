// nice-grpc 2.1 clients balanced by Fairway: the one line is `createClient(definition, createChannel(target,
// credentials, options))` with Fairway's createChannel: the channel carries Fairway's retries and observers to
// the clients nice-grpc makes on it (nice-grpc passes no grpc-js interceptors of its own).
// Runs as copied together with ../shared/echo-fixture.cjs (the Echo service and servers standing in for yours):
// `npm install fairway-grpc @grpc/grpc-js @grpc/proto-loader nice-grpc@2 @opentelemetry/sdk-trace-base`,
// then `node main.cjs`.
// Three Echo servers on loopback, one slow; prints one JSON line: who answered, attempts per server, retries.
const grpc = require('@grpc/grpc-js');
const { createClient } = require('nice-grpc');
const { createChannel, createTelemetryObserver } = require('fairway-grpc');
const fixture = require('../shared/echo-fixture.cjs');

const spans = fixture.recordSpans();

async function main() {
  const fleet = await fixture.startServers();
  // The one line: Fairway balancing, a 100 ms attempt timeout that retries on another server, a span per attempt.
  const channel = createChannel(fleet.target, grpc.credentials.createInsecure(), { retry: { attemptTimeoutMs: 100 }, observers: [createTelemetryObserver()] });
  const echo = createClient(fixture.Echo.service, channel);

  const say = (text) => echo.Say({ text }, { deadline: new Date(Date.now() + 5000) });
  console.log(JSON.stringify(await fixture.exercise(say, fleet, spans)));
  channel.close();
  fleet.shutdown();
}

main().catch((err) => {
  console.error(err);
  process.exit(1); // the servers would keep the process alive
});
