/**
 * Outlier ejection with protection: which endpoints leave the pick set for a while, and when they come back.
 *
 * Origin: Envoy outlier detection (`outlier_detection.proto`: consecutive 5xx = 5, base ejection 30 s times
 * the number of ejections, max_ejection_percent 10 %, success-rate ejection at mean - 1.9 stdev with >= 5
 * hosts of >= 100 requests each), Finagle failure accrual (5 consecutive failures), gRFC A50. What Fairway
 * adds:
 * - a timed-out attempt counts as a failure (Envoy's detection never sees client-side timeouts), but a
 *   streak ejects only while at least half of the other endpoints last answered normally: a request that is
 *   slow everywhere (or a fleet-wide failure) says nothing against one endpoint;
 * - a latency outlier: an endpoint whose peak-EWMA estimate stays above `latencyFactor x` the set's median
 *   for two evaluations in a row while at least two others answer (no anchor has this, Envoy issue 288);
 * - one probe re-admits: when the ejection time is over the endpoint returns for exactly one call valued at
 *   the set's median; a normal answer re-admits it, a failure or a timeout ejects it again for longer.
 * Protection: at most `maxEjectedPercent` of the set is ejected at once (at least one endpoint of a set of
 * two or more may be, so one bad pod of six can go), and never the last one: a set is never emptied.
 *
 * Everything here is pure: time is an argument, the balancer calls it from its release and pick paths.
 *
 * @packageDocumentation
 */
import { showValue } from './show-value.js';
import { BalancerOptionError } from './balancer-option-error.js';

/** Why an endpoint was ejected. */
export type EjectionReason = 'consecutive-failures' | 'success-rate' | 'latency';

/** Options of outlier ejection (`BalancerOptions.ejection`). Every field is optional. */
/** The fields of {@link EjectionOptions}, for validating configuration documents (unknown fields are refused). */
export const EJECTION_OPTION_FIELDS: ReadonlySet<string> = new Set([
  'consecutiveFailures',
  'baseEjectionMs',
  'maxEjectionMs',
  'maxEjectedPercent',
  'intervalMs',
  'successRateStdevFactor',
  'successRateMinimumCalls',
  'successRateMinimumHosts',
  'latencyFactor',
]);

export interface EjectionOptions {
  /**
   * Eject after this many failures or timed-out attempts in a row (any normal answer resets the count).
   * Default 5 (Envoy's consecutive_5xx, Finagle's failure accrual). `Infinity` disables this rule.
   */
  consecutiveFailures?: number;
  /**
   * First ejection time, ms; the n-th ejection in a row lasts `n x baseEjectionMs`, capped at
   * `maxEjectionMs`. Default 10_000: shorter than Envoy's 30 s because a return costs one probe call, not a
   * share of the traffic, and a stall that ends (a 5 s GC pause) should not cost a pod's capacity for 30 s
   * (Finagle's failure accrual starts its back-off at 5 s).
   */
  baseEjectionMs?: number;
  /** Longest ejection, ms. Default 300_000 (Envoy's max_ejection_time). */
  maxEjectionMs?: number;
  /**
   * At most this share of the set (percent) is ejected at once; at least one endpoint of a set of two or
   * more may be, and never the last one. Default 10 (Envoy's max_ejection_percent).
   */
  maxEjectedPercent?: number;
  /** How often (ms) the success-rate and latency rules are evaluated over the calls since the last evaluation. Default 10_000 (Envoy's interval). */
  intervalMs?: number;
  /**
   * Success-rate rule: an endpoint with at least `successRateMinimumCalls` outcomes in the interval whose
   * success rate is below `mean - successRateStdevFactor x stdev` of such endpoints (at least
   * `successRateMinimumHosts` of them) is ejected. Defaults 1.9, 100 calls, 5 hosts (Envoy's). `Infinity`
   * as the factor disables the rule.
   */
  successRateStdevFactor?: number;
  successRateMinimumCalls?: number;
  successRateMinimumHosts?: number;
  /**
   * Latency rule: an endpoint whose estimate is above `latencyFactor x` the set median at two evaluations
   * in a row, having answered in both intervals while at least two other endpoints answered, is ejected.
   * Default 5 (the spike cap is 3: a lone spike never reaches it). `Infinity` disables the rule.
   */
  latencyFactor?: number;
}

export interface ResolvedEjectionOptions {
  readonly consecutiveFailures: number;
  readonly baseEjectionMs: number;
  readonly maxEjectionMs: number;
  readonly maxEjectedPercent: number;
  readonly intervalMs: number;
  readonly successRateStdevFactor: number;
  readonly successRateMinimumCalls: number;
  readonly successRateMinimumHosts: number;
  readonly latencyFactor: number;
}

export const EJECTION_DEFAULTS: ResolvedEjectionOptions = {
  consecutiveFailures: 5,
  baseEjectionMs: 10_000,
  maxEjectionMs: 300_000,
  maxEjectedPercent: 10,
  intervalMs: 10_000,
  successRateStdevFactor: 1.9,
  successRateMinimumCalls: 100,
  successRateMinimumHosts: 5,
  latencyFactor: 5,
};

/** Applies defaults; `false` turns ejection off (returns undefined). Throws a {@link BalancerOptionError} naming the bad field. */
export function resolveEjectionOptions(o: EjectionOptions | false | undefined): ResolvedEjectionOptions | undefined {
  if (o === false) return undefined;
  if (o === undefined) return EJECTION_DEFAULTS;
  if (typeof o !== 'object' || o === null) throw new BalancerOptionError('ejection', undefined, `must be an object or false, got ${showValue(o)}`);
  // A misspelt field would otherwise leave its default in force without a word (every caller, connect included).
  for (const key of Object.keys(o)) {
    if (!EJECTION_OPTION_FIELDS.has(key)) throw new BalancerOptionError('ejection', key, `is not a known field (known: ${[...EJECTION_OPTION_FIELDS].join(', ')})`);
  }
  const d = EJECTION_DEFAULTS;
  const num = (name: keyof EjectionOptions, min: number, allowInfinity: boolean): number => {
    const v = o[name];
    if (v === undefined) return d[name];
    if (typeof v !== 'number' || Number.isNaN(v) || v < min || (!allowInfinity && !Number.isFinite(v))) {
      throw new BalancerOptionError('ejection', name, `must be a ${allowInfinity ? '' : 'finite '}number >= ${min}, got ${String(v)}`);
    }
    return v;
  };
  const r: ResolvedEjectionOptions = {
    consecutiveFailures: num('consecutiveFailures', 1, true),
    baseEjectionMs: num('baseEjectionMs', 1, false),
    maxEjectionMs: num('maxEjectionMs', 1, false),
    maxEjectedPercent: num('maxEjectedPercent', 0, false),
    intervalMs: num('intervalMs', 1, false),
    successRateStdevFactor: num('successRateStdevFactor', 0, true),
    successRateMinimumCalls: num('successRateMinimumCalls', 1, false),
    successRateMinimumHosts: num('successRateMinimumHosts', 2, false),
    latencyFactor: num('latencyFactor', 1, true),
  };
  if (r.maxEjectedPercent > 100) throw new BalancerOptionError('ejection', 'maxEjectedPercent', `must be <= 100, got ${r.maxEjectedPercent}`);
  if (r.maxEjectionMs < r.baseEjectionMs) {
    throw new BalancerOptionError('ejection', 'maxEjectionMs', `(${r.maxEjectionMs}) must be >= baseEjectionMs (${r.baseEjectionMs})`);
  }
  return r;
}

/** The ejection fields the balancer keeps per endpoint. */
export interface EjectionState {
  /** `none`, `ejected` (out of the pick set until `ejectedUntilMs`), or `probe` (back for one call). */
  ejection: 'none' | 'ejected' | 'probe';
  ejectionReason: EjectionReason | undefined;
  ejectedUntilMs: number;
  /** Ejections in a row (reset after a re-admitted endpoint stays in for `maxEjectionMs`). */
  ejections: number;
  readmittedAtMs: number;
  /** Failures or timeouts in a row. */
  consecutiveFailures: number;
  /** Outcomes in the current interval (successes, and all that are not cancelled). */
  intervalSuccesses: number;
  intervalCalls: number;
  /** The latency rule flagged this endpoint at the previous evaluation. */
  latencyFlagged: boolean;
}

/** How many endpoints of a set of `size` may be ejected at once. */
export function maxEjected(size: number, percent: number): number {
  if (size < 2 || percent <= 0) return 0;
  return Math.min(size - 1, Math.max(1, Math.floor((size * percent) / 100)));
}

/**
 * The number the next ejection of `s` will have in its run of ejections: 1 for a first one, or for an
 * endpoint that stayed re-admitted for `maxEjectionMs` (Envoy decrements its multiplier each healthy
 * interval; this is the same idea in one comparison), else one more than before.
 */
export function nextEjectionCount(s: EjectionState, o: ResolvedEjectionOptions, nowMs: number): number {
  return s.ejection === 'none' && nowMs - s.readmittedAtMs >= o.maxEjectionMs ? 1 : s.ejections + 1;
}

/** How long the `n`-th ejection in a row lasts, ms: `n x baseEjectionMs`, capped at `maxEjectionMs`. */
export function ejectionDurationMs(n: number, o: ResolvedEjectionOptions): number {
  return Math.min(n * o.baseEjectionMs, o.maxEjectionMs);
}

/** Records one outcome in the consecutive and interval counters; true when the consecutive rule now asks for ejection. */
export function countOutcome(s: EjectionState, kind: 'success' | 'failure' | 'timeout', o: ResolvedEjectionOptions): boolean {
  s.intervalCalls++;
  if (kind === 'success') {
    s.intervalSuccesses++;
    s.consecutiveFailures = 0;
    return false;
  }
  s.consecutiveFailures++;
  return s.consecutiveFailures >= o.consecutiveFailures;
}

/** One endpoint's figures for an evaluation. */
export interface IntervalFigures {
  readonly s: EjectionState;
  /** Decayed peak-EWMA estimate now, ms. */
  readonly rttMs: number;
}

/**
 * Evaluates the success-rate and latency rules over the interval that ends now and resets the interval
 * counters. Returns the endpoints the rules ask to eject, each with its reason, worst first (the caller
 * applies the share cap). `medianMs` is the set's median estimate.
 */
export function evaluateInterval(
  rows: readonly IntervalFigures[],
  medianMs: number,
  o: ResolvedEjectionOptions,
): { s: EjectionState; reason: EjectionReason; score: number }[] {
  const out: { s: EjectionState; reason: EjectionReason; score: number }[] = [];
  // Success rate: only endpoints with enough volume, only with enough such endpoints.
  if (o.successRateStdevFactor !== Infinity) {
    let n = 0;
    let sum = 0;
    let sumSq = 0;
    for (const { s } of rows) {
      if (s.ejection !== 'none' || s.intervalCalls < o.successRateMinimumCalls) continue;
      const rate = s.intervalSuccesses / s.intervalCalls;
      n++;
      sum += rate;
      sumSq += rate * rate;
    }
    if (n >= o.successRateMinimumHosts) {
      const mean = sum / n;
      const stdev = Math.sqrt(Math.max(0, sumSq / n - mean * mean));
      const threshold = mean - o.successRateStdevFactor * stdev;
      for (const { s } of rows) {
        if (s.ejection !== 'none' || s.intervalCalls < o.successRateMinimumCalls) continue;
        const rate = s.intervalSuccesses / s.intervalCalls;
        if (rate < threshold) out.push({ s, reason: 'success-rate', score: threshold - rate });
      }
    }
  }
  // Latency: stays k x the median, while others answer.
  if (o.latencyFactor !== Infinity) {
    let answering = 0;
    for (const { s } of rows) if (s.ejection === 'none' && s.intervalCalls > 0) answering++;
    for (const { s, rttMs } of rows) {
      const slow = s.ejection === 'none' && s.intervalCalls > 0 && answering >= 3 && rttMs > o.latencyFactor * medianMs;
      if (slow && s.latencyFlagged && !out.some((x) => x.s === s)) out.push({ s, reason: 'latency', score: rttMs / medianMs });
      s.latencyFlagged = slow;
    }
  }
  for (const { s } of rows) {
    s.intervalCalls = 0;
    s.intervalSuccesses = 0;
  }
  out.sort((a, b) => b.score - a.score);
  return out;
}

/** An ejection or a re-admission, for span events, metrics, logs and the CLI. */
export interface EjectionEvent {
  readonly kind: 'ejected' | 'probe' | 'readmitted';
  readonly key: string;
  readonly address: string;
  /** Why it was ejected (also on `probe` and `readmitted`: the ejection that ended). */
  readonly reason: EjectionReason;
  /** `ejected`: for how long, ms. */
  readonly durationMs?: number;
  /** Ejections in a row so far. */
  readonly ejections: number;
  /** Human-readable: what happened and why. */
  readonly detail: string;
}
