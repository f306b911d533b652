/**
 * Slow start: a new endpoint's weight ramps up over a window, measured against the set.
 *
 * Origin: Envoy `slow_start_config` (weight ramps over `slow_start_window` from `min_weight_percent`, 10 %,
 * with `aggression` 1 = linear). Envoy's own docs call it "not very effective" when every endpoint is new (a
 * full rollout): every weight is equally low, so the shares are equal again. Fairway ranks by age instead
 * of using the absolute age alone: the ramp of an endpoint that became READY `age` ms ago runs over
 * `min(windowMs, age of the oldest endpoint of the set)`. So the oldest endpoint always has its full weight,
 * an endpoint joining an old set ramps over the whole window, and in a rollout where every endpoint is new
 * the younger ones still ramp against the older ones. A client that starts with all endpoints at once sees
 * them become READY within milliseconds of each other: those that become READY within
 * {@link STARTED_TOGETHER_MS} of the first endpoint the balancer ever saw READY count as started together and
 * none of them ramps (by age they would each sit a fraction of a percent below full weight for the whole
 * window, which changes no choice and made every pick of a young client pay for the ramp: B4's new clients).
 *
 * Slow start works with the one-probe rule and the median seed: a new endpoint's first call is its single
 * probe, valued at the set median, and its share then follows `factor x weight` in the p2c cost.
 *
 * @packageDocumentation
 */
import { showValue } from './show-value.js';
import { BalancerOptionError } from './balancer-option-error.js';

/** Options of slow start (`BalancerOptions.slowStart`). */
/** The fields of {@link SlowStartOptions}, for validating configuration documents. */
export const SLOW_START_OPTION_FIELDS: ReadonlySet<string> = new Set(['windowMs', 'minWeightPercent', 'maxExtraLoadPercent']);

export interface SlowStartOptions {
  /** Ramp length, ms (the longest: see the module doc). Default 10_000. */
  windowMs?: number;
  /** Weight factor at the start of the ramp, percent. Default 10 (Envoy's min_weight_percent). */
  minWeightPercent?: number;
  /**
   * The most extra load, percent of a fair share, that the ramps together may put on each endpoint at full
   * weight. When young endpoints' weights add up to less (several ramping at once in a rolling deploy, or
   * one in a small set), every ramping weight is lifted toward full by the same fraction of its gap until
   * they do (see {@link rampLift}). Default 10; `Infinity` never lifts (each ramp on its own, as Envoy's).
   */
  maxExtraLoadPercent?: number;
}

export interface ResolvedSlowStartOptions {
  readonly windowMs: number;
  /** As a factor in (0, 1]. */
  readonly minFactor: number;
  /** As a fraction of a fair share (0.1 for 10 %). */
  readonly maxExtraLoad: number;
}

export const SLOW_START_DEFAULTS = { windowMs: 10_000, minWeightPercent: 10, maxExtraLoadPercent: 10 } as const;

/**
 * Endpoints of a balancer that become READY within this many ms of its first READY endpoint started together:
 * a client's first connections, made at once. None of them ramps. 1_000 ms.
 */
export const STARTED_TOGETHER_MS = 1_000;

/**
 * While an endpoint ramps, every answer faster than its estimate moves the estimate at least this share of
 * the way (about 50 answers to close 63 % of a gap). 0.02.
 *
 * Why: peak-EWMA (tower, Finagle) blends a faster answer with weight `1 - exp(-elapsed / decayMs)`, a time
 * constant of 10 s whatever the rate, so that one fast answer does not erase a slow period. A new pod's first
 * answers are its cold start (JIT, empty caches: B2's first 200 calls at 3x); once it is warm, a 10-s memory
 * of them keeps it at a fraction of its share for seconds (in a seeded rolling-deploy simulation a pod
 * replaced 2-4 s earlier still drew 0.7-0.8 of a fair share), and in a rolling deploy those deficits land on
 * the old pods. A warming pod's latency falls steadily, so its recent answers are the evidence; after the
 * window the endpoint is blended as any other.
 */
export const YOUNG_ESTIMATE_MIN_WEIGHT = 0.02;

/** Applies defaults; `false` turns slow start off (returns undefined). Throws a {@link BalancerOptionError} naming the bad field. */
export function resolveSlowStartOptions(o: SlowStartOptions | false | undefined): ResolvedSlowStartOptions | undefined {
  if (o === false) return undefined;
  if (o !== undefined && (typeof o !== 'object' || o === null)) throw new BalancerOptionError('slowStart', undefined, `must be an object or false, got ${showValue(o)}`);
  // A misspelt field would otherwise leave its default in force without a word (every caller, connect included).
  for (const key of Object.keys(o ?? {})) {
    if (!SLOW_START_OPTION_FIELDS.has(key)) throw new BalancerOptionError('slowStart', key, `is not a known field (known: ${[...SLOW_START_OPTION_FIELDS].join(', ')})`);
  }
  const windowMs = o?.windowMs ?? SLOW_START_DEFAULTS.windowMs;
  const minPct = o?.minWeightPercent ?? SLOW_START_DEFAULTS.minWeightPercent;
  const extraPct = o?.maxExtraLoadPercent ?? SLOW_START_DEFAULTS.maxExtraLoadPercent;
  if (typeof windowMs !== 'number' || !(windowMs > 0) || !Number.isFinite(windowMs)) {
    throw new BalancerOptionError('slowStart', 'windowMs', `must be a positive finite number of ms, got ${String(windowMs)}`);
  }
  if (typeof minPct !== 'number' || !(minPct > 0 && minPct <= 100)) {
    throw new BalancerOptionError('slowStart', 'minWeightPercent', `must be in (0, 100], got ${String(minPct)}`);
  }
  if (typeof extraPct !== 'number' || !(extraPct >= 0)) {
    throw new BalancerOptionError('slowStart', 'maxExtraLoadPercent', `must be a number >= 0 (Infinity: never lift), got ${String(extraPct)}`);
  }
  return { windowMs, minFactor: minPct / 100, maxExtraLoad: extraPct / 100 };
}

/**
 * The weight factor in `[minFactor, 1]` of an endpoint READY for `ageMs`, in a set whose oldest endpoint has
 * been READY for `oldestAgeMs` (linear ramp, see the module doc). 1 once `ageMs >= windowMs`.
 */
export function slowStartFactor(ageMs: number, oldestAgeMs: number, o: ResolvedSlowStartOptions): number {
  const rampMs = oldestAgeMs < o.windowMs ? oldestAgeMs : o.windowMs;
  if (!(ageMs < rampMs)) return 1;
  const share = ageMs > 0 ? ageMs / rampMs : 0;
  return o.minFactor + (1 - o.minFactor) * share;
}

/**
 * How far every ramping weight is lifted toward full (`t` in [0, 1]: a factor `f` becomes `f + (1 - f) t`) so
 * that the endpoints at full weight carry at most `1 + maxExtraLoad` times a fair share.
 *
 * Why: a ramp moves a young endpoint's share onto the rest of the set. One newcomer in a set of 50 at 10 %
 * weight adds 2 % to each of the others; in a rolling deploy that replaces a pod every 2 s with a 10-s window,
 * four pods ramp at once (weights 0.1, 0.28, 0.46, 0.64 of 6), and the two old pods carry 1.7x a fair share:
 * slow start, there to keep one pod from running hot, makes others hot (Envoy's docs call its slow start "not
 * very effective" in a full rollout for the mirror-image reason). Shares follow weights in the p2c cost, so a
 * full-weight endpoint's share is `1 / sum` of a set of `n` endpoints whose weights add up to `sum`; the lift
 * raises `sum` to `n / (1 + maxExtraLoad)` when it is below. A young endpoint that is slow (a cold start)
 * still gets fewer calls through its latency: the lift bounds what the ramp adds, not what the pod's own
 * speed decides.
 *
 * @param n endpoints in the set (picks' pool)
 * @param sum the sum of their slow-start factors (1 for each endpoint not ramping)
 * @param maxExtraLoad the bound, a fraction of a fair share (0.1: 10 %)
 */
export function rampLift(n: number, sum: number, maxExtraLoad: number): number {
  const needed = n / (1 + maxExtraLoad);
  if (!(sum < needed) || !(n > sum)) return 0;
  const t = (needed - sum) / (n - sum);
  return t < 1 ? t : 1;
}
