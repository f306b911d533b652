/** What the driver reports to the demo runner (every second, and once at the end). */

/** One pricer pod as the driver saw it (by instance name: every incarnation of it counts together). */
export interface PodStats {
  readonly zone: string;
  /** Replies from this pod since the start. */
  readonly calls: number;
  /** Replies from this pod in the last second. */
  readonly windowCalls: number;
  /** Highest in-flight count the pod reported in its replies during the last second. */
  readonly inFlight: number;
  /** Incarnations seen (more than one: it was restarted). */
  readonly incarnations: readonly string[];
  /** End-to-end latency at the driver, ms: last second for `stats`, whole run for `final`. */
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface DriverStats {
  readonly type: 'stats' | 'final';
  readonly mode: 'fairway' | 'pick_first';
  readonly elapsedMs: number;
  /** Calls started. */
  readonly sent: number;
  /** Calls answered OK. */
  readonly ok: number;
  /** Calls that ended with a non-OK status. */
  readonly failed: number;
  /** Calls not started because the driver's in-flight cap was reached (the system was too slow). */
  readonly shed: number;
  /** Driver -> pricer calls answered in the caller's zone / in another zone. */
  readonly inZone: number;
  readonly crossZone: number;
  /** Pricer -> publisher calls in the pricer's zone / in another zone. */
  readonly publishInZone: number;
  readonly publishCrossZone: number;
  /** Retried attempts (attempt 2 and later). */
  readonly retries: number;
  /** Calls in flight at the driver now. */
  readonly inFlight: number;
  /** Replies in the last second. */
  readonly windowCalls: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Failed calls by `code details`. */
  readonly errors: Readonly<Record<string, number>>;
  readonly pods: Readonly<Record<string, PodStats>>;
}
