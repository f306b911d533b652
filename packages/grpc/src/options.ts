/**
 * `FairwayOptions`: everything the factory accepts, validated once (unknown keys and bad values are errors
 * naming the key), and turned into grpc-js channel options.
 */
import type { ChannelOptions } from '@grpc/grpc-js';
import { resolveConcurrencyLimitOptions } from '@fairway/core';
import type { CallObserverFactory, ConcurrencyLimitOptions, EjectionOptions, RetryOptions, SlowStartOptions } from '@fairway/core';
import { DISCOVERY_OPTIONS_KEY, ENDPOINT_EVENTS_KEY, LOGGER_KEY } from './channel-keys.js';
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

/** HTTP/2 keepalive pings, sent only while calls are outstanding. */
export interface FairwayKeepaliveOptions {
  /** Ping after this long without activity, ms. Default 10000 (gRFC A8's floor for clients). `grpc.keepalive_time_ms`. */
  readonly timeMs?: number;
  /** Close the connection if the ping is not acknowledged within this, ms. Default 5000. `grpc.keepalive_timeout_ms`. */
  readonly timeoutMs?: number;
}

/** Options of `createClient`, `createChannel` and `clientOptions`. */
export interface FairwayOptions {
  /**
   * The caller's zone (e.g. `eu-west-1a`): calls stay in it while it can carry the load. Default: the
   * `FAIRWAY_ZONE` environment variable; if that is unset too, balancing is zone-blind (logged once).
   */
  readonly zone?: string;
  /** Peak-EWMA decay time constant: how fast an old latency estimate fades, ms. Default 10000. */
  readonly decayMs?: number;
  /** Local zone load (ratio to capacity) below which other zones close again. Default 0.8 (unitless). */
  readonly zoneBandLow?: number;
  /** Local zone load (ratio to capacity) above which other zones open. Default 2.0 (unitless). */
  readonly zoneBandHigh?: number;
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
  /** Keepalive pings while calls are outstanding; `false` turns them off. Default `{timeMs: 10000, timeoutMs: 5000}`. */
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
   * endpoint is new. Default on with these values; `false` turns it off. See the README's "Slow start".
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
  'decayMs',
  'zoneBandLow',
  'zoneBandHigh',
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
const KNOWN_KEEPALIVE = new Set(['timeMs', 'timeoutMs']);

export const KEEPALIVE_DEFAULTS = { timeMs: 10_000, timeoutMs: 5_000 } as const;

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
    throw new FairwayOptionsError(name, `must be an integer number of ms, got ${JSON.stringify(v)}`);
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
  readonly keepalive: { timeMs: number; timeoutMs: number } | false;
  readonly channelOptions: ChannelOptions;
  readonly logger: Logger | undefined;
  /** Adaptive concurrency settings, or undefined when off. */
  readonly concurrencyLimit: ConcurrencyLimitOptions | undefined;
}

/** Validates `options` (throws `FairwayOptionsError` naming the option) and fills in defaults. */
export function resolveOptions(options: FairwayOptions | undefined, env: Record<string, string | undefined>): ResolvedOptions {
  if (options === undefined) options = {};
  if (!isPlainObject(options)) throw new FairwayOptionsError('(options)', `must be an object, got ${JSON.stringify(options)}`);
  checkKeys(options as Record<string, unknown>, KNOWN_OPTIONS, '');

  let zone: string | undefined;
  let zoneSource: ResolvedOptions['zoneSource'] = 'none';
  if (options.zone !== undefined) {
    if (typeof options.zone !== 'string' || options.zone.trim() === '') {
      throw new FairwayOptionsError('zone', `must be a non-empty string, got ${JSON.stringify(options.zone)}`);
    }
    zone = options.zone;
    zoneSource = 'option';
  } else if (env['FAIRWAY_ZONE'] && env['FAIRWAY_ZONE'].trim() !== '') {
    zone = env['FAIRWAY_ZONE'].trim();
    zoneSource = 'env';
  }
  let settings: FairwayPolicySettings;
  try {
    settings = parseFairwayPolicyConfig({
      ...(zone !== undefined ? { zone } : {}),
      ...(options.decayMs !== undefined ? { decayMs: options.decayMs } : {}),
      ...(options.zoneBandLow !== undefined ? { zoneBandLow: options.zoneBandLow } : {}),
      ...(options.zoneBandHigh !== undefined ? { zoneBandHigh: options.zoneBandHigh } : {}),
      ...(options.outlierEjection !== undefined ? { outlierEjection: options.outlierEjection } : {}),
      ...(options.slowStart !== undefined ? { slowStart: options.slowStart } : {}),
    });
  } catch (e) {
    if (e instanceof PolicyConfigError) throw new FairwayOptionsError(e.field, e.message.replace(/^.*? config: \S+ /, ''));
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
    if (!isPlainObject(options.keepalive)) throw new FairwayOptionsError('keepalive', 'must be an object { timeMs, timeoutMs } or false');
    checkKeys(options.keepalive, KNOWN_KEEPALIVE, 'keepalive.');
    keepalive = {
      timeMs: options.keepalive.timeMs === undefined ? KEEPALIVE_DEFAULTS.timeMs : msOption(options.keepalive.timeMs, 'keepalive.timeMs', 1_000, 86_400_000),
      timeoutMs:
        options.keepalive.timeoutMs === undefined ? KEEPALIVE_DEFAULTS.timeoutMs : msOption(options.keepalive.timeoutMs, 'keepalive.timeoutMs', 100, 600_000),
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
    if (!isPlainObject(cl)) throw new FairwayOptionsError('concurrencyLimit', `must be true, false or an object of limit settings, got ${JSON.stringify(cl)}`);
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
 * The `grpc.service_config` to use: ours, merged into one the user passed in `channelOptions` (their method
 * configs are kept). A user config naming another policy is an error (it would silently win or lose).
 */
function mergedServiceConfig(user: unknown, settings: FairwayPolicySettings): string {
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

/** The grpc-js channel options for resolved Fairway options. */
export function toChannelOptions(resolved: ResolvedOptions, retriesOff: boolean): ChannelOptions {
  const user = resolved.channelOptions;
  const out: ChannelOptions = { ...user };
  out['grpc.service_config'] = mergedServiceConfig(user['grpc.service_config'], resolved.settings);
  if (resolved.keepalive) {
    out['grpc.keepalive_time_ms'] = resolved.keepalive.timeMs;
    out['grpc.keepalive_timeout_ms'] = resolved.keepalive.timeoutMs;
    out['grpc.keepalive_permit_without_calls'] = 0;
  }
  if (retriesOff) out['grpc.enable_retries'] = 0;
  if (resolved.discovery !== undefined) out[DISCOVERY_OPTIONS_KEY] = resolved.discovery;
  if (resolved.logger !== undefined) out[LOGGER_KEY] = resolved.logger;
  const listeners = resolved.observers.filter((o) => typeof o.onEndpointEvent === 'function');
  if (listeners.length > 0) {
    out[ENDPOINT_EVENTS_KEY] = (event: Parameters<NonNullable<CallObserverFactory['onEndpointEvent']>>[0]) => {
      for (const o of listeners) {
        try {
          o.onEndpointEvent!(event);
        } catch {
          // an observer must never break a pick
        }
      }
    };
  }
  return out;
}
