/**
 * `FairwayOptions`: everything the factory accepts, validated once (unknown keys and bad values are errors
 * naming the key), and turned into grpc-js channel options.
 */
import type { ChannelOptions } from '@grpc/grpc-js';
import { reportRejection, resolveConcurrencyLimitOptions, showValue, zoneNameProblem } from '@fairway/core';

const ignoreError = (): void => {};
import type { CallObserverFactory, ConcurrencyLimitOptions, EjectionOptions, RetryOptions, SlowStartOptions } from '@fairway/core';
import { DISCOVERY_OPTIONS_KEY, ENDPOINT_EVENTS_KEY, KEEPALIVE_KEY, KEEPALIVE_SUBCHANNEL_KEY, LOGGER_KEY } from './channel-keys.js';
import { POLICY_NAME, PolicyConfigError, parseFairwayPolicyConfig } from './policy/config.js';
import type { FairwayPolicySettings } from './policy/config.js';
import type { Logger } from './logger.js';

/** Per-scheme discovery settings, handed to that scheme's discovery source. */
export interface FairwayDiscoveryOptions {
  /** Options for `etcd:` targets (see `@fairway/discovery-etcd`). Default: none (the target and env decide). */
  readonly etcd?: unknown;
  /** Options for `k8s:` targets (see `@fairway/discovery-kubernetes`). Default: none (in-cluster or kubeconfig). */
  readonly kubernetes?: unknown;
  /** Options for any other registered scheme, under the scheme's name. */
  readonly [scheme: string]: unknown;
}

/**
 * HTTP/2 keepalive pings, sent by Fairway (not grpc-js's fixed-interval keepalive) only while calls are
 * outstanding, within what servers with default settings accept: grpc-go, C-core and grpc-java allow one ping
 * per 5 minutes while they send nothing and close the connection with GOAWAY `too_many_pings` at the third
 * early one; any data they send clears that count. So a connection is pinged after `timeMs` with nothing
 * received, at most twice per stretch in which the server sends nothing, and otherwise no more often than
 * `serverMinIntervalMs`.
 */
export interface FairwayKeepaliveOptions {
  /**
   * Ping a connection once nothing has been received on it for this long while calls are outstanding, ms.
   * Default 10000 (gRFC A8's floor for clients). Together with `timeoutMs` it bounds how long a call waits on a
   * frozen or partitioned server that went quiet when the call started.
   */
  readonly timeMs?: number;
  /**
   * The servers' minimum ping interval while they send nothing, plus slack, ms: after two early pings in
   * one silent stretch, pings are this far apart. Default 310000 (the 5-minute default of grpc-go, C-core and
   * grpc-java, plus 10 s). Set it to `timeMs` for servers that accept frequent pings (grpc-go
   * `EnforcementPolicy.MinTime`, C-core `grpc.http2.min_ping_interval_without_data_ms`, grpc-java
   * `permitKeepAliveTime`).
   */
  readonly serverMinIntervalMs?: number;
  /** Drop the connection (its calls end UNAVAILABLE) if a ping is not answered within this, ms. Default 5000. */
  readonly timeoutMs?: number;
}

/** Options of `createClient`, `createChannel` and `clientOptions`. */
export interface FairwayOptions {
  /**
   * The caller's zone (e.g. `eu-west-1a`): calls stay in it while it can carry the load. Default: the
   * `FAIRWAY_ZONE` environment variable; if that is unset too, balancing is zone-blind (logged once).
   */
  readonly zone?: string;
  /**
   * The caller's region, the tier above zones: other zones of the region open before other regions', and with
   * the local zone gone calls stay in the region while it can serve them. Default: `FAIRWAY_REGION`, else derived
   * from the zone's name (`eu-west-1a` -> `eu-west-1`; a name that follows no cloud's pattern is its own region).
   */
  readonly region?: string;
  /** Peak-EWMA decay time constant: how fast an old latency estimate fades, ms. Default 10000. */
  readonly decayMs?: number;
  /** Local zone load (ratio to capacity) below which other zones close again. Default 0.8 (unitless). */
  readonly zoneBandLow?: number;
  /** Local zone load (ratio to capacity) above which other zones open. Default 2.0 (unitless). */
  readonly zoneBandHigh?: number;
  /**
   * Affinity by key with bounded load (consistent hashing with bounded loads): a call that carries the
   * metadata header `header` goes to the endpoint owning that key on a consistent-hash ring (placed by
   * instance, so a restarted instance gets its keys back), or the next one clockwise while the owner has more
   * than `(1 + epsilon) x` the mean calls in flight. Calls without the header are balanced as usual, so
   * affinity is opt-in per call (set the header on the methods that want it). Default: none. `epsilon` default
   * 0.25 (unitless).
   */
  readonly affinity?: { readonly header: string; readonly epsilon?: number };
  /**
   * Deterministic subsetting for large services (after Finagle's deterministic aperture): this client connects
   * to a window of `size` endpoints (default 24) placed so that every endpoint gets an equal share of clients;
   * the window grows by `size / 2` while its load is above 2 calls in flight per member and shrinks back below
   * 0.8. The client's place comes from `clientIndex` / `clientCount` (e.g. a StatefulSet ordinal and its
   * replicas) or, when they are absent, from the discovery source's peer registry (etcd targets:
   * `discovery.etcd.peerRegistry`). Default: none (every endpoint).
   */
  readonly subset?: { readonly size?: number; readonly clientIndex?: number; readonly clientCount?: number };
  /**
   * Retry settings (timeout-only retries), passed to the call layer's `parseRetryOptions`. Default: no
   * attempt timeout, so no retries. grpc-js makes only its transparent retries (requests that never left the
   * client); no status-code retry policy is ever configured. Checked where the client is made: a bad value
   * is an error naming the method and the field. See the README's "Retries" section.
   */
  readonly retry?: RetryOptions;
  /** Observers told about every call and attempt (e.g. telemetry). Default none. */
  readonly observers?: readonly CallObserverFactory[];
  /** Per-scheme discovery settings. Default none. */
  readonly discovery?: FairwayDiscoveryOptions;
  /** Keepalive pings while calls are outstanding; `false` turns them off. Default `{timeMs: 10000, timeoutMs: 5000, serverMinIntervalMs: 310000}`. */
  readonly keepalive?: FairwayKeepaliveOptions | false;
  /** Extra grpc-js channel options, passed through (Fairway's own keys win; a conflicting policy is an error). Default none. */
  readonly channelOptions?: ChannelOptions;
  /** Where Fairway writes what you should know. Default: stderr with a `[fairway]` prefix. */
  readonly logger?: Logger;
  /**
   * Outlier ejection: an endpoint is taken out of the pick set after `consecutiveFailures` (default 5)
   * failures or timed-out attempts in a row, as a success-rate outlier (below mean - 1.9 stdev, >= 5
   * endpoints of >= 100 calls per 10 s) or a latency outlier (estimate > 5x the set median at two 10 s
   * evaluations in a row). At most `maxEjectedPercent` (default 10 %, at least one endpoint of two or more,
   * never the last) is out at once; an ejection lasts `baseEjectionMs` (default 10000 ms) times the number
   * of ejections in a row, capped at `maxEjectionMs` (default 300000 ms); then one probe call re-admits.
   * Default on with these values; `false` turns it off. See the README's "Outlier ejection".
   */
  readonly outlierEjection?: EjectionOptions | false;
  /**
   * Slow start: a new endpoint's weight ramps linearly from `minWeightPercent` (default 10 %) over `windowMs`
   * (default 10000 ms), measured against the age of the set's oldest endpoint, so it also works when every
   * endpoint is new; the ramps together put at most `maxExtraLoadPercent` (default 10 %) over a fair share on
   * each endpoint at full weight (lifted together when they would put more). Default on with these values;
   * `false` turns it off. See the README's "Slow start".
   */
  readonly slowStart?: SlowStartOptions | false;
  /**
   * Adaptive concurrency: a limit on this client's attempts in flight, adapted from latency (Gradient2-like:
   * `initialLimit` 20, `minLimit` 20, `maxLimit` 200 calls, `smoothing` 0.2, `queueSize` 4 calls,
   * `rttTolerance` 1.5, `longWindow` 600 windows). An attempt above the limit fails at once with
   * RESOURCE_EXHAUSTED naming the limit (never retried: it is not a timeout). Default off; `true` for the
   * defaults. See the README's "Adaptive concurrency".
   */
  readonly concurrencyLimit?: ConcurrencyLimitOptions | boolean;
}

/** A bad factory option; `option` names it. */
export class FairwayOptionsError extends Error {
  readonly option: string;
  constructor(option: string, problem: string) {
    super(`invalid Fairway option ${option}: ${problem}`);
    this.name = 'FairwayOptionsError';
    this.option = option;
  }
}

const KNOWN_OPTIONS = new Set([
  'zone',
  'region',
  'decayMs',
  'zoneBandLow',
  'zoneBandHigh',
  'affinity',
  'subset',
  'retry',
  'observers',
  'discovery',
  'keepalive',
  'channelOptions',
  'logger',
  'outlierEjection',
  'slowStart',
  'concurrencyLimit',
]);
const KNOWN_KEEPALIVE = new Set(['timeMs', 'timeoutMs', 'serverMinIntervalMs']);

/**
 * Fairway's keepalive defaults, ms. `serverMinIntervalMs` is the 5-minute minimum ping interval that grpc-go,
 * C-core and grpc-java servers enforce by default, plus 10 s of slack (test/interop/keepalive-default-servers.test.ts).
 */
export const KEEPALIVE_DEFAULTS = { timeMs: 10_000, timeoutMs: 5_000, serverMinIntervalMs: 310_000 } as const;

/** `grpc.max_reconnect_backoff_ms` Fairway sets unless the channel options name it (see `toChannelOptions`). */
export const MAX_RECONNECT_BACKOFF_MS = 2_000;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function checkKeys(obj: Record<string, unknown>, known: Set<string>, prefix: string): void {
  for (const key of Object.keys(obj)) {
    if (!known.has(key)) {
      throw new FairwayOptionsError(`${prefix}${key}`, `is not a known option (known: ${[...known].join(', ')})`);
    }
  }
}

function msOption(v: unknown, name: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !Number.isInteger(v)) {
    throw new FairwayOptionsError(name, `must be an integer number of ms, got ${showValue(v)}`);
  }
  if (v < min || v > max) throw new FairwayOptionsError(name, `must be between ${min} and ${max} ms, got ${v}`);
  return v;
}

/** The options after validation and defaults. */
export interface ResolvedOptions {
  readonly settings: FairwayPolicySettings;
  /** Where the zone came from, for the log. */
  readonly zoneSource: 'option' | 'env' | 'none';
  readonly retry: unknown;
  readonly observers: readonly CallObserverFactory[];
  readonly discovery: FairwayDiscoveryOptions | undefined;
  readonly keepalive: { timeMs: number; timeoutMs: number; serverMinIntervalMs: number } | false;
  readonly channelOptions: ChannelOptions;
  readonly logger: Logger | undefined;
  /** Adaptive concurrency settings, or undefined when off. */
  readonly concurrencyLimit: ConcurrencyLimitOptions | undefined;
}

/** Policy config fields that come from a differently named option. */
const OPTION_OF_FIELD: Record<string, string> = {
  affinityHeader: 'affinity.header',
  affinityEpsilon: 'affinity.epsilon',
  subsetSize: 'subset.size',
  subsetClientIndex: 'subset.clientIndex',
  subsetClientCount: 'subset.clientCount',
};

/** Default window of `subset` (endpoints per client). */
export const DEFAULT_SUBSET_SIZE = 24;

function subsetSettings(a: unknown): Record<string, unknown> {
  if (a === undefined) return {};
  if (!isPlainObject(a)) throw new FairwayOptionsError('subset', `must be an object like { size: 24 }, got ${showValue(a)}`);
  checkKeys(a, new Set(['size', 'clientIndex', 'clientCount']), 'subset.');
  return {
    subsetSize: a['size'] ?? DEFAULT_SUBSET_SIZE,
    ...(a['clientIndex'] !== undefined ? { subsetClientIndex: a['clientIndex'] } : {}),
    ...(a['clientCount'] !== undefined ? { subsetClientCount: a['clientCount'] } : {}),
  };
}

function affinitySettings(a: unknown): { affinityHeader?: unknown; affinityEpsilon?: unknown } {
  if (a === undefined) return {};
  if (!isPlainObject(a)) throw new FairwayOptionsError('affinity', `must be an object like { header: 'x-user-id' }, got ${showValue(a)}`);
  checkKeys(a, new Set(['header', 'epsilon']), 'affinity.');
  if (a['header'] === undefined) throw new FairwayOptionsError('affinity.header', 'is required: the metadata key that carries the affinity key');
  return { affinityHeader: a['header'], ...(a['epsilon'] !== undefined ? { affinityEpsilon: a['epsilon'] } : {}) };
}

/** Validates `options` (throws `FairwayOptionsError` naming the option) and fills in defaults. */
export function resolveOptions(options: FairwayOptions | undefined, env: Record<string, string | undefined>): ResolvedOptions {
  if (options === undefined) options = {};
  if (!isPlainObject(options)) throw new FairwayOptionsError('(options)', `must be an object, got ${showValue(options)}`);
  checkKeys(options as Record<string, unknown>, KNOWN_OPTIONS, '');

  let zone: string | undefined;
  let zoneSource: ResolvedOptions['zoneSource'] = 'none';
  if (options.zone !== undefined) {
    if (typeof options.zone !== 'string' || options.zone.trim() === '') {
      throw new FairwayOptionsError('zone', `must be a non-empty string, got ${showValue(options.zone)}`);
    }
    const problem = zoneNameProblem(options.zone);
    if (problem !== undefined) throw new FairwayOptionsError('zone', `${JSON.stringify(options.zone.slice(0, 80))} ${problem}`);
    zone = options.zone;
    zoneSource = 'option';
  } else if (env['FAIRWAY_ZONE'] && env['FAIRWAY_ZONE'].trim() !== '') {
    zone = env['FAIRWAY_ZONE'].trim();
    const problem = zoneNameProblem(zone);
    if (problem !== undefined) throw new FairwayOptionsError('zone (from FAIRWAY_ZONE)', `${JSON.stringify(zone.slice(0, 80))} ${problem}`);
    zoneSource = 'env';
  }
  const regionProblem = typeof options.region === 'string' ? zoneNameProblem(options.region) : undefined;
  if (regionProblem !== undefined) throw new FairwayOptionsError('region', `${JSON.stringify((options.region as string).slice(0, 80))} ${regionProblem}`);
  let settings: FairwayPolicySettings;
  try {
    settings = parseFairwayPolicyConfig({
      ...(zone !== undefined ? { zone } : {}),
      ...(options.region !== undefined ? { region: options.region } : env['FAIRWAY_REGION']?.trim() ? { region: env['FAIRWAY_REGION'].trim() } : {}),
      ...(options.decayMs !== undefined ? { decayMs: options.decayMs } : {}),
      ...(options.zoneBandLow !== undefined ? { zoneBandLow: options.zoneBandLow } : {}),
      ...(options.zoneBandHigh !== undefined ? { zoneBandHigh: options.zoneBandHigh } : {}),
      ...affinitySettings(options.affinity),
      ...subsetSettings(options.subset),
      ...(options.outlierEjection !== undefined ? { outlierEjection: options.outlierEjection } : {}),
      ...(options.slowStart !== undefined ? { slowStart: options.slowStart } : {}),
    });
  } catch (e) {
    if (e instanceof PolicyConfigError) throw new FairwayOptionsError(OPTION_OF_FIELD[e.field] ?? e.field, e.problem);
    throw e;
  }

  let observers: readonly CallObserverFactory[] = [];
  if (options.observers !== undefined) {
    if (!Array.isArray(options.observers)) throw new FairwayOptionsError('observers', 'must be an array of CallObserverFactory');
    options.observers.forEach((o, i) => {
      if (!o || typeof (o as CallObserverFactory).onCallStart !== 'function') {
        throw new FairwayOptionsError(`observers[${i}]`, 'must have an onCallStart(call) method');
      }
    });
    observers = options.observers;
  }

  if (options.discovery !== undefined && !isPlainObject(options.discovery)) {
    throw new FairwayOptionsError('discovery', 'must be an object like { etcd: {...}, kubernetes: {...} }');
  }

  let keepalive: ResolvedOptions['keepalive'] = { ...KEEPALIVE_DEFAULTS };
  if (options.keepalive === false) keepalive = false;
  else if (options.keepalive !== undefined) {
    if (!isPlainObject(options.keepalive)) throw new FairwayOptionsError('keepalive', 'must be an object { timeMs, timeoutMs, serverMinIntervalMs } or false');
    checkKeys(options.keepalive, KNOWN_KEEPALIVE, 'keepalive.');
    keepalive = {
      timeMs: options.keepalive.timeMs === undefined ? KEEPALIVE_DEFAULTS.timeMs : msOption(options.keepalive.timeMs, 'keepalive.timeMs', 1_000, 86_400_000),
      timeoutMs:
        options.keepalive.timeoutMs === undefined ? KEEPALIVE_DEFAULTS.timeoutMs : msOption(options.keepalive.timeoutMs, 'keepalive.timeoutMs', 100, 600_000),
      serverMinIntervalMs:
        options.keepalive.serverMinIntervalMs === undefined
          ? KEEPALIVE_DEFAULTS.serverMinIntervalMs
          : msOption(options.keepalive.serverMinIntervalMs, 'keepalive.serverMinIntervalMs', 1_000, 86_400_000),
    };
  }

  if (options.channelOptions !== undefined && !isPlainObject(options.channelOptions)) {
    throw new FairwayOptionsError('channelOptions', 'must be an object of grpc-js channel options');
  }
  const logger = options.logger as Logger | undefined;
  if (logger !== undefined && (logger === null || typeof logger !== 'object' || ['info', 'warn', 'error'].some((m) => typeof (logger as unknown as Record<string, unknown>)[m] !== 'function'))) {
    throw new FairwayOptionsError('logger', 'must have info, warn and error methods');
  }

  let concurrencyLimit: ConcurrencyLimitOptions | undefined;
  const cl = options.concurrencyLimit;
  if (cl === true) concurrencyLimit = {};
  else if (cl !== undefined && cl !== false) {
    if (!isPlainObject(cl)) throw new FairwayOptionsError('concurrencyLimit', `must be true, false or an object of limit settings, got ${showValue(cl)}`);
    checkKeys(cl, new Set(['initialLimit', 'minLimit', 'maxLimit', 'smoothing', 'queueSize', 'rttTolerance', 'longWindow']), 'concurrencyLimit.');
    try {
      resolveConcurrencyLimitOptions(cl);
    } catch (e) {
      const m = /^concurrencyLimit\.(\w+) (.*)$/.exec((e as Error).message);
      throw new FairwayOptionsError(m ? `concurrencyLimit.${m[1]}` : 'concurrencyLimit', m ? m[2]! : (e as Error).message);
    }
    concurrencyLimit = { ...cl };
  }

  return {
    settings,
    zoneSource,
    concurrencyLimit,
    retry: options.retry,
    observers,
    discovery: options.discovery,
    keepalive,
    channelOptions: options.channelOptions ?? {},
    logger,
  };
}

/**
 * The `grpc.service_config` JSON a Fairway channel gets: the policy with `settings`, merged into the service
 * config the user passed in `channelOptions['grpc.service_config']` (a JSON string or object; its method configs
 * are kept). A user config naming another policy is an error (it would silently win or lose): throws
 * `FairwayOptionsError`. `createClient`, `createChannel` and `clientOptions` all use this.
 */
export function serviceConfigFor(settings: FairwayPolicySettings, user?: unknown): string {
  const ours = { [POLICY_NAME]: { ...settings } };
  if (user === undefined) return JSON.stringify({ loadBalancingConfig: [ours] });
  let parsed: unknown;
  try {
    parsed = typeof user === 'string' ? JSON.parse(user) : user;
  } catch (e) {
    throw new FairwayOptionsError("channelOptions['grpc.service_config']", `is not valid JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(parsed)) throw new FairwayOptionsError("channelOptions['grpc.service_config']", 'must be a JSON object');
  const lb = parsed['loadBalancingConfig'];
  if (lb !== undefined) {
    const names = Array.isArray(lb) ? lb.map((e) => (isPlainObject(e) ? Object.keys(e)[0] : String(e))) : ['?'];
    if (names.some((n) => n !== POLICY_NAME)) {
      throw new FairwayOptionsError(
        "channelOptions['grpc.service_config'].loadBalancingConfig",
        `names ${JSON.stringify(names)}: Fairway sets the policy (${POLICY_NAME}); tune it with the zone/decayMs/zoneBand* options instead`,
      );
    }
  }
  if (parsed['loadBalancingPolicy'] !== undefined) {
    throw new FairwayOptionsError("channelOptions['grpc.service_config'].loadBalancingPolicy", `would replace ${POLICY_NAME}: remove it`);
  }
  return JSON.stringify({ ...parsed, loadBalancingConfig: [ours] });
}

/**
 * The grpc-js channel options for resolved Fairway options. grpc-js's own retries stay on (no
 * `grpc.enable_retries: 0`): with no retryPolicy in the service config it makes only transparent retries
 * (re-picks of requests that never reached a server), which the call layer relies on.
 */
export function toChannelOptions(resolved: ResolvedOptions): ChannelOptions {
  const user = resolved.channelOptions;
  const out: ChannelOptions = { ...user };
  out['grpc.service_config'] = serviceConfigFor(resolved.settings, user['grpc.service_config']);
  if (resolved.keepalive) {
    // Fairway pings itself (keepalive-pinger.ts): grpc-js's own keepalive stays off (no grpc.keepalive_time_ms),
    // because it pings at a fixed interval whether or not the server writes.
    const { timeMs, timeoutMs, serverMinIntervalMs } = resolved.keepalive;
    out[KEEPALIVE_KEY] = { timeMs, timeoutMs, serverMinIntervalMs };
    out[KEEPALIVE_SUBCHANNEL_KEY] = `${timeMs}/${timeoutMs}/${serverMinIntervalMs}`;
    out['grpc.keepalive_permit_without_calls'] = 0;
  }
  // grpc-js waits 1 s, then 1.6x longer each time (up to 120 s), before reconnecting to an endpoint whose
  // connection failed: a pod restarted at the same address (a static target, or a zone back after an outage)
  // stayed unused for up to that long after it answered again (B3: 38 % in zone 6 s after the local zone came
  // back). Capped at 2 s unless the user set it, an endpoint that is back is connected within ~2.4 s (jitter
  // 20 %) at the price of one connection attempt per 2 s to an address that stays dead.
  if (user['grpc.max_reconnect_backoff_ms'] === undefined) out['grpc.max_reconnect_backoff_ms'] = MAX_RECONNECT_BACKOFF_MS;
  if (resolved.discovery !== undefined) out[DISCOVERY_OPTIONS_KEY] = resolved.discovery;
  if (resolved.logger !== undefined) out[LOGGER_KEY] = resolved.logger;
  const listeners = resolved.observers.filter((o) => typeof o.onEndpointEvent === 'function');
  if (listeners.length > 0) {
    out[ENDPOINT_EVENTS_KEY] = (event: Parameters<NonNullable<CallObserverFactory['onEndpointEvent']>>[0]) => {
      for (const o of listeners) {
        try {
          // An async listener's rejection is dropped like a throw (left unhandled it would end the process).
          reportRejection(o.onEndpointEvent!(event), ignoreError);
        } catch {
          // an observer must never break a pick
        }
      }
    };
  }
  return out;
}
