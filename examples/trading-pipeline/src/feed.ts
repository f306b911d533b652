/**
 * The price feed pod: streams ticks (`PriceFeed.Subscribe`, server streaming) to every subscribed pricer and
 * registers itself in etcd as service `price-feed`. A pricer subscribes with its instance name and incarnation;
 * the feed keeps only the newest stream per instance ("newest connection wins", from `@fairway/server`): when a
 * restarted pricer subscribes, its older incarnation's stream is ended at once instead of lingering.
 */
import { Server, ServerCredentials, type ServerWritableStream } from '@grpc/grpc-js';
import { loadTradingProto, type SubscribeRequest, type Tick } from './proto.js';
import { readPodEnv, tellParent, log } from './env.js';
import { SYMBOLS } from './symbols.js';
import { setupPodTelemetry, serveAndRegister, onShutdownSignal, createStreamRegistry } from './fairway-glue.js';

const env = readPodEnv({ instance: 'feed' });
const telemetry = await setupPodTelemetry(env, 'price-feed');
const proto = loadTradingProto();


const mids = new Map<string, number>(Object.entries(SYMBOLS));
let seq = 0;
const streams = createStreamRegistry<ServerWritableStream<SubscribeRequest, Tick>>(env);

const server = new Server();
server.addService(proto.PriceFeed.service, {
  Subscribe(call: ServerWritableStream<SubscribeRequest, Tick>) {
    const { subscriber, incarnation } = call.request;
    if (!subscriber) {
      call.destroy(Object.assign(new Error('subscriber is empty: subscribe with your instance name'), { code: 3 }));
      return;
    }
    streams.accept(subscriber, incarnation, call);
    // Send the current book at once so a new subscriber can price immediately.
    for (const [symbol, mid] of mids) call.write(tick(symbol, mid));
  },
});

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
  for (const call of streams.current()) call.write(t);
}, 50);

const registration = await serveAndRegister(server, ServerCredentials.createInsecure(), env, 'price-feed');
log(env, `serving on ${env.host}:${env.port} in ${env.zone}, registered as price-feed`);
void tellParent({ type: 'ready', instance: env.instance, incarnation: env.incarnation });

onShutdownSignal(async () => {
  clearInterval(timer);
  for (const call of streams.current()) call.end();
  await registration.stop();
  await telemetry.shutdown();
});
