/**
 * How Fairway connects to etcd (shared by the discovery source and the registrar): endpoints, user/password
 * authentication, TLS, and the dial timeout, turned into an `etcd3` client.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Etcd3, IOptions } from 'etcd3';
import { hostPortProblem } from '@fairway/core';

/** TLS for the connection to etcd. PEM contents (Buffer or string) or, for a string without `-----BEGIN`, a file path. */
export interface EtcdTlsOptions {
  /** CA certificate(s) that signed etcd's server certificate. Default: the system's roots. */
  readonly ca?: Buffer | string;
  /** Client certificate chain (when etcd runs with `--client-cert-auth`). Default: none. */
  readonly cert?: Buffer | string;
  /** Private key of `cert`. Default: none. */
  readonly key?: Buffer | string;
}

/** etcd user/password authentication (etcd's `auth enable`). */
export interface EtcdAuthOptions {
  readonly username: string;
  readonly password: string;
}

/** Where etcd is and how to talk to it. */
export interface EtcdConnectionOptions {
  /**
   * etcd endpoints: `host:port` or, as etcdctl takes them, `http://host:port` (plaintext) or
   * `https://host:port` (TLS), as an array or a comma-separated string. Default: the `FAIRWAY_ETCD_ENDPOINTS`
   * environment variable (comma-separated). A target's authority (`etcd://h1:2379,h2:2379/svc`) takes
   * precedence over both. One connection serves them all, so `http://` and `https://` are not mixed; an
   * endpoint without a scheme uses TLS when `tls` is set or another endpoint says `https://`.
   */
  readonly endpoints?: string | readonly string[];
  /** User and password for an etcd with authentication enabled. Default: none. */
  readonly auth?: EtcdAuthOptions;
  /**
   * TLS to etcd; when set, every endpoint uses TLS (an `http://` endpoint is then refused). Without it, an
   * `https://` endpoint uses TLS with the system's root certificates. Default: plaintext.
   */
  readonly tls?: EtcdTlsOptions;
  /** How long a single request (the connect included) may take before etcd counts as unreachable, in ms. Default 5000. */
  readonly dialTimeoutMs?: number;
}

/** A log sink; Fairway writes what a user should know (warnings about bad keys, etcd unreachable). */
export interface EtcdLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/**
 * What the discovery source and the registrar both take besides where etcd is: each works on keys under a
 * prefix, tells the user what goes wrong, and retries with back-off while etcd fails.
 */
export interface EtcdClientOptions extends EtcdConnectionOptions {
  /** Key prefix before the service name (keys are `<prefix><service>/<instanceId>`). Default `''` (as Go's naming package). */
  readonly prefix?: string;
  /** Where warnings go. Default: stderr with a `[fairway]` prefix. */
  readonly logger?: EtcdLogger;
  /** Longest wait between retries while etcd fails (the source's reconnects, the registrar's re-registrations), in ms. Default 5000. */
  readonly maxBackoffMs?: number;
}

/** Writes to stderr with a `[fairway]` prefix. */
export const defaultEtcdLogger: EtcdLogger = {
  info: (m) => console.error(`[fairway] ${m}`),
  warn: (m) => console.error(`[fairway] warning: ${m}`),
  error: (m) => console.error(`[fairway] error: ${m}`),
};

/** Bad etcd connection options; `message` says which option and what is wrong. */
export class EtcdOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EtcdOptionsError';
  }
}

/** Checked etcd endpoints: where they are, and whether the one connection to them uses TLS. */
export interface EtcdEndpoints {
  /** `host:port` of every endpoint (any scheme removed). */
  readonly hostPorts: string[];
  /** TLS: `tls` is set, or an endpoint was written `https://`. */
  readonly useTls: boolean;
}

const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(.*)$/;

/**
 * Checks the endpoints (`host:port`, `http://host:port`, `https://host:port`) and decides plaintext or TLS
 * as etcd's own client does: `https://` asks for TLS, `http://` for plaintext, no scheme follows `tls`. Throws
 * {@link EtcdOptionsError} naming the endpoint for a bad one, an unknown scheme, `http://` beside `https://`
 * (one connection cannot be both), or `http://` with `tls` set.
 */
export function parseEndpoints(raw: string | readonly string[], tls: EtcdTlsOptions | undefined, what: string): EtcdEndpoints {
  const list = (typeof raw === 'string' ? raw.split(',') : [...raw]).map((s) => String(s).trim()).filter((s) => s !== '');
  if (list.length === 0) throw new EtcdOptionsError(`${what}: the etcd endpoint list is empty`);
  let plaintext: string | undefined;
  let secure: string | undefined;
  const hostPorts = list.map((ep) => {
    const m = SCHEME.exec(ep);
    const scheme = m?.[1]!.toLowerCase();
    if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') {
      throw new EtcdOptionsError(`${what}: etcd endpoint ${JSON.stringify(ep)}: "${m![1]}://" is not an etcd scheme: write host:port, http://host:port (plaintext) or https://host:port (TLS)`);
    }
    if (scheme === 'http') plaintext ??= ep;
    if (scheme === 'https') secure ??= ep;
    const hostPort = (m ? m[2]! : ep).replace(/\/$/, '');
    const problem = hostPortProblem(hostPort);
    if (problem) throw new EtcdOptionsError(`${what}: etcd endpoint ${JSON.stringify(ep)}: ${problem}`);
    return hostPort;
  });
  if (plaintext !== undefined && secure !== undefined) {
    throw new EtcdOptionsError(`${what}: etcd endpoints ${JSON.stringify(plaintext)} (plaintext) and ${JSON.stringify(secure)} (TLS): one connection serves every endpoint, so write them all with one scheme`);
  }
  if (plaintext !== undefined && tls !== undefined) {
    throw new EtcdOptionsError(`${what}: etcd endpoint ${JSON.stringify(plaintext)} asks for plaintext, but tls is set: write it https:// (or with no scheme) to use TLS, or leave tls out`);
  }
  return { hostPorts, useTls: tls !== undefined || secure !== undefined };
}

/** Resolves the endpoints from (in order) the target's authority, the option, `FAIRWAY_ETCD_ENDPOINTS`. */
export function resolveEndpoints(authority: string, option: string | readonly string[] | undefined, tls: EtcdTlsOptions | undefined, what: string): EtcdEndpoints {
  if (authority !== '') return parseEndpoints(authority, tls, what);
  if (option !== undefined) return parseEndpoints(option, tls, what);
  const env = process.env['FAIRWAY_ETCD_ENDPOINTS'];
  if (env !== undefined && env.trim() !== '') return parseEndpoints(env, tls, `${what} (FAIRWAY_ETCD_ENDPOINTS)`);
  throw new EtcdOptionsError(
    `${what}: no etcd endpoints: pass them in the target ("etcd://127.0.0.1:2379/<service>"), in the option discovery.etcd.endpoints, or in FAIRWAY_ETCD_ENDPOINTS`,
  );
}

function pem(v: Buffer | string | undefined, name: string, what: string): Buffer | undefined {
  if (v === undefined) return undefined;
  if (Buffer.isBuffer(v)) return v;
  if (typeof v !== 'string') throw new EtcdOptionsError(`${what}: tls.${name} must be a Buffer or a string`);
  if (v.includes('-----BEGIN')) return Buffer.from(v);
  try {
    return readFileSync(v);
  } catch (err) {
    throw new EtcdOptionsError(`${what}: tls.${name}: cannot read file ${JSON.stringify(v)}: ${(err as Error).message}`);
  }
}

/** The TLS material as Buffers: PEM text as given, anything else read as a file. Throws {@link EtcdOptionsError} naming the field. */
export function readTlsFiles(tls: EtcdTlsOptions, what: string): { ca?: Buffer; cert?: Buffer; key?: Buffer } {
  const ca = pem(tls.ca, 'ca', what);
  const cert = pem(tls.cert, 'cert', what);
  const key = pem(tls.key, 'key', what);
  return { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
}

/** Validates the connection options (types and ranges); throws {@link EtcdOptionsError} naming the option. */
export function checkConnectionOptions(o: EtcdConnectionOptions, what: string): void {
  if (o.auth !== undefined) {
    if (typeof o.auth !== 'object' || o.auth === null || typeof o.auth.username !== 'string' || typeof o.auth.password !== 'string' || o.auth.username === '') {
      throw new EtcdOptionsError(`${what}: auth must be { username: string, password: string }`);
    }
  }
  if (o.dialTimeoutMs !== undefined && (typeof o.dialTimeoutMs !== 'number' || !Number.isFinite(o.dialTimeoutMs) || o.dialTimeoutMs <= 0)) {
    throw new EtcdOptionsError(`${what}: dialTimeoutMs must be a positive number of milliseconds, got ${JSON.stringify(o.dialTimeoutMs)}`);
  }
  if (o.tls !== undefined && (typeof o.tls !== 'object' || o.tls === null)) {
    throw new EtcdOptionsError(`${what}: tls must be an object { ca?, cert?, key? }`);
  }
  if (o.tls && (o.tls.cert === undefined) !== (o.tls.key === undefined)) {
    throw new EtcdOptionsError(`${what}: tls.cert and tls.key must be given together`);
  }
}

/** Checked connection settings: where etcd is, and a way to open a client to it. */
export interface EtcdConnection {
  /** `host:port` of every etcd endpoint. */
  readonly endpoints: readonly string[];
  /** Makes a new `etcd3` client to {@link EtcdConnection.endpoints} (see {@link createEtcd3Client}); the caller closes it. */
  connect(): Etcd3;
}

/**
 * Checks the connection options and resolves the endpoints (see {@link resolveEndpoints}); throws
 * {@link EtcdOptionsError} naming `what`. Nothing connects yet: the source connects when it starts, not when
 * it is created.
 */
export function prepareConnection(authority: string, o: EtcdConnectionOptions, what: string): EtcdConnection {
  checkConnectionOptions(o, what);
  const endpoints = resolveEndpoints(authority, o.endpoints, o.tls, what);
  return { endpoints: endpoints.hostPorts, connect: () => createEtcd3Client(endpoints, o, what) };
}

/**
 * Makes an `etcd3` client for these endpoints and options. Fault handling: no circuit breaker (Fairway retries
 * itself). TLS without `tls` material: etcd3 uses the system's root certificates for `https://` hosts.
 */
export function createEtcd3Client(endpoints: EtcdEndpoints, o: EtcdConnectionOptions, what: string): Etcd3 {
  const scheme = endpoints.useTls ? 'https' : 'http';
  const opts: IOptions = {
    hosts: endpoints.hostPorts.map((h) => `${scheme}://${h}`),
    dialTimeout: o.dialTimeoutMs ?? 5000,
    grpcOptions: {
      // Find a dead etcd connection in seconds even when no request is in flight.
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 2_000,
    },
    faultHandling: {
      // No per-host circuit breaker: after etcd comes back, the next request goes through at once.
      host: () => noopPolicy,
    },
  };
  if (o.tls) {
    const { ca, cert, key } = readTlsFiles(o.tls, what);
    opts.credentials = {
      // null: the system's root certificates (grpc-js createSsl).
      rootCertificate: (ca ?? null) as Buffer,
      ...(key ? { privateKey: key } : {}),
      ...(cert ? { certChain: cert } : {}),
    };
  }
  if (o.auth) opts.auth = { username: o.auth.username, password: o.auth.password };
  return new (loadEtcd3().Etcd3)(opts);
}

/*
 * etcd3 parses its protobuf definitions when it is loaded: about 300 ms of a 400 ms `import 'fairway-grpc'` on this
 * machine. It is loaded on the first connection instead, so a process that imports `fairway-grpc` for static: or
 * k8s: targets never pays for it. etcd3 is CommonJS, so a synchronous require works from either build:
 * import.meta.url in the ESM build, the module's own __filename in the CJS build (import.meta is empty there).
 */
let etcd3Module: typeof import('etcd3') | undefined;
function loadEtcd3(): typeof import('etcd3') {
  if (etcd3Module === undefined) {
    const load = createRequire((import.meta as { url?: string }).url ?? __filename);
    etcd3Module = load('etcd3') as typeof import('etcd3');
    guardLateWatchResponses(load);
  }
  return etcd3Module;
}

type WatchManagerPrototype = {
  handleResponse?: (this: { watchers?: unknown }, res: { watch_id?: unknown }) => unknown;
  fairwayGuarded?: boolean;
};

/**
 * etcd3 1.1's WatchManager throws "Failed to find watcher for IWatchResponse" when a watch response arrives for a
 * watcher it no longer tracks (one cancelled, or dropped while its stream reconnected). It throws inside grpc-js's
 * message delivery, a promise chain, so the throw is an unhandled rejection that ends the host process: seen when a
 * source was closed after its etcd cluster had lost its leader. A response for a watcher nobody holds concerns
 * nobody, so it is dropped. Applied once, and only when etcd3 still has that method (true: applied).
 */
export function guardLateWatchResponses(load: (id: string) => unknown): boolean {
  try {
    const proto = (load('etcd3/lib/watch') as { WatchManager?: { prototype?: WatchManagerPrototype } }).WatchManager?.prototype;
    const original = proto?.handleResponse;
    if (proto === undefined || typeof original !== 'function') return false;
    if (proto.fairwayGuarded) return true;
    proto.handleResponse = function (this: { watchers?: unknown }, res: { watch_id?: unknown }) {
      const watchers = this.watchers;
      if (Array.isArray(watchers) && !watchers.some((w: { id?: unknown }) => w.id === res.watch_id)) return undefined;
      return original.call(this, res);
    };
    proto.fairwayGuarded = true;
    return true;
  } catch {
    return false; // another etcd3 layout: left as it is
  }
}

// cockatiel's `noop` policy, without importing cockatiel (a dependency of etcd3, not ours).
const noopPolicy = {
  // async: a synchronous throw inside `fn` must become a rejection (etcd3's markFailed relies on it).
  execute: async <T>(fn: (ctx: { signal: AbortSignal }) => PromiseLike<T> | T, signal: AbortSignal = new AbortController().signal) =>
    fn({ signal }),
  onSuccess: () => ({ dispose() {} }),
  onFailure: () => ({ dispose() {} }),
} as unknown as NonNullable<NonNullable<IOptions['faultHandling']>['host']> extends (h: string) => infer P ? P : never;

/** A short description of an error for logs and notes (no credentials: etcd3 errors carry none). */
export function describeError(err: unknown): string {
  if (err instanceof Error) return (err.message.split('\n')[0] ?? err.name).replace(/\.?\s*Resolution note:\s*$/, '');
  return String(err);
}
