/**
 * Adaptive concurrency: a per-target limit on calls in flight, adapted from latency (Gradient2-like).
 *
 * Origin: Netflix concurrency-limits `Gradient2Limit.java`. The limit follows the ratio of a long-term RTT
 * (the "no load" latency) to the short-term RTT (the average of the latest window of about one long RTT):
 * when calls queue somewhere, the short RTT rises above the long one and the limit shrinks; while they do
 * not, it grows by `queueSize x smoothing` per window. Once per window:
 * `gradient = clamp(rttTolerance x long / short, 0.5, 1)`, `target = limit x gradient + queueSize`,
 * `limit = limit x (1 - smoothing) + target x smoothing`, clamped to `[minLimit, maxLimit]`. The limit does
 * not grow while fewer than half of it are in flight (the caller, not the server, limits the rate).
 * Fairway's change: the long RTT follows a faster window at once but a slower one only from windows at the
 * floor (see `sample`), because Gradient2's average of every sample drifts up under sustained overload.

 * A call above the limit is refused at once (the caller fails it with RESOURCE_EXHAUSTED naming the limit):
 * timeout retries then can never pile more calls onto an overloaded fleet than the limit allows. Pure: time
 * is an argument; the grpc package calls it around each attempt.
 *
 * @packageDocumentation
 */
import { showValue } from './show-value.js';

/** Options of adaptive concurrency. Every field is optional. */
export interface ConcurrencyLimitOptions {
  /** Limit before any sample, calls. Default 20 (Gradient2's). */
  initialLimit?: number;
  /** Lowest limit, calls. Default 20 (Gradient2's). */
  minLimit?: number;
  /** Highest limit, calls. Default 200 (Gradient2's). */
  maxLimit?: number;
  /** Weight of each new target in the limit, (0, 1]. Default 0.2 (Gradient2's). */
  smoothing?: number;
  /** Headroom added to the limit per sample, calls (Gradient2's "queue size"). Default 4. */
  queueSize?: number;
  /**
   * Short RTT up to this multiple of the long RTT counts as no queueing (gradient 1). Default 1.5
   * (Gradient2's `rttTolerance`): a tailed service time's ordinary samples must not shrink the limit.
   */
  rttTolerance?: number;
  /** Samples the long-term RTT averages over. Default 600 (Gradient2's `longWindow`). */
  longWindow?: number;
}

export interface ResolvedConcurrencyLimitOptions {
  readonly initialLimit: number;
  readonly minLimit: number;
  readonly maxLimit: number;
  readonly smoothing: number;
  readonly queueSize: number;
  readonly rttTolerance: number;
  readonly longWindow: number;
}

export const CONCURRENCY_LIMIT_DEFAULTS: ResolvedConcurrencyLimitOptions = {
  initialLimit: 20,
  minLimit: 20,
  maxLimit: 200,
  smoothing: 0.2,
  queueSize: 4,
  rttTolerance: 1.5,
  longWindow: 600,
};

/** How the details of a refusal start (see {@link ConcurrencyLimiter.refusal}). */
export const CONCURRENCY_LIMIT_REFUSAL_PREFIX = 'Fairway adaptive concurrency limit reached';

/** The first windows of the long RTT are a plain average (Gradient2's warm-up). */
const WARMUP_SAMPLES = 10;

/** Applies defaults and validates; throws a `RangeError` naming the bad field. */
export function resolveConcurrencyLimitOptions(o: ConcurrencyLimitOptions = {}): ResolvedConcurrencyLimitOptions {
  if (typeof o !== 'object' || o === null) throw new TypeError(`concurrencyLimit must be an object, got ${showValue(o)}`);
  const d = CONCURRENCY_LIMIT_DEFAULTS;
  const num = (name: keyof ConcurrencyLimitOptions, min: number, max: number): number => {
    const v = o[name];
    if (v === undefined) return d[name];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      throw new RangeError(`concurrencyLimit.${name} must be a finite number in [${min}, ${max}], got ${String(v)}`);
    }
    return v;
  };
  const minLimit = num('minLimit', 1, 1e6);
  const maxLimit = num('maxLimit', 1, 1e6);
  if (maxLimit < minLimit) throw new RangeError(`concurrencyLimit.maxLimit (${maxLimit}) must be >= minLimit (${minLimit})`);
  const r = {
    initialLimit: o.initialLimit === undefined ? Math.min(Math.max(d.initialLimit, minLimit), maxLimit) : num('initialLimit', 1, 1e6),
    minLimit,
    maxLimit,
    smoothing: num('smoothing', 1e-6, 1),
    queueSize: num('queueSize', 0, 1e6),
    rttTolerance: num('rttTolerance', 1, 100),
    longWindow: num('longWindow', 1, 1e7),
  };
  if (r.initialLimit < minLimit || r.initialLimit > maxLimit) {
    throw new RangeError(`concurrencyLimit.initialLimit (${r.initialLimit}) must be within [minLimit, maxLimit] = [${minLimit}, ${maxLimit}]`);
  }
  return r;
}

/** One admitted call: release it exactly once when it ends (later calls are ignored). */
export interface LimitTicket {
  /**
   * Uncounts the call; a latency sample (ms) adapts the limit. Pass the latency to the first response
   * message (or to the status for a unary call or a timeout); no sample for a cancelled call.
   */
  release(latencyMs: number | undefined, nowMs: number): void;
}

/** Creates a {@link ConcurrencyLimiter}. */
export function createConcurrencyLimiter(options?: ConcurrencyLimitOptions): ConcurrencyLimiter {
  return new ConcurrencyLimiter(options);
}

export class ConcurrencyLimiter {
  private readonly o: ResolvedConcurrencyLimitOptions;
  private estimate: number;
  private longRttMs = 0;
  private windows = 0;
  private inFlightNow = 0;
  private refused = 0;
  private windowSum = 0;
  private windowCount = 0;
  private windowInFlight = 0;
  private windowStartMs = Number.NEGATIVE_INFINITY;

  constructor(options?: ConcurrencyLimitOptions) {
    this.o = resolveConcurrencyLimitOptions(options);
    this.estimate = this.o.initialLimit;
  }

  /** The current limit on calls in flight (whole calls). */
  get limit(): number {
    return Math.floor(this.estimate);
  }

  /** Calls admitted and not yet released. */
  get inFlight(): number {
    return this.inFlightNow;
  }

  /** Calls refused so far. */
  get refusedCount(): number {
    return this.refused;
  }

  /** The long-term RTT (ms) the limit compares samples with; 0 before the first sample. */
  get longRtt(): number {
    return this.longRttMs;
  }

  /** Admits a call (counted in flight at once) or refuses it (undefined) when the limit is reached. */
  tryAcquire(): LimitTicket | undefined {
    if (this.inFlightNow >= this.limit) {
      this.refused++;
      return undefined;
    }
    const inFlightAtStart = ++this.inFlightNow;
    let released = false;
    return {
      release: (latencyMs, nowMs) => {
        if (released) return;
        released = true;
        this.inFlightNow--;
        if (typeof latencyMs === 'number' && latencyMs >= 0 && Number.isFinite(latencyMs)) this.sample(latencyMs, inFlightAtStart, nowMs);
      },
    };
  }

  /** Why a call was refused, for the RESOURCE_EXHAUSTED details. */
  refusal(): string {
    return `${CONCURRENCY_LIMIT_REFUSAL_PREFIX}: ${this.inFlightNow} calls in flight, limit ${this.limit} (adapted from latency: long-term RTT ${this.longRttMs.toFixed(1)} ms)`;
  }

  private sample(rttMs: number, inFlight: number, nowMs: number): void {
    const o = this.o;
    // The short RTT is the average over a window of about one long RTT, and the limit moves once per window:
    // samples describe the limit of a round trip ago, so moving it per sample overshoots at thousands of calls
    // per second (measured: the limit swings 20 <-> 100). Netflix wraps Gradient2 in a windowed limit too.
    this.windowSum += rttMs > 1e-3 ? rttMs : 1e-3;
    this.windowCount++;
    if (inFlight > this.windowInFlight) this.windowInFlight = inFlight;
    if (nowMs - this.windowStartMs < this.longRttMs) return;
    const short = this.windowSum / this.windowCount;
    const peakInFlight = this.windowInFlight;
    this.windowSum = 0;
    this.windowCount = 0;
    this.windowInFlight = 0;
    this.windowStartMs = nowMs;
    this.windows++;
    // The long RTT stands for "no queueing". It follows a faster window at once, and a slower one (an EMA over
    // `longWindow` windows) only when the window's calls started with at most `minLimit + queueSize` in flight:
    // then this client added no queue of its own beyond the floor and its headroom, so a service that became
    // slower for good is still learnt (the limit falls to the floor, whose samples teach the new latency). Gradient2 feeds every
    // sample into a 600-sample average: under sustained overload at thousands of calls per second that average
    // drifts up to the queued latency within seconds, the gradient returns to 1 and the limit climbs to
    // maxLimit (measured in the B11 simulation: limit 200, p99 of answered calls 5x the service time).
    if (this.windows <= WARMUP_SAMPLES) this.longRttMs += (short - this.longRttMs) / this.windows;
    else if (short < this.longRttMs) this.longRttMs = short;
    else if (peakInFlight <= o.minLimit + o.queueSize) this.longRttMs += (short - this.longRttMs) * (2 / (o.longWindow + 1));
    if (peakInFlight < this.estimate / 2) return; // the caller limits the rate, not the servers: no evidence
    const gradient = Math.max(0.5, Math.min(1, (o.rttTolerance * this.longRttMs) / short));
    const target = this.estimate * gradient + o.queueSize;
    const next = this.estimate * (1 - o.smoothing) + target * o.smoothing;
    this.estimate = Math.max(o.minLimit, Math.min(o.maxLimit, next));
  }
}
