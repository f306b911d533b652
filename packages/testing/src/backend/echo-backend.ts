/**
 * A real grpc-js backend for the Echo test service, in this process: configurable service time, jitter,
 * forced error status, its own id and zone in every reply, and call counts.
 */
import { Server, ServerCredentials, Metadata } from '@grpc/grpc-js';
import type {
  ServerDuplexStream,
  ServerReadableStream,
  ServerUnaryCall,
  ServerWritableStream,
  sendUnaryData,
} from '@grpc/grpc-js';
import { loadEcho } from './echo-proto.js';
import type { EchoReply, EchoRequest } from './echo-proto.js';

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
  /** Time each call (and each streamed reply) takes, ms. Default 0. */
  readonly serviceTimeMs?: number;
  /** Uniform random extra time per call, 0..jitterMs ms. Default 0. */
  readonly jitterMs?: number;
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
  /** Changes the service time (ms) and jitter of calls that start from now on. */
  setServiceTime(serviceTimeMs: number, jitterMs?: number): void;
  /** Every later call ends with this status (undefined: normal replies again). */
  setFailCode(code: number | undefined): void;
  /** Graceful: stops taking calls, lets in-flight ones finish. */
  stop(): Promise<void>;
  /** Immediate: ends every call and connection. */
  forceStop(): void;
}

/** Starts an Echo backend on loopback. */
export async function startEchoBackend(options: EchoBackendOptions = {}): Promise<EchoBackend> {
  const host = options.host ?? '127.0.0.1';
  let serviceTimeMs = options.serviceTimeMs ?? 0;
  let jitterMs = options.jitterMs ?? 0;
  let failCode = options.failCode;
  const counts: EchoCounts = { unary: 0, serverStream: 0, clientStream: 0, bidi: 0, total: 0, cancelled: 0, inFlight: 0 };
  const server = new Server();
  const timers = new Set<NodeJS.Timeout>();
  let id = options.id ?? '';
  let zone = options.zone ?? '';
  let address = '';

  const delayFor = (req: EchoRequest | undefined): number =>
    serviceTimeMs + (jitterMs > 0 ? Math.random() * jitterMs : 0) + (req?.delay_ms ?? 0);
  const wait = (ms: number, isCancelled: () => boolean): Promise<boolean> =>
    new Promise((resolve) => {
      if (ms <= 0) return resolve(!isCancelled());
      const t = setTimeout(() => {
        timers.delete(t);
        resolve(!isCancelled());
      }, ms);
      timers.add(t);
    });
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

  const { service } = loadEcho();
  server.addService(service, {
    Unary: async (call: ServerUnaryCall<EchoRequest, EchoReply>, callback: sendUnaryData<EchoReply>) => {
      const n = begin('unary');
      try {
        const code = call.request.fail_code || failCode;
        const alive = await wait(delayFor(call.request), () => call.cancelled);
        if (!alive) {
          counts.cancelled++;
          return;
        }
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
          const alive = await wait(delayFor(call.request), () => call.cancelled);
          if (!alive) {
            counts.cancelled++;
            return;
          }
          if (code) {
            call.emit('error', failure(code));
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
          const alive = await wait(delayFor(last), () => call.cancelled);
          if (!alive) {
            counts.cancelled++;
            return;
          }
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
          const alive = await wait(delayFor(req), () => call.cancelled);
          if (!alive || done) return;
          const code = req.fail_code || failCode;
          if (code) {
            call.emit('error', failure(code));
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
    setServiceTime(ms, jitter) {
      serviceTimeMs = ms;
      if (jitter !== undefined) jitterMs = jitter;
    },
    setFailCode(code) {
      failCode = code;
    },
    stop() {
      return new Promise<void>((resolve) => {
        server.tryShutdown(() => {
          for (const t of timers) clearTimeout(t);
          resolve();
        });
      });
    },
    forceStop() {
      for (const t of timers) clearTimeout(t);
      server.forceShutdown();
    },
  };
}
