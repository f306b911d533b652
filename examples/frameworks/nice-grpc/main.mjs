// nice-grpc 2.1 clients balanced by Fairway: the one line is `createClient(definition, createChannel(target,
// credentials, options))` with Fairway's createChannel: the channel carries Fairway's retries and observers to
// the clients nice-grpc makes on it (nice-grpc passes no grpc-js interceptors of its own).
// Runs as copied together with ../shared/echo-fixture.cjs (the Echo service and servers standing in for yours):
// `npm install fairway-grpc @grpc/grpc-js @grpc/proto-loader nice-grpc@2 @opentelemetry/sdk-trace-base`,
// then `node main.mjs`.
// Three Echo servers on loopback, one slow; prints one JSON line: who answered, attempts per server, retries.
import * as grpc from '@grpc/grpc-js';
import { createClient } from 'nice-grpc';
import { createChannel, createTelemetryObserver } from 'fairway-grpc';
import fixture from '../shared/echo-fixture.cjs';

const spans = fixture.recordSpans();

{
  const fleet = await fixture.startServers();
  // The one line: Fairway balancing, a 100 ms attempt timeout that retries on another server, a span per attempt.
  const channel = createChannel(fleet.target, grpc.credentials.createInsecure(), { retry: { attemptTimeoutMs: 100 }, observers: [createTelemetryObserver()] });
  const echo = createClient(fixture.Echo.service, channel);

  const say = (text) => echo.Say({ text }, { deadline: new Date(Date.now() + 5000) });
  console.log(JSON.stringify(await fixture.exercise(say, fleet, spans)));
  channel.close();
  fleet.shutdown();
}
