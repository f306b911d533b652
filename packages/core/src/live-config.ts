/**
 * The per-service live configuration document (stored in etcd at `<prefix>_fairway_config/<service>`):
 * parsing, validation and applying it to an endpoint set. Pure: no I/O.
 *
 * Version 1 carries per-endpoint weight overrides and drains, balancer settings and retry/hedging settings:
 *
 * ```json
 * { "version": 1,
 *   "endpoints": { "pricer-7f9c": { "weight": 0 }, "10.0.0.9:50051": { "weight": 2 } },
 *   "balancer": { "decayMs": 5000, "zoneBandLow": 0.5, "zoneBandHigh": 3, "zoneLatencyRatio": 2,
 *                 "zoneOrder": ["eu-west-1b"], "slowStart": { "windowMs": 5000 }, "outlierEjection": false },
 *   "canary": { "share": 0.1, "stickyHeader": "x-user", "halt": { "errorRateMargin": 0.05, "p99Ratio": 2, "windowMs": 30000 } },
 *   "retry": { "attemptTimeoutMs": 200, "methods": { "trading.Pricer/Quote": { "attemptTimeoutMs": 50 } },
 *              "hedging": { "methods": ["trading.Pricer/Quote"] } } }
 * ```
 *
 * An `endpoints` entry names an instance (the registration's `instance`) or an address (`host:port`); its
 * weight replaces the registered one (0 drains). `balancer` fields replace the client's own policy settings
 * field by field. `retry` has the shape of the client factory's `retry` option and, when present, replaces
 * that option as a whole. Every field is checked: an unknown field, a wrong type or an out-of-range value
 * makes the whole document invalid, with an error naming the field and the value, so the caller keeps its
 * last good document.
 *
 * @packageDocumentation
 */
import type { EndpointInfo } from './contracts.js';
import { BalancerOptionError } from './balancer-option-error.js';
import { EJECTION_OPTION_FIELDS, resolveEjectionOptions, type EjectionOptions } from './ejection.js';
import { SLOW_START_OPTION_FIELDS, resolveSlowStartOptions, type SlowStartOptions } from './slow-start.js';
import { parseRetryOptions, RetryOptionsError, type RetryConfig } from './retry-config.js';
import { resolveCanaryOptions, type CanaryOptions } from './canary.js';
import { showValue } from './show-value.js';

/**
 * Balancer settings a live document may set; each one present replaces the client's own. Absent: the
 * client's own setting (its policy config, else the Balancer default) stays.
 */
export interface LiveBalancerSettings {
  /** Peak-EWMA decay time constant, ms, 1..3600000 (client default 10000). */
  readonly decayMs?: number;
  /** Zone load band low, calls in flight per READY endpoint, 0.01..100 (default 0.8); below `zoneBandHigh`. */
  readonly zoneBandLow?: number;
  /** Zone load band high, 0.01..100 (default 2). */
  readonly zoneBandHigh?: number;
  /** A remote zone opens when the local zone is this many times slower, > 1 and <= 100 (default 1.5). */
  readonly zoneLatencyRatio?: number;
  /** Other zones nearest-first (default: by spare capacity). */
  readonly zoneOrder?: readonly string[];
  /** Slow start (`SlowStartOptions`), or `false` for none. */
  readonly slowStart?: SlowStartOptions | false;
  /** Outlier ejection (`EjectionOptions`), or `false` for none. */
  readonly outlierEjection?: EjectionOptions | false;
}

/** A valid live configuration document. */
export interface LiveConfig {
  /** Document format version; only 1 exists. */
  readonly version: 1;
  /** Weight overrides by instance or `host:port`. */
  readonly endpoints: ReadonlyMap<string, { readonly weight: number }>;
  /** Balancer settings; absent: none set by the document. */
  readonly balancer?: LiveBalancerSettings;
  /** Retry and hedging settings (replace the client's `retry` option); absent: the client's own. */
  readonly retry?: RetryConfig;
  /** The `retry` section as written (for `formatLiveConfig`). */
  readonly retryText?: unknown;
  /** Canary routing (share, stickiness, auto-halt) for endpoints marked canary; absent: no canary routing. */
  readonly canary?: CanaryOptions;
}

/** Why a document was refused: `field` is a JSON path such as `endpoints["pricer-1"].weight`. */
export interface LiveConfigError {
  readonly field: string;
  readonly message: string;
}

export type LiveConfigResult = { readonly ok: true; readonly config: LiveConfig } | { readonly ok: false; readonly error: LiveConfigError };

/** The empty document: no overrides. */
export const EMPTY_LIVE_CONFIG: LiveConfig = { version: 1, endpoints: new Map() };

const TOP_FIELDS = new Set(['version', 'endpoints', 'balancer', 'retry', 'canary']);
const CANARY_FIELDS = new Set(['share', 'stickyHeader', 'halt']);
const CANARY_HALT_FIELDS = new Set(['errorRateMargin', 'p99Ratio', 'windowMs', 'minCalls']);
const BALANCER_FIELDS = new Set(['decayMs', 'zoneBandLow', 'zoneBandHigh', 'zoneLatencyRatio', 'zoneOrder', 'slowStart', 'outlierEjection']);
const ENDPOINT_FIELDS = new Set(['weight']);

function refuse(field: string, message: string): LiveConfigResult {
  return { ok: false, error: { field, message: `${field}: ${message}` } };
}

/** `v` for an error message, at most 80 characters (a document's value can be long). */
const show = (v: unknown): string => showValue(v, 80);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses and validates a document (JSON text). Never throws. */
export function parseLiveConfig(text: string): LiveConfigResult {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return refuse('(document)', `not valid JSON (${(e as Error).message})`);
  }
  return validateLiveConfig(doc);
}

/** Validates an already parsed document. Never throws. */
export function validateLiveConfig(doc: unknown): LiveConfigResult {
  if (!isObject(doc)) return refuse('(document)', `must be a JSON object, got ${show(doc)}`);
  for (const k of Object.keys(doc)) {
    if (!TOP_FIELDS.has(k)) return refuse(k, `unknown field (known: ${[...TOP_FIELDS].join(', ')})`);
  }
  if (doc['version'] !== undefined && doc['version'] !== 1) return refuse('version', `must be 1, got ${show(doc['version'])}`);
  const endpoints = new Map<string, { weight: number }>();
  const eps = doc['endpoints'];
  if (eps !== undefined) {
    if (!isObject(eps)) return refuse('endpoints', `must be an object keyed by instance or host:port, got ${show(eps)}`);
    for (const [name, entry] of Object.entries(eps)) {
      const at = `endpoints[${JSON.stringify(name)}]`;
      if (name === '') return refuse(at, 'the instance or host:port must not be empty');
      if (!isObject(entry)) return refuse(at, `must be an object such as {"weight": 0}, got ${show(entry)}`);
      for (const k of Object.keys(entry)) {
        if (!ENDPOINT_FIELDS.has(k)) return refuse(`${at}.${k}`, `unknown field (known: ${[...ENDPOINT_FIELDS].join(', ')})`);
      }
      const w = entry['weight'];
      if (!(typeof w === 'number' && Number.isFinite(w) && w >= 0 && w <= 1_000_000)) {
        return refuse(`${at}.weight`, `must be a number from 0 (drain) to 1000000, got ${show(w)}`);
      }
      endpoints.set(name, { weight: w });
    }
  }
  let balancer: LiveBalancerSettings | undefined;
  if (doc['balancer'] !== undefined) {
    const b = validateBalancer(doc['balancer']);
    if ('error' in b) return { ok: false, error: b.error };
    balancer = b.settings;
  }
  let retry: RetryConfig | undefined;
  if (doc['retry'] !== undefined) {
    try {
      retry = parseRetryOptions(doc['retry']);
    } catch (e) {
      if (e instanceof RetryOptionsError) return { ok: false, error: { field: e.field, message: e.message } };
      return refuse('retry', (e as Error).message);
    }
  }
  let canary: CanaryOptions | undefined;
  const c = doc['canary'];
  if (c !== undefined) {
    if (!isObject(c)) return refuse('canary', `must be an object such as {"share": 0.1}, got ${show(c)}`);
    for (const k of Object.keys(c)) if (!CANARY_FIELDS.has(k)) return refuse(`canary.${k}`, `unknown field (known: ${[...CANARY_FIELDS].join(', ')})`);
    const h = c['halt'];
    if (isObject(h)) for (const k of Object.keys(h)) if (!CANARY_HALT_FIELDS.has(k)) return refuse(`canary.halt.${k}`, `unknown field (known: ${[...CANARY_HALT_FIELDS].join(', ')})`);
    try {
      resolveCanaryOptions(c as unknown as CanaryOptions);
    } catch (e) {
      const m = /^(\S+) (.*)$/.exec((e as Error).message);
      return refuse(`canary.${m?.[1] ?? ''}`.replace(/\.$/, ''), m?.[2] ?? (e as Error).message);
    }
    canary = JSON.parse(JSON.stringify(c)) as CanaryOptions;
  }
  return {
    ok: true,
    config: {
      version: 1,
      endpoints,
      ...(balancer !== undefined ? { balancer } : {}),
      ...(retry !== undefined ? { retry, retryText: doc['retry'] } : {}),
      ...(canary !== undefined ? { canary } : {}),
    },
  };
}

function validateBalancer(raw: unknown): { settings: LiveBalancerSettings } | { error: LiveConfigError } {
  const fail = (field: string, message: string) => ({ error: { field, message: `${field}: ${message}` } });
  if (!isObject(raw)) return fail('balancer', `must be an object, got ${show(raw)}`);
  for (const k of Object.keys(raw)) {
    if (!BALANCER_FIELDS.has(k)) return fail(`balancer.${k}`, `unknown field (known: ${[...BALANCER_FIELDS].join(', ')})`);
  }
  const out: Record<string, unknown> = {};
  const ranges: Array<[string, number, number, boolean]> = [
    ['decayMs', 1, 3_600_000, false],
    ['zoneBandLow', 0.01, 100, false],
    ['zoneBandHigh', 0.01, 100, false],
    ['zoneLatencyRatio', 1, 100, true],
  ];
  for (const [name, min, max, exclusiveMin] of ranges) {
    const v = raw[name];
    if (v === undefined) continue;
    if (!(typeof v === 'number' && Number.isFinite(v) && (exclusiveMin ? v > min : v >= min) && v <= max)) {
      return fail(`balancer.${name}`, `must be a number ${exclusiveMin ? 'above' : 'from'} ${min} ${exclusiveMin ? 'up ' : ''}to ${max}, got ${show(v)}`);
    }
    out[name] = v;
  }
  const low = (out['zoneBandLow'] as number | undefined) ?? 0.8;
  const high = (out['zoneBandHigh'] as number | undefined) ?? 2;
  if (low >= high) return fail(out['zoneBandLow'] !== undefined ? 'balancer.zoneBandLow' : 'balancer.zoneBandHigh', `the band must have zoneBandLow (${low}) below zoneBandHigh (${high})`);
  const order = raw['zoneOrder'];
  if (order !== undefined) {
    if (!Array.isArray(order) || order.some((z) => typeof z !== 'string' || z.trim() === '')) {
      return fail('balancer.zoneOrder', `must be an array of zone names, got ${show(order)}`);
    }
    out['zoneOrder'] = [...(order as string[])];
  }
  const subs: Array<[string, ReadonlySet<string>, (v: never) => unknown]> = [
    ['slowStart', SLOW_START_OPTION_FIELDS, resolveSlowStartOptions as (v: never) => unknown],
    ['outlierEjection', EJECTION_OPTION_FIELDS, resolveEjectionOptions as (v: never) => unknown],
  ];
  for (const [name, known, resolve] of subs) {
    const v = raw[name];
    if (v === undefined) continue;
    if (v !== false && !isObject(v)) return fail(`balancer.${name}`, `must be false or an object, got ${show(v)}`);
    if (v !== false) {
      for (const k of Object.keys(v)) {
        if (!known.has(k)) return fail(`balancer.${name}.${k}`, `unknown field (known: ${[...known].join(', ')})`);
      }
    }
    try {
      resolve(v as never);
    } catch (e) {
      // core's resolvers name the field by the balancer's option (ejection.x): keep the field and the problem.
      return e instanceof BalancerOptionError && e.field !== undefined ? fail(`balancer.${name}.${e.field}`, e.problem) : fail(`balancer.${name}`, (e as Error).message);
    }
    out[name] = v === false ? false : { ...v };
  }
  return { settings: out as LiveBalancerSettings };
}

/**
 * The endpoint set with the document's weight overrides applied (an instance match wins over an address
 * match). Endpoints without an override are returned unchanged (same objects).
 */
export function applyLiveConfig(endpoints: readonly EndpointInfo[], config: LiveConfig): EndpointInfo[] {
  if (config.endpoints.size === 0) return [...endpoints];
  return endpoints.map((e) => {
    const o = (e.instance !== undefined ? config.endpoints.get(e.instance) : undefined) ?? config.endpoints.get(e.address);
    return o === undefined || o.weight === e.weight ? e : { ...e, weight: o.weight };
  });
}

/** The document as JSON text (what `fairway config get` prints and `set` writes). */
export function formatLiveConfig(config: LiveConfig): string {
  const endpoints: Record<string, { weight: number }> = {};
  for (const [k, v] of config.endpoints) endpoints[k] = { weight: v.weight };
  return JSON.stringify({
    version: 1,
    endpoints,
    ...(config.balancer !== undefined ? { balancer: config.balancer } : {}),
    ...(config.retry !== undefined ? { retry: config.retryText } : {}),
    ...(config.canary !== undefined ? { canary: config.canary } : {}),
  });
}
