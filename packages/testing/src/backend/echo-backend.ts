/**
 * A real grpc-js backend for the Echo test service, in this process: every call (and every streamed reply) is
 * served by a pod with a capacity (`../pod/pod-model.ts`): by default one with unlimited slots and a uniform
 * service time (`serviceTimeMs` + up to `jitterMs`), i.e. an async sleep; with `capacity`, finite slots, a
 * queue, a tailed service time and the pod's events. Also: forced error status, its own id and zone in every
 * reply, and call counts.
 */
import type { EventEmitter } from 'node:events';
import { Server, ServerCredentials, Metadata, status } from '@grpc/grpc-js';
import type {
  ServerDuplexStream,
  ServerReadableStream,
  ServerUnaryCall,
  ServerWritableStream,
  sendUnaryData,
} from '@grpc/grpc-js';
import { loadEcho } from './echo-proto.js';
import type { EchoReply, EchoRequest } from './echo-proto.js';
import { createPod, PodOverloadedError } from '../pod/pod-model.js';
import type { Pod, PodOptions, ServiceTimeDistribution } from '../pod/pod-model.js';

export interface EchoBackendOptions {
  /** Port to listen on; default 0 (any free port). */
  readonly port?: number;
  /**
   * Host to bind; default `127.0.0.1` (use `::1` for IPv6). Another local address only inside a network
   * namespace a test made (e.g. a pod address on that namespace's loopback device).
   */
  readonly host?: string;
  /** Reported in replies; default `backend-<port>`. */
  readonly id?: string;
  /** Reported in replies; default ''. */
  readonly zone?: string;
  /** Time each call (and each streamed reply) takes, ms, with unlimited slots (an async sleep). Default 0. Not with `capacity`. */
  readonly serviceTimeMs?: number;
  /** Uniform random extra time per call, 0..jitterMs ms. Default 0. Not with `capacity`. */
  readonly jitterMs?: number;
  /**
   * Serve through a pod with this capacity (slots, queue bound, service-time distribution, cold start, pauses):
   * calls beyond its slots queue, and one beyond its queue bound is answered RESOURCE_EXHAUSTED. Default: an
   * unlimited-slot pod with `serviceTimeMs`/`jitterMs`.
   */
  readonly capacity?: PodOptions;
  /** When set, every call ends with this status code (after the service time). Default none. */
  readonly failCode?: number;
}

/** Calls received so far, by method. */
export interface EchoCounts {
  unary: number;
  serverStream: number;
  clientStream: number;
  bidi: number;
  /** All methods. */
  total: number;
  /** Calls the client cancelled (or whose deadline passed) before the reply. */
  cancelled: number;
  /** Calls being served now. */
  inFlight: number;
}

export interface EchoBackend {
  /** `127.0.0.1:<port>` or `[::1]:<port>`. */
  readonly address: string;
  readonly port: number;
  readonly id: string;
  readonly zone: string;
  readonly counts: EchoCounts;
  /** The pod that serves the calls: its `stats()` (utilization, queue, queueing delay), `setCapacityFactor` (a noisy neighbour). */
  readonly pod: Pod;
  /** Changes the service time (ms) and jitter of calls that get a slot from now on (a uniform distribution). */
  setServiceTime(serviceTimeMs: number, jitterMs?: number): void;
  /** Every later call ends with this status (undefined: normal replies again). */
  setFailCode(code: number | undefined): void;
  /** Graceful: stops taking calls, lets in-flight ones finish. */
  stop(): Promise<void>;
  /** Immediate: ends every call and connection. */
  forceStop(): void;
}

/** What `serveOne` needs of a grpc-js server call. */
type CancellableCall = Pick<EventEmitter, 'on' | 'removeListener'> & { readonly cancelled: boolean };

/** Starts an Echo backend on loopback. */
export async function startEchoBackend(options: EchoBackendOptions = {}): Promise<EchoBackend> {
  const host = options.host ?? '127.0.0.1';
  if (options.capacity && (options.serviceTimeMs !== undefined || options.jitterMs !== undefined)) {
    throw new TypeError('startEchoBackend: give either capacity (a pod) or serviceTimeMs/jitterMs (an unlimited one), not both');
  }
  let serviceTimeMs = options.serviceTimeMs ?? 0;
  let jitterMs = options.jitterMs ?? 0;
  const uniform = (): ServiceTimeDistribution =>
    jitterMs > 0 ? { kind: 'uniform', minMs: serviceTimeMs, maxMs: serviceTimeMs + jitterMs } : { kind: 'fixed', ms: serviceTimeMs };
  const pod = createPod(options.capacity ?? { slots: Infinity, serviceTime: uniform() });
  let failCode = options.failCode;
  const counts: EchoCounts = { unary: 0, serverStream: 0, clientStream: 0, bidi: 0, total: 0, cancelled: 0, inFlight: 0 };
  const server = new Server();
  /** Calls being served, so that a forced stop can end them. */
  const live = new Set<AbortController>();
  let id = options.id ?? '';
  let zone = options.zone ?? '';
  let address = '';

  type Outcome = 'served' | 'cancelled' | { code: number; details: string };
  /**
   * One unit of work (a call, or one streamed reply) through the pod; a cancelled call (or a forced stop) frees
   * its slot or queue place at once.
   */
  const serveOne = async (req: EchoRequest | undefined, call: CancellableCall): Promise<Outcome> => {
    if (call.cancelled) return 'cancelled';
    const abort = new AbortController();
    const onCancel = () => abort.abort(new Error('call cancelled'));
    call.on('cancelled', onCancel);
    live.add(abort);
    try {
      await pod.serve(abort.signal, { extraServiceMs: Math.max(0, req?.delay_ms ?? 0) });
      return call.cancelled ? 'cancelled' : 'served';
    } catch (e) {
      if (abort.signal.aborted || call.cancelled) return 'cancelled';
      if (e instanceof PodOverloadedError) return { code: status.RESOURCE_EXHAUSTED, details: `${id}: ${e.message}` };
      return { code: status.UNAVAILABLE, details: `${id}: ${(e as Error).message}` };
    } finally {
      live.delete(abort);
      call.removeListener('cancelled', onCancel);
    }
  };
  const reply = (message: string, callNumber: number, sequence: number, peer: string): EchoReply => ({
    message,
    server_id: id,
    zone,
    call_number: callNumber,
    sequence,
    address,
    peer,
  });
  const echoMetadata = (incoming: Metadata): Metadata => {
    const md = new Metadata();
    for (const v of incoming.get('x-echo')) md.add('x-echo', v);
    md.set('x-server-id', id);
    return md;
  };
  const begin = (kind: 'unary' | 'serverStream' | 'clientStream' | 'bidi'): number => {
    counts[kind]++;
    counts.total++;
    counts.inFlight++;
    return counts.total;
  };
  const failure = (code: number) => ({ code, details: `${id} configured to fail with ${code}`, metadata: new Metadata() });
  const refusal = (o: { code: number; details: string }) => ({ ...o, metadata: new Metadata() });

  const { service } = loadEcho();
  server.addService(service, {
    Unary: async (call: ServerUnaryCall<EchoRequest, EchoReply>, callback: sendUnaryData<EchoReply>) => {
      const n = begin('unary');
      try {
        const code = call.request.fail_code || failCode;
        const outcome = await serveOne(call.request, call);
        if (outcome === 'cancelled') {
          counts.cancelled++;
          return;
        }
        if (outcome !== 'served') return callback(refusal(outcome));
        if (code) return callback(failure(code));
        call.sendMetadata(echoMetadata(call.metadata));
        callback(null, reply(call.request.message ?? '', n, 1, call.getPeer()), echoMetadata(call.metadata));
      } finally {
        counts.inFlight--;
      }
    },
    ServerStream: async (call: ServerWritableStream<EchoRequest, EchoReply>) => {
      const n = begin('serverStream');
      try {
        call.sendMetadata(echoMetadata(call.metadata));
        const code = call.request.fail_code || failCode;
        const total = Math.max(1, call.request.count ?? 1);
        for (let i = 1; i <= total; i++) {
          const outcome = await serveOne(call.request, call);
          if (outcome === 'cancelled') {
            counts.cancelled++;
            return;
          }
          if (outcome !== 'served' || code) {
            call.emit('error', outcome !== 'served' ? refusal(outcome) : failure(code as number));
            return;
          }
          call.write(reply(call.request.message ?? '', n, i, call.getPeer()));
        }
        call.end(echoMetadata(call.metadata));
      } finally {
        counts.inFlight--;
      }
    },
    ClientStream: (call: ServerReadableStream<EchoRequest, EchoReply>, callback: sendUnaryData<EchoReply>) => {
      const n = begin('clientStream');
      const messages: string[] = [];
      let last: EchoRequest | undefined;
      call.on('data', (req: EchoRequest) => {
        messages.push(req.message ?? '');
        last = req;
      });
      call.on('error', () => undefined);
      call.on('end', async () => {
        try {
          const outcome = await serveOne(last, call);
          if (outcome === 'cancelled') {
            counts.cancelled++;
            return;
          }
          if (outcome !== 'served') return callback(refusal(outcome));
          const code = last?.fail_code || failCode;
          if (code) return callback(failure(code));
          callback(null, reply(messages.join(','), n, messages.length, call.getPeer()), echoMetadata(call.metadata));
        } finally {
          counts.inFlight--;
        }
      });
    },
    Bidi: (call: ServerDuplexStream<EchoRequest, EchoReply>) => {
      const n = begin('bidi');
      let seq = 0;
      let chain = Promise.resolve();
      let done = false;
      const finish = () => {
        if (!done) {
          done = true;
          counts.inFlight--;
        }
      };
      call.sendMetadata(echoMetadata(call.metadata));
      call.on('data', (req: EchoRequest) => {
        const i = ++seq;
        chain = chain.then(async () => {
          const outcome = await serveOne(req, call);
          if (outcome === 'cancelled' || done) return;
          const code = req.fail_code || failCode;
          if (outcome !== 'served' || code) {
            call.emit('error', outcome !== 'served' ? refusal(outcome) : failure(code as number));
            finish();
            return;
          }
          call.write(reply(req.message ?? '', n, i, call.getPeer()));
        });
      });
      call.on('end', () => {
        void chain.then(() => {
          if (done) return;
          call.end(echoMetadata(call.metadata));
          finish();
        });
      });
      call.on('cancelled', () => {
        counts.cancelled++;
        finish();
      });
      call.on('error', () => finish());
    },
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host === '::1' ? '[::1]' : host}:${options.port ?? 0}`, ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    );
  });
  address = host === '::1' ? `[::1]:${port}` : `${host}:${port}`;
  if (!id) id = `backend-${port}`;

  return {
    address,
    port,
    get id() {
      return id;
    },
    get zone() {
      return zone;
    },
    counts,
    pod,
    setServiceTime(ms, jitter) {
      serviceTimeMs = ms;
      if (jitter !== undefined) jitterMs = jitter;
      pod.setServiceTime(uniform());
    },
    setFailCode(code) {
      failCode = code;
    },
    stop() {
      return new Promise<void>((resolve) => {
        server.tryShutdown(() => {
          pod.stop();
          resolve();
        });
      });
    },
    forceStop() {
      pod.stop();
      for (const a of live) a.abort(new Error('backend stopped'));
      server.forceShutdown();
    },
  };
}
