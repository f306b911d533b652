/**
 * `createFairwayTransport`: a connect `Transport` for the gRPC protocol that balances every call with
 * Fairway's core, as the grpc-js path does: discovery (static, etcd, Kubernetes, multi), one connect-node
 * gRPC transport per endpoint, p2c peak-EWMA with zones and weights among the ready endpoints, timeout-only
 * retries on another endpoint (core's `CallMachine`, the same `retry` option), and call observers (the same
 * `observers` option: `createTelemetryObserver()` from `@fairway/telemetry` gives a span per call and per
 * attempt with the same attributes).
 */
import { performance } from 'node:perf_hooks';
import { Code, ConnectError } from '@connectrpc/connect';
import type { ContextValues, StreamResponse, Transport, UnaryResponse } from '@connectrpc/connect';

/** connect's request header argument (`HeadersInit` of the fetch API). */
type RequestHeaders = Parameters<Transport['unary']>[3];
import type { DescMessage, DescMethodStreaming, DescMethodUnary, MessageInitShape } from '@bufbuild/protobuf';
import { BALANCER_DEFAULTS, BalancerOptionError, SELF_LOGGING_SOURCE_SCHEMES, withMultiPartLogger, CLIENT_INCARNATION_HEADER, CLIENT_INSTANCE_HEADER, newIncarnation, createRetryBudget, LatencyWindow, outcomeKindFor, guardObserver, fanOutObservers, parseRetryOptions, parseTarget, retryMethodKey, retrySettingsFor, showValue } from '@fairway/core';
import type {
  BalancerOptions,
  CallDescription,
  CallObserver,
  CallObserverFactory,
  DiscoverySource,
  DiscoverySourceFactory,
  EjectionOptions,
  EndpointStats,
  HedgePlan,
  RetryBudget,
  RetryConfig,
  RetryOptions,
  SlowStartOptions,
} from '@fairway/core';
import { createSchemeTable, discoveryOptionsFor, KNOWN_SCHEMES } from './discovery.js';
import { EndpointPool } from './endpoints.js';
import type { EndpointTransportOptions } from './endpoints.js';
import { runCall } from './call.js';
import type { SendAttempt } from './call.js';

/** Options of {@link createFairwayTransport}. Only `target` is required. */
export interface FairwayTransportOptions {
  /**
   * Where the service is: `static:///host:port[@zone],...`, `etcd://host:port/service`, `k8s:///service.namespace:port`,
   * `multi:///<target>;<target>`, or a scheme of the `sources` option. Required.
   */
  readonly target: string;
  /** This client's zone, e.g. `eu-west-1a`. Default: the `FAIRWAY_ZONE` environment variable, else none (zone-blind). */
  readonly zone?: string;
  /** This client's region. Default: `FAIRWAY_REGION`, else derived from the zone. */
  readonly region?: string;
  /** Peak-EWMA decay, ms. Default 10_000. */
  readonly decayMs?: number;
  /** Zone band low (see the README's zones section): below it the local zone keeps every call. Default 0.8 (core's). */
  readonly zoneBandLow?: number;
  /** Zone band high: above it calls spread over every zone. Default 2.0 (core's). */
  readonly zoneBandHigh?: number;
  /** Outlier ejection; `false` turns it off. Default: core's defaults. */
  readonly outlierEjection?: EjectionOptions | false;
  /** Slow start of new endpoints; `false` turns it off. Default: core's defaults. */
  readonly slowStart?: SlowStartOptions | false;
  /**
   * Timeout-only retries, exactly as for grpc-js clients: nothing is retried until `attemptTimeoutMs` is set;
   * then an attempt without an answer after that many ms is cancelled and the call goes to another endpoint
   * (at most `maxAttempts`, 5 by default, within the retry budget). Any status a server sends goes back as it is.
   * Unary calls retry; server-streaming calls only before their first message; client-streaming and bidi calls
   * are sent once, on one picked endpoint.
   */
  readonly retry?: RetryOptions;
  /** Told about every call, attempt and pick (e.g. `createTelemetryObserver()`). Default none. */
  readonly observers?: readonly CallObserverFactory[];
  /** Options of the discovery sources, by scheme: `{ etcd: {...}, kubernetes: {...} }`. */
  readonly discovery?: { readonly etcd?: unknown; readonly kubernetes?: unknown; readonly [scheme: string]: unknown };
  /** More discovery sources, by scheme (they win over the built-in ones). Default none. */
  readonly sources?: Readonly<Record<string, DiscoverySourceFactory>>;
  /** Connect to the endpoints over TLS (`https://`). Default false (h2c, as grpc-js's insecure credentials). */
  readonly tls?: boolean;
  /**
   * Options for each endpoint's connect-node gRPC transport (`useBinaryFormat`, `interceptors`,
   * `nodeOptions` for TLS material, compression, ...), except `baseUrl`, `httpVersion` and `sessionManager`,
   * which Fairway sets per endpoint.
   */
  readonly transportOptions?: EndpointTransportOptions;
  /** Where Fairway's log lines go. Default: warnings to `console.warn`, info dropped. */
  readonly logger?: { info(message: string): void; warn(message: string): void };
  /** Random source for the picker, in [0, 1). Default `Math.random` (tests pass a seeded one). */
  readonly random?: () => number;
  /**
   * This client's identity, sent on every attempt as `fairway-client-instance` / `fairway-client-incarnation`
   * (servers using `newestStreamWins` keep only the newest incarnation's streams). `instance`: stable across
   * restarts, unique per process (e.g. the pod name); `incarnation` defaults to `<process start ms>-<hex>`.
   * Default: `{ instance: FAIRWAY_INSTANCE }` when that environment variable is set, else none.
   */
  readonly identity?: { readonly instance: string; readonly incarnation?: string };
}

/** A bad option of {@link createFairwayTransport}; `option` names it. */
export class FairwayTransportOptionsError extends Error {
  /** The option that was wrong, e.g. `target` or `retry.attemptTimeoutMs`. */
  readonly option: string;
  constructor(option: string, problem: string) {
    super(`createFairwayTransport: ${option} ${problem}`);
    this.name = 'FairwayTransportOptionsError';
    this.option = option;
  }
}

/** The transport {@link createFairwayTransport} returns: a connect `Transport` plus its own life cycle. */
export interface FairwayTransport extends Transport {
  /** The target it balances over. */
  readonly target: string;
  /** Each endpoint's address, whether its connection is up, and the balancer's figures for it. */
  endpoints(): Array<{ readonly address: string; readonly ready: boolean; readonly stats: EndpointStats | undefined }>;
  /** Stops discovery and closes every connection; calls in flight end with an error. Idempotent. */
  close(): Promise<void>;
}

const KNOWN_OPTIONS = new Set([
  'target', 'zone', 'region', 'decayMs', 'zoneBandLow', 'zoneBandHigh', 'outlierEjection', 'slowStart', 'retry', 'observers', 'discovery', 'sources', 'tls', 'transportOptions', 'logger', 'random', 'identity',
]);

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function nonEmptyString(v: unknown, option: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.trim() === '') throw new FairwayTransportOptionsError(option, `must be a non-empty string, got ${showValue(v)}`);
  return v.trim();
}



let incarnationOfProcess: string | undefined;
/** This process's incarnation, `<process start ms>-<hex>` (core's `newIncarnation`), made once per process. */
function processIncarnation(): string {
  incarnationOfProcess ??= newIncarnation(Math.floor(performance.timeOrigin), Math.random);
  return incarnationOfProcess;
}

/** The longest call timeout (ms): 99,999,999, about 27.8 hours, the most grpc-timeout carries in milliseconds. */
const MAX_TIMEOUT_MS = 99_999_999;

/** connect's `timeoutMs` as a call deadline: undefined for none; a clear error for a value that is no duration. */
function checkTimeout(timeoutMs: unknown, method: string): number | undefined {
  if (timeoutMs === undefined) return undefined;
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs)) {
    throw new ConnectError(`${method}: timeoutMs must be a number of milliseconds, got ${showValue(timeoutMs)}`, Code.InvalidArgument);
  }
  // A longer timeout cannot be carried: connect-node writes grpc-timeout in milliseconds, and the wire format
  // allows 8 digits (servers refuse "2147483647m" as a protocol error); above 2^31 - 1 ms Node also fires every
  // timer armed from it (Fairway's wait for an endpoint, connect-node's deadline signal) at once. So it is held
  // at the longest one that works end to end.
  if (timeoutMs > MAX_TIMEOUT_MS) return MAX_TIMEOUT_MS;
  return timeoutMs; // 0 or less: the call machine ends it at once with DEADLINE_EXCEEDED, saying so
}

/**
 * Makes a connect `Transport` (for `createClient(Service, transport)` of `@connectrpc/connect`) that balances
 * each call over the endpoints of `options.target`. Throws {@link FairwayTransportOptionsError} (or the
 * target's `TargetError`) naming what is wrong when an option or the target is malformed; a target whose
 * scheme needs a discovery package that is not installed throws an error naming the install command.
 */
export function createFairwayTransport(options: FairwayTransportOptions): FairwayTransport {
  if (!isPlainObject(options)) throw new FairwayTransportOptionsError('(options)', `must be an object with at least { target }, got ${showValue(options)}`);
  for (const k of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(k)) throw new FairwayTransportOptionsError(k, `is not an option (known: ${[...KNOWN_OPTIONS].join(', ')})`);
  }
  const target = nonEmptyString(options.target, 'target');
  if (target === undefined) throw new FairwayTransportOptionsError('target', 'is required, e.g. "static:///127.0.0.1:50051,127.0.0.1:50052" or "etcd://127.0.0.1:2379/pricer"');
  const parsed = parseTarget(target); // throws TargetError naming the target
  if (options.sources !== undefined && !isPlainObject(options.sources)) throw new FairwayTransportOptionsError('sources', 'must be an object { scheme: DiscoverySourceFactory }');
  for (const [scheme, f] of Object.entries(options.sources ?? {})) {
    if (typeof f !== 'function') throw new FairwayTransportOptionsError(`sources.${scheme}`, 'must be a DiscoverySourceFactory function');
  }
  if (options.discovery !== undefined && !isPlainObject(options.discovery)) throw new FairwayTransportOptionsError('discovery', 'must be an object like { etcd: {...}, kubernetes: {...} }');
  if (options.tls !== undefined && typeof options.tls !== 'boolean') throw new FairwayTransportOptionsError('tls', `must be true or false, got ${showValue(options.tls)}`);
  if (options.random !== undefined && typeof options.random !== 'function') throw new FairwayTransportOptionsError('random', 'must be a function returning a number in [0, 1)');
  if (options.transportOptions !== undefined) {
    if (!isPlainObject(options.transportOptions)) throw new FairwayTransportOptionsError('transportOptions', 'must be an object of connect-node gRPC transport options');
    for (const k of ['baseUrl', 'httpVersion', 'sessionManager']) {
      if (k in options.transportOptions) throw new FairwayTransportOptionsError(`transportOptions.${k}`, 'is set by Fairway for each endpoint: leave it out (the endpoints come from the target)');
    }
  }
  let observers: readonly CallObserverFactory[] = [];
  if (options.observers !== undefined) {
    if (!Array.isArray(options.observers)) throw new FairwayTransportOptionsError('observers', 'must be an array of CallObserverFactory');
    options.observers.forEach((o, i) => {
      if (!o || typeof (o as CallObserverFactory).onCallStart !== 'function') throw new FairwayTransportOptionsError(`observers[${i}]`, 'must have an onCallStart(call) method');
    });
    observers = options.observers;
  }
  let retry: RetryConfig;
  try {
    retry = parseRetryOptions(options.retry);
  } catch (e) {
    throw new FairwayTransportOptionsError('retry', `is invalid: ${(e as Error).message}`);
  }
  const env = process.env;
  if (options.identity !== undefined) {
    if (!isPlainObject(options.identity)) throw new FairwayTransportOptionsError('identity', 'must be an object { instance, incarnation? }');
    nonEmptyString(options.identity.instance, 'identity.instance');
    if (options.identity.instance === undefined) throw new FairwayTransportOptionsError('identity.instance', 'is required');
    nonEmptyString(options.identity.incarnation, 'identity.incarnation');
  }
  const instance = options.identity?.instance ?? (env['FAIRWAY_INSTANCE']?.trim() || undefined);
  const identityHeaders: Readonly<Record<string, string>> =
    instance === undefined
      ? {}
      : { [CLIENT_INSTANCE_HEADER]: instance, [CLIENT_INCARNATION_HEADER]: options.identity?.incarnation ?? processIncarnation() };
  const zone = nonEmptyString(options.zone, 'zone') ?? (env['FAIRWAY_ZONE']?.trim() || undefined);
  const region = nonEmptyString(options.region, 'region') ?? (env['FAIRWAY_REGION']?.trim() || undefined);
  if (options.logger !== undefined && (!isPlainObject(options.logger) || typeof options.logger.info !== 'function' || typeof options.logger.warn !== 'function')) {
    throw new FairwayTransportOptionsError('logger', 'must be an object with info(message) and warn(message) methods');
  }
  const logger = options.logger ?? { info: () => {}, warn: (m: string) => console.warn(`[fairway] ${m}`) };
  const balancer: BalancerOptions = {
    ...(zone !== undefined ? { clientZone: zone } : {}),
    ...(region !== undefined ? { clientRegion: region } : {}),
    ...(options.decayMs !== undefined ? { decayMs: options.decayMs } : {}),
    ...(options.zoneBandLow !== undefined || options.zoneBandHigh !== undefined
      ? { zoneBand: { low: options.zoneBandLow ?? BALANCER_DEFAULTS.zoneBand.low, high: options.zoneBandHigh ?? BALANCER_DEFAULTS.zoneBand.high } }
      : {}),
    ...(options.outlierEjection !== undefined ? { ejection: options.outlierEjection } : {}),
    ...(options.slowStart !== undefined ? { slowStart: options.slowStart } : {}),
    // As on the grpc-js path: each ejection, probe and re-admission is a log line and goes to the observers
    // (metrics, span events).
    onEjection: (event) => {
      logger.info(`outlier ejection: ${event.detail}`);
      for (const f of observers) {
        try {
          f.onEndpointEvent?.(event);
        } catch {
          // an observer's failure never reaches the balancer
        }
      }
    },
    onZoneModeChange: (from, to, why) => logger.info(`zone mode ${from} -> ${to}: ${why}`),
  };

  const now = (): number => performance.now();
  const defer = (fn: () => void): void => void setImmediate(fn);
  const schemes = createSchemeTable(options.sources ?? {}, defer);
  const factory = schemes(parsed.scheme);
  if (!factory) {
    throw new FairwayTransportOptionsError('target', `${JSON.stringify(target)}: no discovery source for scheme "${parsed.scheme}" (known: ${[...new Set([...KNOWN_SCHEMES, ...Object.keys(options.sources ?? {})])].join(', ')}; add one with the sources option)`);
  }
  let pool: EndpointPool;
  try {
    pool = new EndpointPool({
      balancer,
      tls: options.tls ?? false,
      transportOptions: options.transportOptions ?? {},
      now,
      random: options.random ?? Math.random,
      log: (level, m) => logger[level](m),
    });
  } catch (e) {
    // core names a field by the balancer's name for it (ejection.x): name the transport's option.
    if (e instanceof BalancerOptionError && e.field !== undefined) {
      throw new FairwayTransportOptionsError(`${e.option === 'ejection' ? 'outlierEjection' : 'slowStart'}.${e.field}`, e.problem);
    }
    throw new FairwayTransportOptionsError('(balancer options)', `are invalid: ${(e as Error).message}`);
  }
  // Fairway's own sources log at `error` each failure they hand on; the pool then leaves it unsaid (it was said
  // twice). They take the transport's `logger` unless their options name one (it has no `error`: a warning here).
  const ownSource = SELF_LOGGING_SOURCE_SCHEMES.has(parsed.scheme);
  let sourceOptions = parsed.scheme === 'multi' ? options.discovery : discoveryOptionsFor(options.discovery, parsed.scheme);
  if (ownSource && options.logger !== undefined && (sourceOptions as { logger?: unknown } | undefined)?.logger === undefined) {
    sourceOptions = { ...(sourceOptions as object | undefined), logger: { info: (m: string) => logger.info(m), warn: (m: string) => logger.warn(m), error: (m: string) => logger.warn(m) } };
  }
  if (parsed.scheme === 'multi') {
    // The multi source hands on each part's failure with the part named, and the pool logs that.
    sourceOptions = withMultiPartLogger(sourceOptions, { info: (m) => logger.info(m), warn: (m) => logger.warn(m), error: () => {} });
  }
  const source: DiscoverySource = factory(parsed, sourceOptions);
  pool.follow(source, target, ownSource);

  const budget: RetryBudget = createRetryBudget(retry.budget);
  const hedgePlans = new Map<string, HedgePlan | undefined>();
  let hedgeBudget: RetryBudget | undefined;
  const hedgePlanFor = (path: string, idempotent: boolean): HedgePlan | undefined => {
    const h = retry.hedging;
    if (!h) return undefined;
    if (hedgePlans.has(path)) return hedgePlans.get(path);
    const key = retryMethodKey(path);
    let plan: HedgePlan | undefined;
    if (h.methods.has(key) || (h.idempotent && idempotent)) {
      hedgeBudget ??= createRetryBudget(h.budget);
      plan = { delayMs: h.delayMs, maxHedges: h.maxHedges, latency: new LatencyWindow(h.percentile / 100), budget: hedgeBudget };
    }
    hedgePlans.set(path, plan);
    return plan;
  };
  const seenErrors = new Set<string>();
  const reportObserverError = (error: unknown): void => {
    const message = error instanceof Error ? error.message : String(error);
    if (seenErrors.size > 100 || seenErrors.has(message)) return;
    seenErrors.add(message);
    logger.warn(`a call observer threw (the call goes on): ${message}`);
  };
  const observeCall = (description: CallDescription): CallObserver | undefined => {
    const started: CallObserver[] = [];
    for (const f of observers) {
      try {
        started.push(guardObserver(f.onCallStart(description), reportObserverError));
      } catch (e) {
        reportObserverError(e);
      }
    }
    return fanOutObservers(started);
  };
  const describe = (path: string, kind: CallDescription['kind']): CallDescription => ({ method: path, kind, target, ...(zone !== undefined ? { clientZone: zone } : {}) });
  let closed = false;
  /** What the call runner needs for one unary or server-streaming call. */
  const callSetup = (path: string, kind: 'unary' | 'server_stream', method: { readonly idempotency?: number }, signal: AbortSignal | undefined, deadline: number | undefined, header: RequestHeaders) => {
    // NO_SIDE_EFFECTS (1) and IDEMPOTENT (2) of the proto's idempotency_level.
    const hedge = hedgePlanFor(path, method.idempotency === 1 || method.idempotency === 2);
    return {
      pool,
      plan: { kind, settings: retrySettingsFor(retry, path), budget, ...(hedge ? { hedge } : {}) },
      observer: observeCall(describe(path, kind)),
      now,
      target,
      headers: identityHeaders,
      header,
      signal,
      timeoutMs: deadline,
    };
  };

  return {
    target,
    unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: RequestHeaders,
      input: MessageInitShape<I>,
      contextValues?: ContextValues,
    ): Promise<UnaryResponse<I, O>> {
      const path = `/${method.parent.typeName}/${method.name}`;
      let deadline: number | undefined;
      try {
        deadline = checkTimeout(timeoutMs, path);
      } catch (e) {
        return Promise.reject(e);
      }
      if (closed) return Promise.reject(new ConnectError(`${target}: the Fairway transport was closed`, Code.Unavailable));
      const send: SendAttempt<UnaryResponse<I, O>> = async (transport, attemptSignal, attemptTimeoutMs, headers) => ({
        value: await transport.unary(method, attemptSignal, attemptTimeoutMs, headers, input, contextValues),
        ended: true,
      });
      return runCall(callSetup(path, 'unary', method, signal, deadline, header), send);
    },

    async stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: RequestHeaders,
      input: AsyncIterable<MessageInitShape<I>>,
      contextValues?: ContextValues,
    ): Promise<StreamResponse<I, O>> {
      const path = `/${method.parent.typeName}/${method.name}`;
      const deadline = checkTimeout(timeoutMs, path);
      if (closed) throw new ConnectError(`${target}: the Fairway transport was closed`, Code.Unavailable);
      if (deadline !== undefined && deadline <= 0) {
        throw new ConnectError(`Deadline exceeded before the call started: timeoutMs was ${deadline} (zero or less); no attempt was sent (Fairway)`, Code.DeadlineExceeded);
      }
      if (method.methodKind === 'server_streaming') {
        // One request message: kept, so that a timed-out attempt can be sent again to another endpoint.
        const requests: Array<MessageInitShape<I>> = [];
        for await (const m of input) requests.push(m);
        const send: SendAttempt<StreamResponse<I, O>> = async (transport, attemptSignal, attemptTimeoutMs, headers, events) => {
          const response = await transport.stream(method, attemptSignal, attemptTimeoutMs, headers, replay(requests), contextValues);
          const messages = response.message[Symbol.asyncIterator]();
          const first = await messages.next();
          if (first.done) return { value: { ...response, message: replay([]) } as StreamResponse<I, O>, ended: true };
          events.firstMessage();
          return { value: { ...response, message: rest(first.value, messages, events) } as StreamResponse<I, O>, ended: false };
        };
        return runCall(callSetup(path, 'server_stream', method, signal, deadline, header), send);
      }
      const kind: CallDescription['kind'] = method.methodKind === 'client_streaming' ? 'client_stream' : 'bidi';
      return streamOnce(method, signal, deadline, header, input, contextValues, kind, path);
    },

    endpoints() {
      const stats = new Map(pool.balancer.snapshot(now()).map((s) => [s.key, s]));
      return pool.readiness().map((r) => ({ address: r.address, ready: r.ready, stats: stats.get(r.key) }));
    },

    async close() {
      if (closed) return;
      closed = true;
      pool.close();
      await source.close();
    },
  };

  /** A streaming call: one pick, sent once (no retries: its messages are not kept for a replay). */
  async function streamOnce<I extends DescMessage, O extends DescMessage>(
    method: DescMethodStreaming<I, O>,
    signal: AbortSignal | undefined,
    deadline: number | undefined,
    header: RequestHeaders,
    input: AsyncIterable<MessageInitShape<I>>,
    contextValues: ContextValues | undefined,
    kind: CallDescription['kind'],
    path: string,
  ): Promise<StreamResponse<I, O>> {
    const startMs = now();
    const observer = observeCall(describe(path, kind));
    const attempt = observer?.onAttemptStart(1, { reason: 'first', detail: 'first attempt' });
    const end = (code: number, details: string): void => {
      attempt?.onEnd({ code, details, timedOut: false });
      observer?.onEnd({ code, details });
    };
    const wait = new AbortController();
    const onAbort = (): void => wait.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const waitTimer = deadline !== undefined ? setTimeout(onAbort, deadline) : undefined;
    let handle;
    try {
      handle = await pool.pick(new Set(), wait.signal);
    } finally {
      if (waitTimer) clearTimeout(waitTimer);
      signal?.removeEventListener('abort', onAbort);
    }
    const acquired = handle ? pool.acquire(handle.key) : undefined;
    if (!handle || !acquired) {
      handle?.release({ kind: 'cancelled' }, now());
      const details = `${target}: no endpoint to send the call to: ${pool.whyNothing()}`;
      end(Code.Unavailable, details);
      throw new ConnectError(details, Code.Unavailable);
    }
    attempt?.onPick(handle.explanation);
    const headers = new Headers(header);
    for (const [k, v] of Object.entries(identityHeaders)) headers.set(k, v);
    for (const [k, v] of Object.entries(attempt?.outgoingHeaders() ?? {})) headers.set(k, v);
    const finishWith = (code: number, details: string, error?: ConnectError): void => {
      handle.release({ kind: error ? outcomeKindFor(code, details) : 'success', latencyMs: now() - startMs }, now());
      if (code !== 0) pool.checkConnection(handle.key);
      acquired.release();
      end(code, details);
    };
    const remaining = deadline === undefined ? undefined : Math.max(1, Math.floor(deadline - (now() - startMs)));
    let response: StreamResponse<I, O>;
    try {
      response = await acquired.connection.transport.stream(method, signal, remaining, headers, input, contextValues);
    } catch (e) {
      const error = ConnectError.from(e);
      finishWith(error.code, error.rawMessage, error);
      throw error;
    }
    const messages = response.message;
    return {
      ...response,
      message: (async function* () {
        let ended = false;
        try {
          for await (const m of messages) yield m;
          ended = true;
          finishWith(0, '');
        } catch (e) {
          ended = true;
          const error = ConnectError.from(e);
          finishWith(error.code, error.rawMessage, error);
          throw error;
        } finally {
          // The caller stopped reading before the end (break): the stream is cancelled.
          if (!ended) finishWith(Code.Canceled, 'the caller stopped reading the stream');
        }
      })(),
    } as StreamResponse<I, O>;
  }
}


/** An async iterable of `items` (a request replayed on each attempt). */
async function* replay<T>(items: readonly T[]): AsyncIterable<T> {
  yield* items;
}

/**
 * The committed stream as the caller reads it: its first message, then the rest; its end (or error, or the
 * caller stopping early) is reported to the call runner.
 */
async function* rest<T>(first: T, messages: AsyncIterator<T>, events: { ended(error?: ConnectError): void }): AsyncIterable<T> {
  let ended = false;
  try {
    yield first;
    for (;;) {
      const next = await messages.next();
      if (next.done) break;
      yield next.value;
    }
    ended = true;
    events.ended();
  } catch (e) {
    ended = true;
    const error = ConnectError.from(e);
    events.ended(error);
    throw error;
  } finally {
    if (!ended) {
      // The caller stopped reading early (break): the stream is cancelled.
      events.ended(new ConnectError('the caller stopped reading the stream', Code.Canceled));
      void messages.return?.();
    }
  }
}
