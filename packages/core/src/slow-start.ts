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

/** Options of slow start (`BalancerOptions.slowStart`). */
/** The fields of {@link SlowStartOptions}, for validating configuration documents. */
export const SLOW_START_OPTION_FIELDS: ReadonlySet<string> = new Set(['windowMs', 'minWeightPercent']);

export interface SlowStartOptions {
  /** Ramp length, ms (the longest: see the module doc). Default 10_000. */
  windowMs?: number;
  /** Weight factor at the start of the ramp, percent. Default 10 (Envoy's min_weight_percent). */
  minWeightPercent?: number;
}

export interface ResolvedSlowStartOptions {
  readonly windowMs: number;
  /** As a factor in (0, 1]. */
  readonly minFactor: number;
}

export const SLOW_START_DEFAULTS = { windowMs: 10_000, minWeightPercent: 10 } as const;

/**
 * Endpoints of a balancer that become READY within this many ms of its first READY endpoint started together:
 * a client's first connections, made at once. None of them ramps. 1_000 ms.
 */
export const STARTED_TOGETHER_MS = 1_000;

/** Applies defaults; `false` turns slow start off (returns undefined). Throws a `RangeError` naming the bad field. */
export function resolveSlowStartOptions(o: SlowStartOptions | false | undefined): ResolvedSlowStartOptions | undefined {
  if (o === false) return undefined;
  if (o !== undefined && (typeof o !== 'object' || o === null)) throw new TypeError(`Balancer option slowStart must be an object or false, got ${JSON.stringify(o)}`);
  const windowMs = o?.windowMs ?? SLOW_START_DEFAULTS.windowMs;
  const minPct = o?.minWeightPercent ?? SLOW_START_DEFAULTS.minWeightPercent;
  if (typeof windowMs !== 'number' || !(windowMs > 0) || !Number.isFinite(windowMs)) {
    throw new RangeError(`Balancer option slowStart.windowMs must be a positive finite number of ms, got ${String(windowMs)}`);
  }
  if (typeof minPct !== 'number' || !(minPct > 0 && minPct <= 100)) {
    throw new RangeError(`Balancer option slowStart.minWeightPercent must be in (0, 100], got ${String(minPct)}`);
  }
  return { windowMs, minFactor: minPct / 100 };
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
