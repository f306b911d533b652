/**
 * The typed config of the `fairway_p2c_peak_ewma` policy: parsed and validated once.
 *
 * JSON shape (inside `{"loadBalancingConfig":[{"fairway_p2c_peak_ewma":{...}}]}`):
 * `{ "zone"?: string, "decayMs"?: number, "zoneBandLow"?: number, "zoneBandHigh"?: number,
 *    "outlierEjection"?: false | {...EjectionOptions}, "slowStart"?: false | {...SlowStartOptions} }`.
 *
 * grpc-js silently falls back to pick_first when a config parser throws; so the factory validates its own
 * config with `parseFairwayPolicyConfig` before it builds a channel (and throws), and `createFromJson` logs
 * the error loudly when a bad config arrives some other way (e.g. a service config from DNS).
 */
import { BalancerOptionError, EJECTION_OPTION_FIELDS, SLOW_START_OPTION_FIELDS, resolveEjectionOptions, resolveSlowStartOptions, showValue, type EjectionOptions, type SlowStartOptions } from '@fairway/core';
import { getDefaultLogger } from '../logger.js';

export const POLICY_NAME = 'fairway_p2c_peak_ewma';

/** The validated policy settings. */
export interface FairwayPolicySettings {
  /** The caller's zone; absent: zone-blind. */
  readonly zone?: string;
  /** Peak-EWMA decay time constant, ms. Default 10000. */
  readonly decayMs: number;
  /** Local zone load (ratio to its capacity) below which spilled zones close again. Default 0.8. */
  readonly zoneBandLow: number;
  /** Local zone load above which other zones open. Default 2.0. */
  readonly zoneBandHigh: number;
  /** The caller's region (tier above zones); absent: derived from `zone`. */
  readonly region?: string;
  /** Metadata header whose value is a call's affinity key; absent: no affinity. */
  readonly affinityHeader?: string;
  /** Affinity load bound: no endpoint above (1 + this) x the mean. Default 0.25. */
  readonly affinityEpsilon?: number;
  /** Deterministic subsetting: the smallest window (endpoints per client); absent: no subsetting. */
  readonly subsetSize?: number;
  /** This client's index among `subsetClientCount` clients (both or neither; neither: from the peer registry). */
  readonly subsetClientIndex?: number;
  readonly subsetClientCount?: number;
  /** Outlier ejection settings (`EjectionOptions` of `@fairway/core`), or `false` for none. Absent: the defaults (on). */
  readonly outlierEjection?: EjectionOptions | false;
  /** Slow-start settings (`SlowStartOptions` of `@fairway/core`), or `false` for none. Absent: the defaults (on, 10 s). */
  readonly slowStart?: SlowStartOptions | false;
  /** Remote-zone latency ratio (Balancer `zoneLatencyRatio`); absent: the Balancer default (1.5). Set by a live document. */
  readonly zoneLatencyRatio?: number;
  /** Other zones nearest-first (Balancer `zoneOrder`); absent: by spare capacity. Set by a live document. */
  readonly zoneOrder?: readonly string[];
}

export const POLICY_DEFAULTS = { decayMs: 10_000, zoneBandLow: 0.8, zoneBandHigh: 2.0 } as const;

/** A bad policy config; `field` names the offending field. */
export class PolicyConfigError extends Error {
  /** The config's field that is wrong, e.g. `outlierEjection.baseEjectionMs`. */
  readonly field: string;
  /** What is wrong with it, the message after the field, e.g. `must be a finite number, got "x"`. */
  readonly problem: string;
  constructor(field: string, problem: string) {
    // Quoted when it is not a plain name, so an empty or odd key is still visible in the message.
    super(`invalid ${POLICY_NAME} config: ${/^[A-Za-z_(][\w.)]*$/.test(field) ? field : `"${field}"`} ${problem}`);
    this.name = 'PolicyConfigError';
    this.field = field;
    this.problem = problem;
  }
}

const KNOWN = new Set([
  'zone',
  'decayMs',
  'zoneBandLow',
  'zoneBandHigh',
  'region',
  'affinityHeader',
  'affinityEpsilon',
  'subsetSize',
  'subsetClientIndex',
  'subsetClientCount',
  'outlierEjection',
  'slowStart',
]);

/**
 * Validates a `false | {...}` sub-config with core's resolver (the one validation of those options), checking
 * its keys first; returns it as given (a copy), so the JSON round-trips.
 */
function subConfig<T extends object>(obj: Record<string, unknown>, field: string, known: ReadonlySet<string>, resolve: (v: T | false) => unknown): T | false | undefined {
  const v = obj[field];
  if (v === undefined) return undefined;
  if (v === false) return false;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new PolicyConfigError(field, `must be false or an object, got ${showValue(v)}`);
  for (const key of Object.keys(v)) {
    if (!known.has(key)) throw new PolicyConfigError(`${field}.${key}`, `is not a known field (known: ${[...known].join(', ')})`);
  }
  try {
    resolve(v as T);
  } catch (e) {
    // core names the field by the balancer's option (ejection.x): name it by this config's field, keep the problem.
    if (e instanceof BalancerOptionError && e.field !== undefined) throw new PolicyConfigError(`${field}.${e.field}`, e.problem);
    throw new PolicyConfigError(field, (e as Error).message);
  }
  return { ...(v as T) };
}

function positiveNumber(obj: Record<string, unknown>, field: string, min: number, max: number): number | undefined {
  const v = obj[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new PolicyConfigError(field, `must be a finite number, got ${showValue(v)}`);
  if (v < min || v > max) throw new PolicyConfigError(field, `must be between ${min} and ${max}, got ${v}`);
  return v;
}

/** Validates a raw JSON policy config; throws `PolicyConfigError` naming the field. */
export function parseFairwayPolicyConfig(raw: unknown): FairwayPolicySettings {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new PolicyConfigError('(config)', `must be a JSON object, got ${showValue(raw)}`);
  }
  const obj = raw as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (!KNOWN.has(key)) throw new PolicyConfigError(key, `is not a known field (known: ${[...KNOWN].join(', ')})`);
  }
  let zone: string | undefined;
  if (obj['zone'] !== undefined) {
    if (typeof obj['zone'] !== 'string' || obj['zone'].trim() === '') throw new PolicyConfigError('zone', `must be a non-empty string, got ${showValue(obj['zone'])}`);
    zone = obj['zone'];
  }
  const decayMs = positiveNumber(obj, 'decayMs', 1, 3_600_000) ?? POLICY_DEFAULTS.decayMs;
  const zoneBandLow = positiveNumber(obj, 'zoneBandLow', 0.01, 100) ?? POLICY_DEFAULTS.zoneBandLow;
  const zoneBandHigh = positiveNumber(obj, 'zoneBandHigh', 0.01, 100) ?? POLICY_DEFAULTS.zoneBandHigh;
  if (zoneBandLow >= zoneBandHigh) {
    throw new PolicyConfigError('zoneBandLow', `(${zoneBandLow}) must be below zoneBandHigh (${zoneBandHigh})`);
  }
  let region: string | undefined;
  if (obj['region'] !== undefined) {
    if (typeof obj['region'] !== 'string' || obj['region'].trim() === '') throw new PolicyConfigError('region', `must be a non-empty string, got ${showValue(obj['region'])}`);
    region = obj['region'];
  }
  let affinityHeader: string | undefined;
  if (obj['affinityHeader'] !== undefined) {
    const h = obj['affinityHeader'];
    // gRPC metadata keys: lower-case ASCII letters, digits, '-', '_', '.'; binary (-bin) values are not keys.
    if (typeof h !== 'string' || !/^[0-9a-z_.-]+$/.test(h) || h.endsWith('-bin') || h.startsWith('grpc-')) {
      throw new PolicyConfigError('affinityHeader', `must be a lower-case metadata key (not -bin, not grpc-), got ${showValue(h)}`);
    }
    affinityHeader = h;
  }
  const affinityEpsilon = positiveNumber(obj, 'affinityEpsilon', 0.01, 100);
  const integer = (field: string, min: number, max: number): number | undefined => {
    const v = positiveNumber(obj, field, min, max);
    if (v !== undefined && !Number.isInteger(v)) throw new PolicyConfigError(field, `must be an integer, got ${v}`);
    return v;
  };
  const subsetSize = integer('subsetSize', 1, 100_000);
  const subsetClientIndex = integer('subsetClientIndex', 0, 1_000_000);
  const subsetClientCount = integer('subsetClientCount', 1, 1_000_000);
  if ((subsetClientIndex === undefined) !== (subsetClientCount === undefined)) {
    throw new PolicyConfigError(subsetClientIndex === undefined ? 'subsetClientIndex' : 'subsetClientCount', 'must be given together with the other one');
  }
  if (subsetClientIndex !== undefined && subsetClientIndex >= subsetClientCount!) {
    throw new PolicyConfigError('subsetClientIndex', `(${subsetClientIndex}) must be below subsetClientCount (${subsetClientCount})`);
  }
  if (subsetClientIndex !== undefined && subsetSize === undefined) throw new PolicyConfigError('subsetSize', 'is required when a client index is given');
  const outlierEjection = subConfig<EjectionOptions>(obj, 'outlierEjection', EJECTION_OPTION_FIELDS, resolveEjectionOptions);
  const slowStart = subConfig<SlowStartOptions>(obj, 'slowStart', SLOW_START_OPTION_FIELDS, resolveSlowStartOptions);
  return {
    ...(zone !== undefined ? { zone } : {}),
    decayMs,
    zoneBandLow,
    zoneBandHigh,
    ...(region !== undefined ? { region } : {}),
    ...(affinityHeader !== undefined ? { affinityHeader } : {}),
    ...(affinityEpsilon !== undefined ? { affinityEpsilon } : {}),
    ...(subsetSize !== undefined ? { subsetSize } : {}),
    ...(subsetClientIndex !== undefined ? { subsetClientIndex, subsetClientCount: subsetClientCount! } : {}),
    ...(outlierEjection !== undefined ? { outlierEjection } : {}),
    ...(slowStart !== undefined ? { slowStart } : {}),
  };
}

/** grpc-js `TypedLoadBalancingConfig` for the policy. */
export class FairwayPolicyConfig {
  constructor(readonly settings: FairwayPolicySettings) {}

  getLoadBalancerName(): string {
    return POLICY_NAME;
  }

  toJsonObject(): object {
    return { [POLICY_NAME]: { ...this.settings } };
  }

  static createFromJson(obj: unknown): FairwayPolicyConfig {
    try {
      return new FairwayPolicyConfig(parseFairwayPolicyConfig(obj));
    } catch (e) {
      // grpc-js would swallow this and quietly use pick_first: say it out loud.
      getDefaultLogger().error(`${(e as Error).message}; grpc-js falls back to another policy (pick_first), so calls are NOT balanced`);
      throw e;
    }
  }
}
