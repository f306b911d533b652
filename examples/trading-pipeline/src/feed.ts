/**
 * The price feed pod: streams ticks (`PriceFeed.Subscribe`, server streaming) to every subscribed pricer and
 * registers itself in etcd as service `price-feed`. A pricer subscribes with its identity (instance and
 * incarnation, in Fairway's `fairway-client-instance` / `fairway-client-incarnation` headers); the feed keeps
 * only the newest stream per pricer instance ("newest connection wins", `createStreamTakeover` from
 * `@fairway/server`): when a restarted pricer subscribes, its older incarnation's stream ends at once
 * (ABORTED) instead of lingering, and a late stream from an older incarnation is refused.
 */
import { Server, ServerCredentials, status, type ServerWritableStream } from '@grpc/grpc-js';
import { createStreamTakeover } from '@fairway/server';
import { traceGrpcHandlers } from '@fairway/telemetry';
import { loadTradingProto, type SubscribeRequest, type Tick } from './proto.js';
import { readPodEnv, tellParent, log } from './env.js';
import { SYMBOLS } from './symbols.js';
import { setupPodTelemetry, serveAndRegister, onShutdownSignal } from './fairway-glue.js';

const env = readPodEnv({ instance: 'feed' });
const telemetry = await setupPodTelemetry(env, 'price-feed');
const proto = loadTradingProto();

const mids = new Map<string, number>(Object.entries(SYMBOLS));
let seq = 0;
const subscribers = new Set<ServerWritableStream<SubscribeRequest, Tick>>();
const takeover = createStreamTakeover({
  onEvent: (e) =>
    log(env, e.kind === 'superseded' ? `${e.instance}: stream of ${e.older} superseded by ${e.newer}` : `${e.instance}: refused older incarnation ${e.incarnation}`),
});

const server = new Server();
server.addService(
  proto.PriceFeed.service,
  traceGrpcHandlers({
    Subscribe: takeover.serverStream((call: ServerWritableStream<SubscribeRequest, Tick>) => {
      if (!call.request.subscriber) {
        call.emit('error', { code: status.INVALID_ARGUMENT, details: 'subscriber is empty: subscribe with your instance name' });
        return;
      }
      subscribers.add(call);
      const drop = () => subscribers.delete(call);
      call.on('cancelled', drop);
      call.on('close', drop);
      call.on('finish', drop);
      // The current book at once, so a new subscriber can price immediately.
      for (const [symbol, mid] of mids) call.write(tick(symbol, mid));
    }),
  }),
);

function tick(symbol: string, mid: number): Tick {
  seq += 1;
  return { symbol, bid: round(mid - 0.01), ask: round(mid + 0.01), seq, timeUnixMs: Date.now() };
}
function round(x: number): number {
  return Math.round(x * 100) / 100;
}

// Every 50 ms one symbol moves a little and every subscriber gets the tick.
const symbols = [...mids.keys()];
const timer = setInterval(() => {
  const symbol = symbols[Math.floor(Math.random() * symbols.length)]!;
  const mid = Math.max(1, mids.get(symbol)! * (1 + (Math.random() - 0.5) * 0.002));
  mids.set(symbol, mid);
  const t = tick(symbol, mid);
  for (const call of subscribers) {
    if (!call.cancelled && call.writable) call.write(t);
  }
}, 50);

const registration = await serveAndRegister(server, ServerCredentials.createInsecure(), env, 'price-feed');
log(env, `serving on ${env.host}:${registration.port} in ${env.zone}, registered as price-feed`);
void tellParent({ type: 'ready', instance: env.instance, incarnation: env.incarnation, port: registration.port });

onShutdownSignal(async () => {
  clearInterval(timer);
  takeover.endAll(status.UNAVAILABLE, 'price feed shutting down');
  await registration.stop();
  await telemetry.shutdown();
});
