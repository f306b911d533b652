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
  /** Driver -> pricer calls answered in the caller's zone / in another zone (a canary's calls: see `live`). */
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
  /** What the driver's Fairway clients applied of the live configuration document (absent for pick_first). */
  readonly live?: DriverLiveStats;
}

/**
 * The live document as the driver's own Fairway clients (one per zone) applied it: the revision each call ran
 * under (`CallDescription.configRevision`, the same number as the attempt spans' `fairway.config.revision`),
 * the canary group each call's pick landed in (`PickExplanation.canary`), and the halts the clients announced.
 * Facts from the client, not the runner's intention.
 */
export interface DriverLiveStats {
  /** Per zone client: the revision its latest call started under (0: no document). */
  readonly revisionByZone: Readonly<Record<string, number>>;
  /** Per revision seen (as a string key): OK calls that ran under it, how many landed on a canary, when first seen. */
  readonly revisions: Readonly<Record<string, RevisionCalls>>;
  /** Instances the clients picked as canaries (pick explanation group `canary`). */
  readonly canaryInstances: readonly string[];
  /** OK calls answered by a canary in the last second (`stats`) / in the run (`final`). */
  readonly canaryWindowCalls: number;
  /**
   * Calls a canary answered in the caller's zone / in another zone. They are left out of `inZone` and
   * `crossZone`: the document sends its share of every zone's calls to the canary wherever it runs, so they
   * say nothing about the balancer's zone choice.
   */
  readonly canaryInZone: number;
  readonly canaryCrossZone: number;
  /** Automatic halts announced by the clients (the first pick after a halt carries the reason). */
  readonly halts: readonly CanaryHaltSeen[];
}

export interface RevisionCalls {
  /** OK calls that started under this revision (all zones), by a client that had not halted the canary. */
  readonly calls: number;
  /**
   * Of those, calls picked under canary routing (the pick explanation has a canary group: the document sets
   * a share and the client knows canary and stable endpoints; before the canary registers there is none).
   */
  readonly routedCalls: number;
  /** Of those, calls whose pick landed on a canary endpoint. */
  readonly canaryCalls: number;
  /** OK calls under this revision by a client that had halted the canary (it sends the canary none). */
  readonly callsAfterHalt: number;
  /** ms since the measured run's start when a call first started under it (any zone); negative: in warm-up. */
  readonly firstSeenMs: number;
  /** ... and per zone client, the first call under it. */
  readonly firstSeenMsByZone: Readonly<Record<string, number>>;
}

export interface CanaryHaltSeen {
  readonly zone: string;
  /** ms since the measured run's start. */
  readonly atMs: number;
  readonly reason: string;
  /** The revision the client was running under when it announced the halt. */
  readonly revision: number;
}
