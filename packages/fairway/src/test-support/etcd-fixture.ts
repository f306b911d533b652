// The set-up shared by this package's real-etcd tests (weights, live configuration, health checks): a real etcd
// for the suite, loopback Echo backends and clients closed after it, and a load of callers that records which
// endpoint answered each call and when it was sent, so a test can ask what happened after a change.
import { after } from 'node:test';
import { credentials, type Client } from '@grpc/grpc-js';
import { startEtcdForSuite, startEchoBackend, loadEcho, type EchoBackend, type EchoBackendOptions, type EchoReply, type EchoRequest, type EtcdHarness } from '@fairway/testing';
import { createClient, type FairwayOptions } from '../index.js';

export type EchoClient = Client & {
  Unary(req: EchoRequest, opts: { deadline: number }, cb: (err: (Error & { code?: number }) | null, reply?: EchoReply) => void): void;
};

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** A logger (as the factory's and etcd discovery's `logger` options take). */
export interface TestLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}
export const quiet: TestLogger = { info() {}, warn() {}, error() {} };
/** A logger that keeps warnings and errors in `lines`. */
export function recordingLogger(): TestLogger & { readonly lines: string[] } {
  const lines: string[] = [];
  return { lines, info() {}, warn: (m) => void lines.push(m), error: (m) => void lines.push(m) };
}

/** Polls `done` every 20 ms until it is true or `ms` have passed; returns its last value. */
export async function waitFor(done: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (!done() && Date.now() < until) await sleep(20);
  return done();
}

/** One unary Echo call (5 s deadline) as a promise. */
export function unary(c: EchoClient, req: EchoRequest = { message: 'x' }): Promise<EchoReply> {
  return new Promise((resolve, reject) => c.Unary(req, { deadline: Date.now() + 5000 }, (err, reply) => (err ? reject(err) : resolve(reply!))));
}

/** A running load: every answered call with the time it was sent and the endpoint that answered. */
export interface Load {
  readonly log: Array<{ sentAt: number; server: string }>;
  readonly failures: unknown[];
  /** Endpoints that answered calls sent after `t` (ms since epoch). */
  since(t: number): Set<string>;
  /** Stops the callers and waits for the calls in flight. */
  stop(): Promise<void>;
}

/** `workers` callers calling `call` in a loop until `stop()`. */
export function startLoad(call: () => Promise<EchoReply>, workers = 8): Load {
  const log: Load['log'] = [];
  const failures: unknown[] = [];
  let running = true;
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      const sentAt = Date.now();
      try {
        log.push({ sentAt, server: (await call()).server_id });
      } catch (err) {
        failures.push(err);
      }
    }
  });
  return {
    log,
    failures,
    since: (t) => new Set(log.filter((r) => r.sentAt > t).map((r) => r.server)),
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** A suite's real etcd with its backends and clients, closed after the suite. Call it in the `describe` body. */
export function etcdSuite(): {
  readonly etcd: EtcdHarness;
  /** Starts a loopback Echo backend closed after the suite. */
  backend(options: EchoBackendOptions): Promise<EchoBackend>;
  /** An Echo client of `etcd:///<service>` on the suite's etcd, closed after the suite (discovery logs to `logger`, default quiet). */
  client(service: string, options?: FairwayOptions, logger?: TestLogger): EchoClient;
} {
  const backends: EchoBackend[] = [];
  const clients: Client[] = [];
  after(() => {
    for (const c of clients) c.close();
    for (const b of backends) b.forceStop();
  });
  const etcd = startEtcdForSuite();
  return {
    etcd,
    backend: async (options) => {
      const b = await startEchoBackend(options);
      backends.push(b);
      return b;
    },
    client: (service, options = {}, logger = quiet) => {
      const { EchoClient } = loadEcho();
      const c = createClient(EchoClient, `etcd:///${service}`, credentials.createInsecure(), {
        logger: quiet,
        ...options,
        discovery: { etcd: { endpoints: etcd.endpoints, logger } },
      }) as unknown as EchoClient;
      clients.push(c);
      return c;
    },
  };
}
