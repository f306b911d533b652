/**
 * The call layer: a grpc-js client interceptor that runs each call as attempts (each its own grpc-js call with
 * its own pick), retries only attempts whose Fairway attempt timer fired, tells observers (telemetry) about
 * the call, each attempt and each pick, and sends the client's identity on every call.
 *
 * Wiring (for the factory):
 * ```ts
 * const retry = parseRetryOptions(options.retry);          // throws RetryOptionsError naming the field
 * const interceptor = createCallInterceptor({ retry, observers, target, clientZone, identity });
 * new Ctor(target, creds, { ...channelOptions, interceptors: [interceptor, ...userInterceptors] });
 * ```
 * The interceptor should come first (outermost), so user interceptors run once per attempt.
 *
 * grpc-js's own retries: keep `'grpc.enable_retries'` at its default (on) and put no `retryPolicy` or
 * `hedgingPolicy` in the service config. With no policy grpc-js makes only *transparent* retries: it re-picks
 * a request that never reached a server (a stream it could not create, a first refused stream), which is
 * safe and is not a retry of the transaction; the call layer adds its own re-pick, on an endpoint not tried
 * yet, for what those leave (see `fairway-call.ts`). Status-code retries (gRFC A6) are never configured, so
 * UNAVAILABLE, INTERNAL, ... go back to the caller as they are. (A resolver-supplied service config could add
 * a retryPolicy; Fairway's resolvers supply none.)
 *
 * @packageDocumentation
 */
import { performance } from 'node:perf_hooks';
import type { InterceptingCall, Interceptor } from '@grpc/grpc-js';
import {
  parseRetryOptions as parseRetryOptionsCore,
  retrySettingsFor,
  retryMethodKey,
  createRetryBudget,
  newIncarnation,
  LatencyWindow,
  guardObserver,
  fanOutObservers,
  showValue,
} from '@fairway/core';
import type { CallDescription, CallObserver, CallObserverFactory, HedgePlan, MethodRetrySettings, RetryBudget, RetryConfig } from '@fairway/core';
import { FairwayCall, deadlineWallMs } from './fairway-call.js';
import type { LiveSettings } from '../live-settings.js';
import { nowMs } from '../clock.js';

export type {
  RetryOptions,
  MethodRetryOptions,
  RetryBudgetOptions,
  RetryConfig,
  MethodRetrySettings,
  HedgingOptions,
} from '@fairway/core';
export { RetryOptionsError, ATTEMPT_TIMEOUT_DETAILS_PREFIX, HEDGE_LOST_DETAILS_PREFIX } from '@fairway/core';

/**
 * Validates the factory's `retry` option. Throws `RetryOptionsError` naming the field and the problem, e.g.
 * `retry.methods['trading.Pricer/Quote'].maxAttempts: 7 is outside 1..6`.
 *
 * Defaults: no `attemptTimeoutMs` (so no retries until one is set: only the method's owner knows how long a
 * healthy answer takes), `maxAttempts` 5, `retryIntervalMs` 50, budget 20% of calls + 10/s over 10 s, no
 * hedging.
 */
export function parseRetryOptions(raw: unknown): RetryConfig {
  return parseRetryOptionsCore(raw);
}

/** The client's identity, sent on every call as `fairway-client-instance` / `fairway-client-incarnation`. */
export interface ClientIdentity {
  /** Stable name of this client process (e.g. the pod name). */
  readonly instance: string;
  /** Which start of it this is; see `newIncarnation` in `@fairway/core` (`<start ms>-<hex>`). */
  readonly incarnation: string;
}

let processIdentity: ClientIdentity | undefined;
let processIncarnationValue: string | undefined;

/**
 * This process's incarnation: `<process start time in ms>-<4 hex digits>` (see `newIncarnation` in core), made
 * once per process, so every client in the process reports the same one and a restart gets a newer one.
 */
export function processIncarnation(): string {
  processIncarnationValue ??= newIncarnation(Math.floor(performance.timeOrigin), Math.random);
  return processIncarnationValue;
}

/**
 * Sets the identity every Fairway client in this process sends on every call (`fairway-client-instance`,
 * `fairway-client-incarnation`), so that servers using `newestStreamWins` keep only this process's newest
 * streams. `instance` must be stable across restarts and unique per process (e.g. the pod name, plus a worker
 * number when one pod runs several processes); `incarnation` defaults to {@link processIncarnation}.
 * `undefined` stops sending it. Default: none, unless the `FAIRWAY_INSTANCE` environment variable is set
 * (then `{ instance: FAIRWAY_INSTANCE, incarnation: processIncarnation() }`; read once, at the first call).
 */
export function setClientIdentity(identity: { readonly instance: string; readonly incarnation?: string } | undefined): void {
  if (identity === undefined) {
    processIdentity = undefined;
    return;
  }
  if (typeof identity.instance !== 'string' || identity.instance.trim() === '') {
    throw new TypeError(`setClientIdentity: instance must be a non-empty string, got ${showValue(identity.instance)}`);
  }
  if (identity.incarnation !== undefined && (typeof identity.incarnation !== 'string' || identity.incarnation === '')) {
    throw new TypeError(`setClientIdentity: incarnation must be a non-empty string, got ${showValue(identity.incarnation)}`);
  }
  processIdentity = { instance: identity.instance, incarnation: identity.incarnation ?? processIncarnation() };
}

/** `FAIRWAY_INSTANCE` as read once: null when unset. */
let envIdentity: ClientIdentity | null | undefined;

/**
 * The identity set by {@link setClientIdentity} or `FAIRWAY_INSTANCE`, if any. The environment variable is read
 * once, at the first call: every call asks, and a `process.env` read goes through C++ (2.7 us per call in the
 * client-path profile, `bench/probes`), more than Fairway's whole picker path.
 */
export function getClientIdentity(): ClientIdentity | undefined {
  if (processIdentity) return processIdentity;
  if (envIdentity === undefined) {
    const fromEnv = process.env['FAIRWAY_INSTANCE'];
    envIdentity = fromEnv ? { instance: fromEnv, incarnation: processIncarnation() } : null;
  }
  return envIdentity ?? undefined;
}

/** What {@link createCallInterceptor} needs. */
export interface CallInterceptorConfig {
  /** From {@link parseRetryOptions}. */
  readonly retry: RetryConfig;
  /** Told about every call, attempt and pick (e.g. telemetry). Their exceptions are caught. Default none. */
  readonly observers?: readonly CallObserverFactory[];
  /** The channel's target string (for `CallDescription.target`). */
  readonly target: string;
  /** The caller's zone, when known. */
  readonly clientZone?: string;
  /** Sent in metadata on every call. Default: the process identity ({@link setClientIdentity}), if any. */
  readonly identity?: ClientIdentity;
  /** Where an observer's exception is reported (once per distinct message). Default `console.error`. */
  readonly onObserverError?: (error: unknown) => void;
  /**
   * Methods (`package.Service/Method`) whose proto declares them idempotent (`idempotency_level`
   * `IDEMPOTENT` or `NO_SIDE_EFFECTS`): hedged when `retry.hedging.idempotent` is set. Default none.
   */
  readonly idempotentMethods?: ReadonlySet<string>;
  /**
   * The channel's live settings (from a live configuration document): when they carry retry settings, those
   * replace `retry` from the next call on; their revision goes on every call (`CallDescription.configRevision`).
   */
  readonly live?: LiveSettings;
}

/** The retry settings in force for a document revision, with their budget and hedging state. */
interface RetryInForce {
  readonly revision: number;
  readonly retry: RetryConfig;
  readonly budget: RetryBudget;
  readonly hedging: Hedging | undefined;
  /**
   * Each method's settings by its path as grpc-js gives it (`/package.Service/Method`): looked up once per
   * method, not once per call (the lookup key is the path without its slash, a new string per call to hash).
   */
  readonly settingsByPath: Map<string, MethodRetrySettings>;
}

/** Methods whose settings a client keeps looked up (a client calls a few; this only bounds a strange one). */
const MAX_CACHED_METHODS = 1_000;

/** Hedging state of one client: a latency window per hedged method, one hedge budget for all of them. */
class Hedging {
  private readonly plans = new Map<string, HedgePlan | undefined>();
  private budget: RetryBudget | undefined;

  constructor(
    private readonly retry: RetryConfig,
    private readonly idempotent: ReadonlySet<string>,
  ) {}

  /** The plan for `path` (`/package.Service/Method`), undefined when the method is not hedged. */
  planFor(path: string): HedgePlan | undefined {
    const cached = this.plans.get(path);
    if (cached !== undefined || this.plans.has(path)) return cached;
    const h = this.retry.hedging;
    const key = retryMethodKey(path);
    let plan: HedgePlan | undefined;
    if (h && (h.methods.has(key) || (h.idempotent && this.idempotent.has(key)))) {
      this.budget ??= createRetryBudget(h.budget);
      plan = { delayMs: h.delayMs, maxHedges: h.maxHedges, latency: new LatencyWindow(h.percentile / 100), budget: this.budget };
    }
    this.plans.set(path, plan);
    return plan;
  }
}



function defaultObserverErrorReporter(): (error: unknown) => void {
  const seen = new Set<string>();
  return (error) => {
    const message = error instanceof Error ? error.message : String(error);
    if (seen.size > 100 || seen.has(message)) return;
    seen.add(message);
    console.error(`[fairway] warning: a call observer threw (the call goes on): ${message}`);
  };
}

/**
 * A grpc-js client interceptor that runs calls as Fairway does: timeout-only retries on other endpoints,
 * transparent re-picks, hedging of the methods named, observers, identity headers. One budget per interceptor, so create one per client (or share one between
 * clients that should share a budget).
 */
/** Beyond this (ms, about 3,170 years) a deadline is treated as none (see `createCallInterceptor`). */
const FAR_DEADLINE_MS = 1e14;

export function createCallInterceptor(config: CallInterceptorConfig): Interceptor {
  const report = config.onObserverError ?? defaultObserverErrorReporter();
  const factories = config.observers ?? [];
  const idempotent = config.idempotentMethods ?? new Set<string>();
  const live = config.live;
  let inForce: RetryInForce = {
    revision: 0,
    retry: config.retry,
    budget: createRetryBudget(config.retry.budget),
    hedging: config.retry.hedging ? new Hedging(config.retry, idempotent) : undefined,
    settingsByPath: new Map(),
  };
  /** The settings for a call starting now: a new live document takes effect at the next call (calls in flight keep theirs). */
  const current = (): RetryInForce => {
    if (live === undefined || live.revision === inForce.revision) return inForce;
    const retry = live.retry ?? config.retry;
    if (retry === inForce.retry) {
      inForce = { ...inForce, revision: live.revision };
      return inForce;
    }
    // The budget keeps its history while its settings stay the same.
    const budget = JSON.stringify(retry.budget) === JSON.stringify(inForce.retry.budget) ? inForce.budget : createRetryBudget(retry.budget);
    inForce = { revision: live.revision, retry, budget, hedging: retry.hedging ? new Hedging(retry, idempotent) : undefined, settingsByPath: new Map() };
    return inForce;
  };
  return (callerOptions, nextCall) => {
    let options = callerOptions;
    const deadlineMs = deadlineWallMs(options.deadline);
    const now = Date.now();
    // grpc-js cannot write a grpc-timeout of more than 10^8 hours and throws "Deadline is too far in the future"
    // from a promise, an unhandled rejection that ends the process (Number.MAX_SAFE_INTEGER as "no deadline"
    // does it). A deadline thousands of years away is no deadline.
    if (deadlineMs - now > FAR_DEADLINE_MS && deadlineMs !== Infinity) options = { ...options, deadline: Infinity };
    const { retry, budget, hedging, revision, settingsByPath } = current();
    const def = options.method_definition;
    const kind: CallDescription['kind'] = def.requestStream
      ? def.responseStream
        ? 'bidi'
        : 'client_stream'
      : def.responseStream
        ? 'server_stream'
        : 'unary';
    let settings = settingsByPath.get(def.path);
    if (settings === undefined) {
      settings = retrySettingsFor(retry, def.path);
      if (settingsByPath.size < MAX_CACHED_METHODS) settingsByPath.set(def.path, settings);
    }
    const identity = config.identity ?? getClientIdentity();
    const hedge = hedging?.planFor(def.path);
    if (kind === 'unary' && settings.attemptTimeoutMs === undefined && hedge === undefined && factories.length === 0 && identity === undefined && deadlineMs > now) {
      // Nothing for the call layer to do: no attempt timer, no hedge, nobody to tell, no headers to add, and
      // the picker samples a unary call's latency by default. Pass the call straight to grpc-js (B4 measures
      // what the per-call layer costs; grpc-js's own transparent retries still re-pick a request that never
      // left); it still counts towards the retry budget of the client's other methods.
      budget.recordCall(nowMs());
      // grpc-js uses what an interceptor returns only through InterceptingCallInterface (client.ts,
      // client-interceptors.ts in 1.14), which the next call already is: wrapping it in a pass-through
      // InterceptingCall cost an object, its listener and its requester per call (B4: ~5 us of client CPU per call
      // in the client-path probe), and without it the call runs exactly as with no interceptor at all.
      return nextCall(options) as InterceptingCall;
    }
    // A literal plus assignments, not spreads of `cond ? { key } : {}`: those cost two objects and V8's slow
    // spread path on every call.
    const description: { -readonly [K in keyof CallDescription]: CallDescription[K] } = { method: def.path, kind, target: config.target };
    if (config.clientZone !== undefined) description.clientZone = config.clientZone;
    if (revision !== 0) description.configRevision = revision;
    let observer: CallObserver | undefined;
    if (factories.length === 1) {
      // A lone observer needs no guard of its own: FairwayCall catches and reports whatever it throws, and a
      // guard costs closures on every call and attempt. Nor an array and a fan-out: it is the call's observer.
      try {
        const lone = factories[0]!.onCallStart(description);
        observer = lone ? lone : guardObserver(lone, report);
      } catch (e) {
        report(e);
      }
    } else if (factories.length > 1) {
      // Several are guarded each, so that one that throws never silences the others.
      const observers: CallObserver[] = [];
      for (const f of factories) {
        try {
          observers.push(guardObserver(f.onCallStart(description), report));
        } catch (e) {
          report(e);
        }
      }
      observer = fanOutObservers(observers);
    }
    const call = new FairwayCall(options, nextCall, {
      description,
      plan: { kind, settings, budget, hedge },
      observer,
      identity,
      onObserverError: report,
    });
    // FairwayCall is an InterceptingCallInterface itself, which is all grpc-js uses of what an interceptor returns
    // (see the pass-through above): wrapping it in an InterceptingCall cost a layer of bound listeners and
    // closures per call.
    return call as unknown as InterceptingCall;
  };
}
