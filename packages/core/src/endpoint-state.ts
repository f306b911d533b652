/**
 * What the balancer keeps per endpoint, and the per-zone groups of READY endpoints that make a pick O(1).
 *
 * Each endpoint is one small object (about 20 fields, well under the 2 KiB budget). READY endpoints sit in
 * two dense arrays, their zone group's and the set-wide one, and remember their index in each, so joining
 * or leaving is an O(1) swap-remove and picking a random READY endpoint is index arithmetic (the layout of
 * tower's ready cache, `tower/src/ready_cache`).
 *
 * @packageDocumentation
 */
import type { EndpointInfo } from './contracts.js';
import type { LoadState } from './peak-ewma.js';
import type { EjectionReason, EjectionState } from './ejection.js';

/**
 * One endpoint in the balancer: identity, readiness, load, and its places in the ready arrays.
 * It sits in those arrays (is pickable) while `ready && serving && weight > 0` and it is not ejected: weight 0 drains it.
 */
export interface EndpointState extends LoadState, EjectionState {
  readonly key: string;
  /** When the endpoint first became READY (ms), NaN before: slow start measures its age from here. */
  firstReadyMs: number;
  info: EndpointInfo;
  group: ZoneGroup;
  /** Connectivity READY (from grpc-js). Picks also need {@link EndpointState.serving}, a weight above 0 and no ejection. */
  ready: boolean;
  /** False while an active health check reports NOT_SERVING (gRFC A17); true otherwise. */
  serving: boolean;
  /** Set when the endpoint left the set; a late release then changes nothing. */
  removed: boolean;
  /** Index in `group.ready`, or -1 (then the endpoint is not pickable). */
  groupIndex: number;
  /** Index in the set-wide ready array, or -1. */
  allIndex: number;
}

/** The READY endpoints of one zone plus the live and time-integrated in-flight the zone logic reads. */
export interface ZoneGroup {
  /** Zone name; `''` for endpoints without a zone. */
  readonly name: string;
  /** The zone's region (its first member's `region`, else derived from the zone's name). */
  readonly region: string;
  readonly ready: EndpointState[];
  /** Endpoints of this zone, READY or not (the group is dropped when it reaches 0). */
  members: number;
  /** Sum of `inFlight` over the READY members. */
  inFlightReady: number;
  /** Integral of `inFlightReady` over time (call-ms) since the last zone evaluation. */
  inFlightArea: number;
  /** Integral of `ready.length` over time (endpoint-ms) since the last zone evaluation. */
  readyArea: number;
  areaAtMs: number;
  /** Sum and count of latency samples (ms) of answered calls since the last zone evaluation. */
  latencySumMs: number;
  latencyCount: number;
  /** Sum of squared latency samples (ms^2) since the last zone evaluation (for the spread of one call's latency). */
  latencySumSqMs: number;
  /** The zone's smoothed call latency (ms) as of the last evaluation with samples; NaN before any. */
  latencyMs: number;
  /**
   * How uncertain `latencyMs` is, in units of one call's variance: the variance of the smoothed mean is
   * `latencyVarianceFactor x (cv x latencyMs)^2`. 1 after a single sample; shrinks as samples accrue.
   */
  latencyVarianceFactor: number;
  /** Smoothed coefficient of variation of one call's latency (stdev / mean), from intervals with >= 2 samples; NaN before any. */
  latencyCv: number;
  /** When the zone last answered a call with a latency sample (ms); -Infinity before any. */
  latencySampleAtMs: number;
  /** When a zone probe was last sent to this zone (ms); -Infinity before any. */
  probeAtMs: number;
}

/**
 * Creates the state of a new endpoint. A class with every field set in one constructor gives all
 * endpoints one stable hidden class whose number fields stay doubles (no boxing per update).
 */
export class EndpointRecord implements EndpointState {
  rttMs: number;
  rttAtMs: number;
  inFlight = 0;
  weight: number;
  answered = false;
  lastHigh = false;
  lastSampleMs = Number.NaN;
  lastFailed = false;
  spikeHeld = false;
  probing = false;
  probeWaitMs = 0;
  ready = false;
  serving = true;
  removed = false;
  groupIndex = -1;
  allIndex = -1;
  firstReadyMs = Number.NaN;
  ejection: 'none' | 'ejected' | 'probe' = 'none';
  ejectionReason: EjectionReason | undefined = undefined;
  ejectedUntilMs = 0;
  ejections = 0;
  readmittedAtMs = Number.NEGATIVE_INFINITY;
  consecutiveFailures = 0;
  intervalSuccesses = 0;
  intervalCalls = 0;
  latencyFlagged = false;

  constructor(
    readonly key: string,
    public info: EndpointInfo,
    public group: ZoneGroup,
    seedRttMs: number,
    weight: number,
    nowMs: number,
  ) {
    this.rttMs = seedRttMs + 0.0;
    this.rttAtMs = nowMs + 0.0;
    this.weight = weight;
  }
}

/**
 * The region a zone belongs to, from the cloud providers' naming: a zone ending in a letter after a digit drops
 * that letter (AWS `eu-west-1a` -> `eu-west-1`, GCP `europe-west1-b` -> `europe-west1`); a zone ending in
 * `-<number>` after a letter drops it (Azure `eastus-1` -> `eastus`). Any other name is its own region.
 */
export function regionOfZone(zone: string): string {
  const letter = /^(.*\d)-?[a-z]$/.exec(zone);
  if (letter) return letter[1]!;
  const number = /^(.*[a-z])-\d+$/.exec(zone);
  if (number) return number[1]!;
  return zone;
}

export function createZoneGroup(name: string, nowMs: number, region = regionOfZone(name)): ZoneGroup {
  return {
    name,
    region,
    ready: [],
    members: 0,
    inFlightReady: 0,
    inFlightArea: 0,
    readyArea: 0,
    areaAtMs: nowMs,
    latencySumMs: 0,
    latencyCount: 0,
    latencySumSqMs: 0,
    latencyMs: Number.NaN,
    latencyVarianceFactor: Number.POSITIVE_INFINITY,
    latencyCv: Number.NaN,
    latencySampleAtMs: Number.NEGATIVE_INFINITY,
    probeAtMs: Number.NEGATIVE_INFINITY,
  };
}

/** Brings the group's time integrals up to `nowMs`; call before changing `inFlightReady` or `ready`. */
export function accrue(g: ZoneGroup, nowMs: number): void {
  const dt = nowMs - g.areaAtMs;
  if (dt > 0) {
    g.inFlightArea += g.inFlightReady * dt;
    g.readyArea += g.ready.length * dt;
    g.areaAtMs = nowMs;
  }
}

/** Adds `e` to the dense arrays (it must not be in them). */
export function joinReady(e: EndpointState, all: EndpointState[], nowMs: number): void {
  const g = e.group;
  accrue(g, nowMs);
  e.groupIndex = g.ready.length;
  g.ready.push(e);
  g.inFlightReady += e.inFlight;
  e.allIndex = all.length;
  all.push(e);
}

/** Removes `e` from the dense arrays (it must be in them). */
export function leaveReady(e: EndpointState, all: EndpointState[], nowMs: number): void {
  const g = e.group;
  accrue(g, nowMs);
  swapRemove(g.ready, e.groupIndex, (moved, i) => (moved.groupIndex = i));
  g.inFlightReady -= e.inFlight;
  swapRemove(all, e.allIndex, (moved, i) => (moved.allIndex = i));
  e.groupIndex = -1;
  e.allIndex = -1;
}

function swapRemove(arr: EndpointState[], i: number, reindex: (moved: EndpointState, i: number) => void): void {
  const last = arr.pop()!;
  if (i < arr.length) {
    arr[i] = last;
    reindex(last, i);
  }
}
