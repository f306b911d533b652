/**
 * The recent latency distribution of one method: a ring of the last `capacity` attempt latencies and a
 * quantile of them, recomputed only every `recomputeEvery` samples (a sort of a few hundred numbers, not
 * per call). The hedging delay is read from it: Finagle's backup requests send the backup at the
 * (1 - maxExtraLoad) latency percentile, so that about that share of calls is hedged.
 *
 * Pure: no clock, no I/O.
 */

/** Samples needed before a quantile is given (fewer say nothing about a tail). */
export const MIN_LATENCY_SAMPLES = 20;

export class LatencyWindow {
  private readonly ring: Float64Array;
  private readonly sorted: Float64Array;
  private count = 0;
  private next = 0;
  private sinceComputed = 0;
  private cachedQuantile = Number.NaN;
  private cachedMedian = Number.NaN;

  /**
   * @param quantile which quantile to report, in (0, 1), e.g. 0.95.
   * @param capacity how many recent samples are kept. Default 256.
   * @param recomputeEvery how many new samples before the quantile is recomputed. Default 16.
   */
  constructor(
    private readonly quantile: number,
    capacity = 256,
    private readonly recomputeEvery = 16,
  ) {
    if (!(quantile > 0 && quantile < 1)) throw new RangeError(`LatencyWindow: quantile ${quantile} is not in (0, 1)`);
    if (!(Number.isInteger(capacity) && capacity >= MIN_LATENCY_SAMPLES)) {
      throw new RangeError(`LatencyWindow: capacity ${capacity} must be an integer >= ${MIN_LATENCY_SAMPLES}`);
    }
    this.ring = new Float64Array(capacity);
    this.sorted = new Float64Array(capacity);
  }

  /** Number of samples held (at most the capacity). */
  get size(): number {
    return this.count;
  }

  /** Records one latency, ms (negative or non-finite values are ignored). */
  record(latencyMs: number): void {
    if (!(latencyMs >= 0) || !Number.isFinite(latencyMs)) return;
    this.ring[this.next] = latencyMs;
    this.next = (this.next + 1) % this.ring.length;
    if (this.count < this.ring.length) this.count++;
    this.sinceComputed++;
  }

  /** The configured quantile of the held samples, ms; `undefined` until {@link MIN_LATENCY_SAMPLES} are held. */
  value(): number | undefined {
    if (this.count < MIN_LATENCY_SAMPLES) return undefined;
    this.recompute();
    return this.cachedQuantile;
  }

  /** The median of the held samples, ms; `undefined` until {@link MIN_LATENCY_SAMPLES} are held. */
  median(): number | undefined {
    if (this.count < MIN_LATENCY_SAMPLES) return undefined;
    this.recompute();
    return this.cachedMedian;
  }

  private recompute(): void {
    if (!Number.isNaN(this.cachedQuantile) && this.sinceComputed < this.recomputeEvery) return;
    const view = this.sorted.subarray(0, this.count);
    view.set(this.ring.subarray(0, this.count));
    view.sort();
    // Nearest rank: the smallest sample with at least `quantile` of the samples at or below it.
    const rank = Math.min(this.count - 1, Math.max(0, Math.ceil(this.quantile * this.count) - 1));
    this.cachedQuantile = view[rank]!;
    this.cachedMedian = view[Math.min(this.count - 1, Math.max(0, Math.ceil(0.5 * this.count) - 1))]!;
    this.sinceComputed = 0;
  }
}
