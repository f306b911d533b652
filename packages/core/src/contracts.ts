/**
 * Contracts shared by every Fairway package: what a discovery source produces, what the picker explains,
 * and what a call observer (telemetry) is told. Types only: no behaviour lives here.
 *
 * @packageDocumentation
 */

/** One endpoint as a discovery source reports it. */
import type { EjectionEvent } from './ejection.js';
import type { LiveConfig } from './live-config.js';

export interface EndpointInfo {
  /** `host:port`; IPv6 hosts in brackets, e.g. `[::1]:50051`. */
  readonly address: string;
  /** Zone (e.g. `eu-west-1a`); absent when the source does not know it. */
  readonly zone?: string;
  /**
   * Region (e.g. `eu-west-1`), the tier above zones. Absent: derived from the zone's name (`regionOfZone`:
   * `eu-west-1a` -> `eu-west-1`, `europe-west1-b` -> `europe-west1`, `eastus-1` -> `eastus`).
   */
  readonly region?: string;
  /**
   * Stable name of the process/pod (e.g. `pricer-7f9c`). Absent: the address is the identity.
   * Two endpoints with the same instance are two incarnations of one peer; only the newest is used.
   */
  readonly instance?: string;
  /**
   * Which start of `instance` this is (e.g. a start timestamp plus random suffix, or a Pod uid). Opaque:
   * a different value for the same instance means a newer incarnation, which replaces the older one.
   */
  readonly incarnation?: string;
  /**
   * Relative capacity, default 1: the picker divides an endpoint's cost by it, so weight 2 takes about twice
   * the calls of weight 1 at equal latency. 0 drains: no new calls, calls in flight finish. Finite, >= 0.
   */
  readonly weight?: number;
  /**
   * A canary (registrar metadata `canary: true`, a Pod label `fairway.io/canary: "true"`): with a live
   * document's `canary.share`, the canary endpoints together get that share of the calls. Default false.
   */
  readonly canary?: boolean;
}

/** A full snapshot of a service's endpoints, as one discovery source sees it now. */
export interface EndpointSnapshot {
  /** The complete current set (not a delta). May be empty when the service really has no endpoints. */
  readonly endpoints: readonly EndpointInfo[];
  /**
   * True when the source cannot currently reach its back end (etcd down, API server unreachable) and is
   * re-sending the last good set. The set is kept, never emptied, for that reason.
   */
  readonly stale?: boolean;
  /** Human-readable note for logs and the grpc-js resolution note, e.g. `etcd unreachable since ...`. */
  readonly note?: string;
  /**
   * This client's place among the clients of the service (from a peer registry, e.g. etcd), for deterministic
   * subsetting: `index` in `[0, count)`. Absent when the source keeps no peer registry.
   */
  readonly peers?: { readonly index: number; readonly count: number };
  /**
   * The service's live configuration document in use (e.g. etcd's `_fairway_config/<service>`), with its
   * revision: its balancer and retry settings are applied to the channel. Its weight overrides are already
   * applied to `endpoints`. Absent when the source has none (revision 0: no document).
   */
  readonly liveConfig?: { readonly revision: number; readonly config: LiveConfig };
}

/** An error a discovery source reports; `message` names the target and what is wrong. */
export interface DiscoveryError {
  readonly message: string;
  /**
   * `true` when no snapshot was ever delivered (the channel cannot route yet: calls wait, then fail with
   * UNAVAILABLE naming this message); `false` when a last good set is being kept.
   */
  readonly fatalForNow: boolean;
  readonly cause?: unknown;
}

/** Receives a discovery source's output. */
export interface DiscoveryListener {
  onSnapshot(snapshot: EndpointSnapshot): void;
  onError(error: DiscoveryError): void;
}

/** A running discovery source: turns the outside world into endpoint snapshots. */
export interface DiscoverySource {
  /** Begins watching; the first snapshot (or error) is delivered asynchronously, never from inside `start`. */
  start(listener: DiscoveryListener): void;
  /** A hint that the consumer would like fresh data (e.g. grpc-js asked for re-resolution). May be ignored. */
  refresh?(): void;
  /** Stops watching and releases every resource (sockets, timers, leases it does not own). Idempotent. */
  close(): Promise<void> | void;
}

/** A parsed target URI, e.g. `etcd://127.0.0.1:2379/pricer` -> scheme `etcd`, authority `127.0.0.1:2379`, path `pricer`. */
export interface ParsedTarget {
  readonly scheme: string;
  readonly authority: string;
  /** The path without its leading slash. */
  readonly path: string;
  /** The original target string, for error messages. */
  readonly raw: string;
}

/**
 * Makes a discovery source for a target. `options` is the object the user passed under its scheme's key in
 * the factory's `discovery` option (e.g. `{ discovery: { etcd: {...} } }`), or undefined.
 * Throws a `TargetError`-style error naming the target when the target is malformed.
 */
export type DiscoverySourceFactory = ((target: ParsedTarget, options: unknown) => DiscoverySource) & {
  /**
   * Optional: checks this source's entry of the factory's `discovery` option (`discovery.etcd`, ...) when a
   * client or channel is made, and throws an error naming the bad field, so that a typo or a bad value fails
   * there rather than as UNAVAILABLE at the first call. Pure: reads no network.
   */
  readonly checkOptions?: (options: unknown) => void;
};

/** How the balancer chose among zones for a pick. */
export type ZoneMode = 'local' | 'spill' | 'all';

/** Why the picker chose an endpoint: what an attempt span records. */
export interface PickExplanation {
  /** Key of the chosen endpoint (see `endpointKey`). */
  readonly endpointKey: string;
  readonly address: string;
  readonly zone?: string;
  readonly instance?: string;
  readonly incarnation?: string;
  /** The caller's own zone, when known. */
  readonly clientZone?: string;
  readonly zoneMode: ZoneMode;
  /**
   * Both candidates with their costs, or why there was only one, e.g.
   * `p2c 10.0.0.1:50051 cost=12.1ms (rtt=6.0ms x 2) < 10.0.0.2:50051 cost=30.0ms (rtt=30.0ms x 1)`.
   * Formatted when first read (an unread explanation costs no string), from the costs, latencies and
   * in-flight counts as they were at the pick.
   */
  readonly reason: string;
  /**
   * With canary routing (a live document's `canary` section): the chosen endpoint's group, and on the first
   * pick after the canary was halted automatically, why (`halted`).
   */
  readonly canary?: { readonly group: 'canary' | 'stable'; readonly halted?: string };
  /**
   * The chosen endpoint's latency estimate at the pick (its peak EWMA, decayed), ms; absent until it has answered
   * a call. With {@link PickExplanation.setMedianRttMs} it tells hedging that a call went to an endpoint far
   * slower than the others (such a call hedges sooner).
   */
  readonly rttEstimateMs?: number;
  /** The median latency estimate of the set's answered endpoints at the pick, ms; absent with `rttEstimateMs`. */
  readonly setMedianRttMs?: number;
}

/** The outcome of one attempt, as the retry layer saw it. */
export interface AttemptOutcome {
  /** gRPC status code (0 = OK). */
  readonly code: number;
  readonly details: string;
  /** True when Fairway's own attempt timer fired (the only retryable outcome). */
  readonly timedOut: boolean;
  /** Set when a further attempt follows, e.g. `attempt timed out after 200ms; retrying on another endpoint`. */
  readonly retryReason?: string;
  /** Set when a retry was wanted but refused, e.g. `retry budget exhausted`. */
  readonly retryRefusedReason?: string;
  /**
   * Set when the attempt provably never reached a server and the call was re-picked on another endpoint at
   * once (not a retry: outside the timeout-only rule and the retry budget), saying why.
   */
  readonly repickReason?: string;
}

/** Why an attempt was started. */
export interface AttemptStart {
  /** `first`; `retry` after a timed-out attempt; `repick` after one that never reached a server; `hedge`. */
  readonly reason: 'first' | 'retry' | 'repick' | 'hedge';
  /** Human-readable, e.g. `no answer after 12ms: hedged on another endpoint (hedge 1 of 1)`. */
  readonly detail: string;
}

/** Observes one attempt of a call. */
export interface AttemptObserver {
  /** The picker chose an endpoint for this attempt (may be called again if grpc-js re-picks). */
  onPick(pick: PickExplanation): void;
  /**
   * Headers to add to this attempt's outgoing metadata (e.g. W3C `traceparent`). Called once, before the
   * attempt is sent.
   */
  outgoingHeaders(): Readonly<Record<string, string>>;
  /** Called exactly once. */
  onEnd(outcome: AttemptOutcome): void;
}

/** Observes one call (all its attempts). */
export interface CallObserver {
  /** @param start why this attempt was started (absent from callers that predate it). */
  onAttemptStart(attempt: number, start?: AttemptStart): AttemptObserver;
  /** Called exactly once, with the status the caller receives. */
  onEnd(status: { readonly code: number; readonly details: string }): void;
}

/** Describes a call when it starts. Never carries metadata values or message bodies. */
export interface CallDescription {
  /** Full method path, e.g. `/trading.Pricer/Quote`. */
  readonly method: string;
  readonly kind: 'unary' | 'server_stream' | 'client_stream' | 'bidi';
  /** The channel's target string. */
  readonly target: string;
  readonly clientZone?: string;
  /**
   * Revision of the live configuration document in use when the call started (e.g. the etcd revision of
   * `_fairway_config/<service>`); absent when the channel has none.
   */
  readonly configRevision?: number;
}

/** Plugged into the factory (`observers` option); telemetry implements it. Must never throw. */
export interface CallObserverFactory {
  onCallStart(call: CallDescription): CallObserver;
  /**
   * Optional: an endpoint was ejected, got its re-admission probe, or was re-admitted (outlier ejection), with
   * the reason: for metrics and span events. Not tied to one call. Must not throw (exceptions are ignored).
   */
  onEndpointEvent?(event: EjectionEvent): void;
}
