/**
 * Options of {@link Balancer}, their defaults and why, and their validation (a bad option is an error that
 * names it, thrown when the balancer is made).
 *
 * @packageDocumentation
 */
import type { ZoneMode } from './contracts.js';
import { DEFAULT_AFFINITY_EPSILON, DEFAULT_VIRTUAL_NODES } from './bounded-hash.js';
import { resolveEjectionOptions, type EjectionEvent, type EjectionOptions, type ResolvedEjectionOptions } from './ejection.js';
import { resolveSlowStartOptions, type ResolvedSlowStartOptions, type SlowStartOptions } from './slow-start.js';
import { showValue } from './show-value.js';

/** Options of a balancer. Every field is optional; the defaults are justified field by field. */
export interface BalancerOptions {
  /** The caller's zone (e.g. `eu-west-1a`). Default: undefined, which balances zone-blind (mode `all`). */
  clientZone?: string;
  /**
   * The caller's region, the tier above zones: other zones of this region open before any zone of another
   * region, and when the local zone has no READY endpoint the calls stay in the region while it has one.
   * Default: derived from `clientZone` (`regionOfZone`).
   */
  clientRegion?: string;
  /**
   * Peak-EWMA decay time constant, milliseconds. Default 10_000: tower/Linkerd's and Finagle's value; an
   * idle estimate halves every 6.9 s, and a faster sample after `t` ms of silence weighs `1 - exp(-t/decay)`.
   */
  decayMs?: number;
  /**
   * RTT estimate (ms) for a new endpoint when no endpoint of the set has answered yet. Default 30
   * (tower/Linkerd's default). Otherwise a new endpoint starts at the set's median estimate.
   */
  seedRttMs?: number;
  /**
   * RTT (ms) recorded for a failed attempt (an endpoint failure such as UNAVAILABLE, RESOURCE_EXHAUSTED, or
   * a transport error: the caller decides which statuses count; application errors should be reported as
   * `success`). Default 5_000, Linkerd's failure penalty: a fast-failing endpoint must look slow, or it
   * would attract traffic. A lone failure is capped like a lone spike (`spikeCapFactor`); a second bad
   * outcome in a row is taken in full, so an endpoint that keeps failing is left alone for about
   * `decayMs x ln(penalty / (2 x median))` (about 55 s on a 10 ms set) between single probes.
   */
  failurePenaltyMs?: number;
  /**
   * RTT (ms) recorded for an attempt that timed out (the sample is `max(latencyMs, timeoutPenaltyMs)`).
   * Default 5_000, the same as a failure: a timeout says the endpoint is stalled or far slower than its
   * peers, and the same lone-versus-repeated rule applies.
   */
  timeoutPenaltyMs?: number;
  /**
   * A lone high outcome (a sample above `spikeCapFactor x` the set's median estimate, or a penalty after a
   * normal outcome) raises the estimate to at most that cap; the second in a row is taken in full.
   * Default 3: p99/p50 ratios of healthy RPC services are commonly 2-5, so tail samples are trimmed to a
   * still strong 3x deterrent, while two >3x samples in a row are a real slowdown (noise would need two
   * p99 samples in a row: 1 in 10,000). With 3, a lone 1 s spike on a 10 ms endpoint stops deterring
   * (estimate < 20 ms) within 6.9 s, or after 4 fast answers; tower needs 46 s. `Infinity` disables the cap.
   */
  spikeCapFactor?: number;
  /**
   * Recovery probes. An endpoint whose estimate is above the set's median, with nothing in flight and no
   * outcome for this long (ms), gets one call valued at the median; if it comes back normal, its sample
   * replaces the estimate. Nothing else refreshes such an estimate (a costly endpoint is not picked), so
   * without probes a stall that is over still deters traffic until the decay wears it down (tower: ~40 s
   * from a 1 s penalty on a 10 ms set), and at low load one slow answer (a GC pause) starves an endpoint of
   * a pair for seconds. Default 250: a quarter second of reduced traffic after an estimate goes stale, while
   * a probe into a stall that is not over costs one slow attempt (retried, where a retry policy is set), and
   * the wait then doubles (`recoveryProbeMaxMs`). After a failure (e.g. UNAVAILABLE, which is never retried)
   * no probe is sent: the penalty decays as in tower, so a failing endpoint does not fail a caller's call
   * every few seconds. `Infinity` disables.
   */
  recoveryProbeMs?: number;
  /**
   * The wait before the next recovery probe doubles each time a probe comes back stalled, up to this (ms).
   * Default 16_000: a frozen endpoint costs at most one probe per 16 s (an attempt that times out), about
   * tower's own rate of re-trying it (a 5 s penalty decays under 2x a 10 ms median in ~55 s).
   */
  recoveryProbeMaxMs?: number;
  /**
   * HAZL's load band, in calls in flight per READY endpoint (time-averaged over the evaluation interval,
   * this client's calls only: latency x throughput per endpoint by Little's law). Above `high` other zones
   * open; a zone closes when the load without it would be below `low`. Default `{ low: 0.8, high: 2.0 }`
   * (HAZL's defaults). Requires `0 < low < high`.
   */
  zoneBand?: { low: number; high: number };
  /**
   * Minimum time (ms) between two zone evaluations (each averages the load since the previous one).
   * Default 1_000: long enough to average over many calls at any useful rate (and to cap mode changes at
   * one per second), short enough to open other zones within about a second of overload. A local zone
   * with no READY endpoint switches to `all` at once, without waiting.
   */
  minZoneEvaluationIntervalMs?: number;
  /**
   * Other zones nearest-first (e.g. `['eu-west-1b', 'eu-west-1c']`), opened in this order when the local
   * zone overloads; zones not listed come after, by spare capacity. Default: by spare capacity only.
   */
  zoneOrder?: readonly string[];
  /**
   * A remote zone opens when the local zone's latency (the mean of this client's answered calls over an
   * evaluation interval, smoothed) is above this multiple of that zone's latency, measured the same way from
   * this client, cross-zone delay included, and by more than 2 standard errors of the two estimates (a zone
   * known only from a probe or two is known as roughly as one call). It closes again when the local zone is no slower than it (after
   * `zoneLatencyHoldMs`). Default 1.5: a local zone 5x slower than its neighbours spills (issue 13's B3), one
   * within noise of a zone 1 ms further away does not; the gap between 1.5 (open) and 1 (close) keeps noise
   * from toggling a zone. Must be > 1.
   */
  zoneLatencyRatio?: number;
  /**
   * Zone probes: a zone outside the pool gets one pick at most this often (ms), and all probes together at
   * most 1 pick in 100, so its latency stays known (a zone never picked has none). Default 1_000: at 1,000
   * calls/s and 3 zones, 0.2 % of calls cross a zone for it. While the local zone looks much slower than a
   * remote zone known from too few probes to be sure, that zone gets 1 pick in 10 regardless, until the zone
   * rule decides (typically a window or two: a quarter second). `Infinity` sends none (then a closed zone's
   * latency is unknown and the latency rule only closes zones).
   */
  zoneProbeIntervalMs?: number;
  /**
   * A zone opened for latency stays open at least this long (ms). If it has to reopen for latency within its
   * hold after closing (a local zone that is fast only while relieved: its slowness is load), the hold
   * doubles, up to 8x. Default 30_000: under a steady demand at most one trial close per 30 s, then per
   * 60 s, 120 s, 240 s.
   */
  zoneLatencyHoldMs?: number;
  /** Called on every zone mode change (for logs and metrics). Must not throw; exceptions are ignored. */
  onZoneModeChange?: (from: ZoneMode, to: ZoneMode, why: string) => void;
  /**
   * Affinity by key (`Balancer.pickByKey`): consistent hashing with bounded loads. `epsilon` (default 0.25):
   * no endpoint above `(1 + epsilon) x` the mean calls in flight; `virtualNodes` (default 100): ring points per
   * endpoint. Only calls that carry a key use it; every other call is balanced by p2c as usual.
   */
  affinity?: { epsilon?: number; virtualNodes?: number };
  /**
   * Outlier ejection (see `ejection.ts`): consecutive failures or timeouts (5), success-rate and latency
   * outliers; at most 10 % of the set, never the last endpoint; 10 s growing to 300 s; one probe re-admits.
   * Default on with the defaults of {@link EjectionOptions}; `false` turns it off.
   */
  ejection?: EjectionOptions | false;
  /** Called on every ejection, ejection probe and re-admission (for span events, metrics, logs). Must not throw; exceptions are ignored. */
  onEjection?: (event: EjectionEvent) => void;
  /**
   * Slow start (see `slow-start.ts`): a new endpoint's weight ramps from 10 % over 10 s, measured against
   * the age of the set's oldest endpoint. Default on; `false` turns it off.
   */
  slowStart?: SlowStartOptions | false;
}

/** Options with every default applied. */
export interface ResolvedBalancerOptions {
  readonly clientZone: string | undefined;
  readonly clientRegion: string | undefined;
  readonly decayMs: number;
  readonly seedRttMs: number;
  readonly failurePenaltyMs: number;
  readonly timeoutPenaltyMs: number;
  readonly spikeCapFactor: number;
  readonly recoveryProbeMs: number;
  readonly recoveryProbeMaxMs: number;
  readonly zoneBand: { readonly low: number; readonly high: number };
  readonly minZoneEvaluationIntervalMs: number;
  readonly zoneOrder: readonly string[] | undefined;
  readonly zoneLatencyRatio: number;
  readonly zoneProbeIntervalMs: number;
  readonly zoneLatencyHoldMs: number;
  readonly onZoneModeChange: ((from: ZoneMode, to: ZoneMode, why: string) => void) | undefined;
  readonly affinity: { readonly epsilon: number; readonly virtualNodes: number };
  readonly ejection: ResolvedEjectionOptions | undefined;
  readonly onEjection: ((event: EjectionEvent) => void) | undefined;
  readonly slowStart: ResolvedSlowStartOptions | undefined;
}

export const BALANCER_DEFAULTS = {
  decayMs: 10_000,
  seedRttMs: 30,
  failurePenaltyMs: 5_000,
  timeoutPenaltyMs: 5_000,
  spikeCapFactor: 3,
  recoveryProbeMs: 250,
  recoveryProbeMaxMs: 16_000,
  zoneBand: { low: 0.8, high: 2.0 },
  minZoneEvaluationIntervalMs: 1_000,
  zoneLatencyRatio: 1.5,
  zoneProbeIntervalMs: 1_000,
  zoneLatencyHoldMs: 30_000,
} as const;

/** Applies defaults and validates; throws a `RangeError`/`TypeError` naming the bad option. */
export function resolveBalancerOptions(o: BalancerOptions = {}): ResolvedBalancerOptions {
  if (typeof o !== 'object' || o === null) throw new TypeError('Balancer options must be an object');
  const d = BALANCER_DEFAULTS;
  const positive = (name: string, v: number | undefined, def: number, allowInfinity = false): number => {
    if (v === undefined) return def;
    if (typeof v !== 'number' || Number.isNaN(v) || v <= 0 || (!allowInfinity && !Number.isFinite(v))) {
      throw new RangeError(`Balancer option ${name} must be a positive${allowInfinity ? '' : ' finite'} number, got ${String(v)}`);
    }
    return v;
  };
  if (o.clientZone !== undefined && (typeof o.clientZone !== 'string' || o.clientZone === '')) {
    throw new TypeError(`Balancer option clientZone must be a non-empty string or undefined, got ${showValue(o.clientZone)}`);
  }
  const band = o.zoneBand ?? d.zoneBand;
  if (!(typeof band.low === 'number' && typeof band.high === 'number' && band.low > 0 && band.high > band.low && Number.isFinite(band.high))) {
    throw new RangeError(`Balancer option zoneBand must satisfy 0 < low < high (finite), got ${showValue(o.zoneBand)}`);
  }
  if (o.zoneOrder !== undefined && (!Array.isArray(o.zoneOrder) || o.zoneOrder.some((z) => typeof z !== 'string'))) {
    throw new TypeError('Balancer option zoneOrder must be an array of zone names');
  }
  if (o.onZoneModeChange !== undefined && typeof o.onZoneModeChange !== 'function') {
    throw new TypeError('Balancer option onZoneModeChange must be a function');
  }
  if (o.zoneLatencyRatio !== undefined && !(typeof o.zoneLatencyRatio === 'number' && o.zoneLatencyRatio > 1 && Number.isFinite(o.zoneLatencyRatio))) {
    throw new RangeError(`Balancer option zoneLatencyRatio must be a finite number > 1, got ${String(o.zoneLatencyRatio)}`);
  }
  if (o.onEjection !== undefined && typeof o.onEjection !== 'function') {
    throw new TypeError('Balancer option onEjection must be a function');
  }
  if (o.spikeCapFactor !== undefined && o.spikeCapFactor < 1) {
    throw new RangeError(`Balancer option spikeCapFactor must be >= 1, got ${o.spikeCapFactor}`);
  }
  return {
    clientZone: o.clientZone,
    clientRegion: o.clientRegion,
    decayMs: positive('decayMs', o.decayMs, d.decayMs),
    seedRttMs: positive('seedRttMs', o.seedRttMs, d.seedRttMs),
    failurePenaltyMs: positive('failurePenaltyMs', o.failurePenaltyMs, d.failurePenaltyMs),
    timeoutPenaltyMs: positive('timeoutPenaltyMs', o.timeoutPenaltyMs, d.timeoutPenaltyMs),
    spikeCapFactor: positive('spikeCapFactor', o.spikeCapFactor, d.spikeCapFactor, true),
    recoveryProbeMs: positive('recoveryProbeMs', o.recoveryProbeMs, d.recoveryProbeMs, true),
    recoveryProbeMaxMs: Math.max(
      positive('recoveryProbeMaxMs', o.recoveryProbeMaxMs, d.recoveryProbeMaxMs, true),
      positive('recoveryProbeMs', o.recoveryProbeMs, d.recoveryProbeMs, true),
    ),
    zoneBand: { low: band.low, high: band.high },
    minZoneEvaluationIntervalMs: positive('minZoneEvaluationIntervalMs', o.minZoneEvaluationIntervalMs, d.minZoneEvaluationIntervalMs),
    zoneOrder: o.zoneOrder,
    zoneLatencyRatio: o.zoneLatencyRatio ?? d.zoneLatencyRatio,
    zoneProbeIntervalMs: positive('zoneProbeIntervalMs', o.zoneProbeIntervalMs, d.zoneProbeIntervalMs, true),
    zoneLatencyHoldMs: positive('zoneLatencyHoldMs', o.zoneLatencyHoldMs, d.zoneLatencyHoldMs),
    onZoneModeChange: o.onZoneModeChange,
    affinity: {
      epsilon: positive('affinity.epsilon', o.affinity?.epsilon, DEFAULT_AFFINITY_EPSILON, true),
      virtualNodes: positive('affinity.virtualNodes', o.affinity?.virtualNodes, DEFAULT_VIRTUAL_NODES),
    },
    ejection: resolveEjectionOptions(o.ejection),
    onEjection: o.onEjection,
    slowStart: resolveSlowStartOptions(o.slowStart),
  };
}
