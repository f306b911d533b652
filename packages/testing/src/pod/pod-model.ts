/**
 * A pod with a capacity (see `shared/design/benchmarks.md`, "Why pods need a capacity").
 *
 * CONTRACT ONLY: the implementation (`createPod`) is being written against these types. A backend that answers
 * after an async sleep has unlimited capacity, so piling every call onto it costs nothing; this model serves
 * `slots` calls at once, queues the rest FIFO (optionally bounded), draws each call's service time from a
 * tailed distribution, and supports the events that make a real pod slow (a capacity cut, a periodic
 * stop-the-world pause, a cold start). It uses timers only and never burns CPU, so one 2-core machine can host
 * a faithful fleet. Time and randomness are injected so that tests drive it with a fake clock.
 */

/** The timers the pod uses; real timers by default, a fake clock in tests. */
export interface PodTimers {
  /** Milliseconds on any monotonic scale. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** How long one call occupies a slot at full capacity. */
export type ServiceTimeDistribution =
  | { readonly kind: 'fixed'; readonly ms: number }
  | { readonly kind: 'exponential'; readonly meanMs: number }
  /** Log-normal with the given mean (ms) and shape `sigma` (the std. dev. of the underlying normal; 0.5 is a moderate tail). */
  | { readonly kind: 'lognormal'; readonly meanMs: number; readonly sigma: number };

export interface PodOptions {
  /** Calls served at once (the pod's "cores"). At least 1. */
  readonly slots: number;
  /** Service time per call at full capacity. */
  readonly serviceTime: ServiceTimeDistribution;
  /** Calls that may wait; one more is refused (`PodOverloadedError`, answered as RESOURCE_EXHAUSTED). Default unbounded. */
  readonly queueBound?: number;
  /** The first `calls` calls take `factor` x their service time (JIT, cold caches). Default none. */
  readonly coldStart?: { readonly calls: number; readonly factor: number };
  /** A stop-the-world pause of `pauseMs` every `everyMs` (a GC): no call progresses while paused. Default none. */
  readonly pause?: { readonly everyMs: number; readonly pauseMs: number };
  /** Uniform [0, 1) source; default `Math.random`. Pass a seeded one for reproducible runs. */
  readonly random?: () => number;
  /** Default: real timers (`performance.now`, `setTimeout`). */
  readonly timers?: PodTimers;
}

/** What a served call reports. */
export interface PodServed {
  /** Time spent waiting for a slot, ms. */
  readonly queuedMs: number;
  /** Time spent in a slot (service time, stretched by a capacity cut or a pause), ms. */
  readonly serviceMs: number;
}

/** Live figures, so a table can say why a pod was slow. */
export interface PodStats {
  readonly served: number;
  readonly rejected: number;
  /** Calls in a slot now. */
  readonly inService: number;
  /** Calls waiting now. */
  readonly queueLength: number;
  /** Busy slot-time / (slots x elapsed) since the last `resetStats()` (or creation), 0..1. */
  readonly utilization: number;
  /** Queueing delay of calls that got a slot since the last reset, ms. */
  readonly queueDelayMs: { readonly mean: number; readonly p50: number; readonly p99: number; readonly max: number };
  /** Calls per second the pod can serve now: slots / mean service time x capacity factor. */
  readonly capacityPerSec: number;
  /** The current capacity factor (1 = full). */
  readonly capacityFactor: number;
}

export interface Pod {
  /**
   * Admits one call: resolves when it has been served (queueing plus service time); rejects with
   * `PodOverloadedError` at once when the queue is full. `signal` aborts a waiting or running call (a
   * cancelled gRPC call frees its slot or its queue place).
   */
  serve(signal?: AbortSignal): Promise<PodServed>;
  /** A noisy neighbour: the pod keeps `factor` (0 < factor <= 1) of its CPU, so service times stretch by 1/factor. */
  setCapacityFactor(factor: number): void;
  stats(): PodStats;
  resetStats(): void;
  /** Stops the pause timer; waiting calls are rejected. */
  stop(): void;
}

/** Thrown by `serve` when the queue bound is reached; backends answer it with RESOURCE_EXHAUSTED. */
export class PodOverloadedError extends Error {
  constructor(readonly queueBound: number) {
    super(`pod overloaded: ${queueBound} calls already waiting (queue bound)`);
    this.name = 'PodOverloadedError';
  }
}
