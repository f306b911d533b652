/**
 * A pricer pod: does its pricing work through a pod with a capacity (`pod-load.ts`: a few slots, a queue, a
 * tailed service time), subscribes to the price feed (one server stream, identified by its instance and incarnation),
 * answers `Pricer.Quote` from the latest tick, and publishes each quote through a publisher. It calls the feed
 * and the publishers through Fairway (`etcd:///price-feed`, `etcd:///publisher`) with its own zone, and
 * registers itself in etcd as service `pricer`. Each reply says which pod answered, so the caller can see
 * where its traffic went.
 */
import {
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type sendUnaryData,
  type ClientReadableStream,
  type Client,
  Metadata,
  status,
} from '@grpc/grpc-js';
import { CLIENT_INCARNATION_HEADER, CLIENT_INSTANCE_HEADER } from '@fairway/core';
import { traceGrpcHandlers } from '@fairway/telemetry';
import {
  loadTradingProto,
  type PublishReply,
  type PublishRequest,
  type QuoteReply,
  type QuoteRequest,
  type SubscribeRequest,
  type Tick,
} from './proto.js';
import { readPodEnv, tellParent, log, freshIncarnation } from './env.js';
import { SYMBOLS } from './symbols.js';
import { setupPodTelemetry, serveAndRegister, onShutdownSignal, makeClient, waitForGo } from './fairway-glue.js';
import { PodOverloadedError } from '@fairway/testing';
import { startPod } from './pod-load.js';

const loadedEnv = readPodEnv({ instance: 'pricer' });
const telemetry = await setupPodTelemetry(loadedEnv, 'pricer');
const proto = loadTradingProto();

type FeedClient = Client & { Subscribe(req: SubscribeRequest, metadata: Metadata): ClientReadableStream<Tick> };
type PublisherClient = Client & {
  Publish(req: PublishRequest, options: { deadline: number }, cb: (err: Error | null, reply?: PublishReply) => void): void;
};

const feed = (await makeClient(proto.PriceFeed, 'price-feed', loadedEnv, telemetry)) as FeedClient;
const publisher = (await makeClient(proto.Publisher, 'publisher', loadedEnv, telemetry)) as PublisherClient;

// A replacement pod (rolling restart) is started ahead and waits here for the runner's "go"; its incarnation
// is taken now, when it starts serving, so it is newer than its predecessor's. The "go" may name the port to
// take over (the baseline's callers have a static address list); otherwise it binds any free port.
const goPort = await waitForGo();
const env = process.env.DEMO_WAIT_FOR_GO ? { ...loadedEnv, incarnation: freshIncarnation() } : loadedEnv;
const pod = startPod('pricer', env, () => env);

// Latest tick per symbol, fed by one long-lived stream from the feed.
const book = new Map<string, Tick>();
let stopping = false;
let stream: ClientReadableStream<Tick> | undefined;
let ticksSeen = 0;
function subscribe(): void {
  if (stopping) return;
  // Our identity, so the feed keeps only this incarnation's stream (newest connection wins).
  const md = new Metadata();
  md.set(CLIENT_INSTANCE_HEADER, env.instance);
  md.set(CLIENT_INCARNATION_HEADER, env.incarnation);
  const s = feed.Subscribe({ subscriber: env.instance, incarnation: env.incarnation, symbols: [] }, md);
  stream = s;
  let superseded = false;
  s.on('data', (t: Tick) => {
    ticksSeen += 1;
    book.set(t.symbol, t);
  });
  s.on('error', (e: Error & { code?: number }) => {
    // ABORTED: a newer incarnation of this pricer took the stream; FAILED_PRECONDITION: we are the older one.
    if (e.code === status.ABORTED || e.code === status.FAILED_PRECONDITION) {
      superseded = true;
      log(env, `feed stream ended: ${e.message}; not resubscribing`);
    }
  });
  s.on('close', () => {
    if (stream === s && !stopping && !superseded) setTimeout(subscribe, 200).unref();
  });
}

subscribe();

let inFlight = 0;
const server = new Server();
server.addService(proto.Pricer.service, traceGrpcHandlers({
  Quote(call: ServerUnaryCall<QuoteRequest, QuoteReply>, callback: sendUnaryData<QuoteReply>) {
    const { symbol, quantity, side } = call.request;
    if (!(symbol in SYMBOLS)) {
      callback({ code: status.INVALID_ARGUMENT, details: `unknown symbol ${JSON.stringify(symbol)}` } as never);
      return;
    }
    inFlight += 1;
    const inFlightAtStart = inFlight;
    const finish = (err: { code: number; details: string } | null, reply?: QuoteReply) => {
      inFlight -= 1;
      if (err) callback(err as never);
      else callback(null, reply);
    };
    // The pricing work (risk checks, a model): a slot of this pod's capacity for a drawn service time, after
    // waiting for one in FIFO order. A cancelled call frees its place.
    const abort = new AbortController();
    call.on('cancelled', () => abort.abort());
    pod.serve(abort.signal).then(
      () => {
        const t = book.get(symbol);
        const mid = t ? (t.bid + t.ask) / 2 : SYMBOLS[symbol]!;
        const spread = 0.0005 * Math.log10(10 + Math.abs(quantity));
        const price = Math.round(mid * (side === 'sell' ? 1 - spread : 1 + spread) * 100) / 100;
        publisher.Publish({ symbol, price, pricer: env.instance }, { deadline: Date.now() + 2000 }, (err, pub) => {
          if (err || !pub) {
            const e = err as (Error & { code?: number; details?: string }) | null;
            finish({ code: status.UNAVAILABLE, details: `publish failed: ${e?.details ?? e?.message ?? 'no reply'}` });
            return;
          }
          finish(null, {
            symbol,
            price,
            tickSeq: t?.seq ?? 0,
            pod: env.instance,
            zone: env.zone,
            incarnation: env.incarnation,
            inFlight: inFlightAtStart,
            publisherPod: pub.pod,
            publisherZone: pub.zone,
          });
        });
      },
      (e: unknown) => {
        if (e instanceof PodOverloadedError) finish({ code: status.RESOURCE_EXHAUSTED, details: `${env.instance}: ${e.message}` });
        else finish({ code: status.UNAVAILABLE, details: `${env.instance}: ${abort.signal.aborted ? 'call cancelled' : (e as Error).message}` });
      },
    );
  },
}));

const registration = await serveAndRegister(server, ServerCredentials.createInsecure(), env, 'pricer', goPort ?? env.port);
log(env, `serving on ${env.host}:${registration.port} in ${env.zone}, registered as pricer${env.canary ? " (canary)" : ""} (incarnation ${env.incarnation})`);
void tellParent({ type: 'ready', instance: env.instance, incarnation: env.incarnation, port: registration.port });

onShutdownSignal(async () => {
  // Deregister first (callers stop picking this pod), then drain in-flight quotes, then drop the feed stream.
  await registration.stop();
  pod.stop();
  stopping = true;
  stream?.cancel();
  feed.close();
  publisher.close();
  log(env, `stopped after ${ticksSeen} ticks`);
  await telemetry.shutdown();
});
