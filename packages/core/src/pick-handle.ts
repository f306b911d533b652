/**
 * The result of one pick: the chosen endpoint, why it was chosen, and the exactly-once release.
 *
 * As in tower (an in-flight request is a handle that records its latency once, `tower/src/load/peak_ewma.rs`
 * `Handle`), the call counted at pick time is uncounted by `release`, which also records the outcome in the
 * endpoint's load. Later calls to `release` are ignored, so grpc-js re-picks or double callbacks cannot
 * drive a count negative. The explanation string is built only when read (a pick stays allocation-light).
 *
 * @packageDocumentation
 */
import type { PickExplanation, ZoneMode } from './contracts.js';
import type { EndpointState } from './endpoint-state.js';
import { PROBE_PENDING_COST_MS, decayedFromMs } from './peak-ewma.js';

/** What happened to a picked attempt. */
export interface PickOutcome {
  /**
   * `success`: an answer arrived (any status that says nothing about the endpoint's health), sample =
   * `latencyMs`; `failure`: the endpoint failed (records `failurePenaltyMs`); `timeout`: the attempt timer
   * fired (records `max(latencyMs, timeoutPenaltyMs)`); `cancelled`: records nothing, only releases.
   */
  readonly kind: 'success' | 'failure' | 'timeout' | 'cancelled';
  /** Measured latency (ms) up to the first response message; required for a `success` to be sampled. */
  readonly latencyMs?: number;
  /**
   * A `timeout` that is a lost hedge race (the attempt had waited the hedge delay when another answered):
   * it raises the endpoint's estimate like a time-out, but outlier ejection does not count it (a short stall
   * makes several late attempts in a row, and hedging already routed around it). Default false.
   */
  readonly hedgeLost?: boolean;
}

/** A counted pick. Release it exactly once when the attempt ends (later calls are ignored). */
export interface PickHandle {
  readonly key: string;
  /** Built when first read (formatting its reason costs more than the pick). */
  readonly explanation: PickExplanation;
  /** The explanation's `rttEstimateMs` / `setMedianRttMs`, without building it (worked out when first read). */
  readonly rttEstimateMs: number | undefined;
  readonly setMedianRttMs: number | undefined;
  /**
   * Uncounts the call and records the outcome in the endpoint's load. If the endpoint left the set
   * meanwhile, the outcome is dropped (nothing is kept for a removed endpoint).
   */
  release(outcome: PickOutcome, nowMs: number): void;
}

/** Cost figures of one candidate at pick time (before the pick was counted). */
export interface CandidateView {
  readonly e: EndpointState;
  readonly rttMs: number;
  readonly inFlight: number;
  readonly cost: number;
}

/** Implemented by the balancer: applies a release. */
export interface ReleaseSink {
  /** The decay time constant of the estimates (ms). */
  readonly decayMs: number;
  releaseEndpoint(e: EndpointState, outcome: PickOutcome, nowMs: number): void;
  /** The endpoint's latency estimate and the set's median at `nowMs`, ms; undefined before it has answered. */
  latencyEstimate(e: EndpointState, nowMs: number): { readonly rttMs: number; readonly medianMs: number } | undefined;
}

/**
 * The candidates' figures at pick time, for the handle's explanation (a caller that reads none uses
 * `Balancer.pickEndpoint`, which makes no handle).
 */
export class PickFigures {
  constructor(
    readonly chosenRttMs: number,
    readonly chosenInFlight: number,
    readonly chosenCost: number,
    readonly other: EndpointState | undefined,
    readonly otherRttMs: number,
    readonly otherInFlight: number,
    readonly otherCost: number,
    readonly tie: boolean,
    /** Why there was one candidate, or a prefix such as a widening note; a function when costly to format. */
    readonly note: string | (() => string) | undefined,
  ) {}
}

export class Pick implements PickHandle {
  private released = false;
  /** The chosen endpoint's estimate and the set's median: undefined until read, null when it had not answered. */
  private estimate: { readonly rttMs: number; readonly medianMs: number } | null | undefined;
  private built: PickExplanation | undefined;

  constructor(
    private readonly sink: ReleaseSink,
    private readonly chosen: EndpointState,
    /** When the pick was made (the estimate below is worked out for that moment), ms. */
    readonly pickedAtMs: number,
    private readonly zoneMode: ZoneMode,
    private readonly clientZone: string | undefined,
    /**
     * The figures worked out at the pick; or, for a pick by key of an endpoint that has answered, its note: the
     * figures are then worked out from the snapshot below only if the explanation is read. Most explanations
     * never are, and computing them at every pick (an `exp()` and a figures object) was about a third of a pick
     * by key (B5 at 1,000 endpoints, measured in one process against the eager version).
     */
    private readonly figures: PickFigures | string,
    /** A pick by key: the endpoint's calls in flight before this one was counted. */
    private readonly inFlightAtPick = 0,
    /** A pick by key: the endpoint's estimate (ms) as of `rttAtMsAtPick`, not yet decayed to the pick. */
    private readonly rttMsAtPick = 0,
    private readonly rttAtMsAtPick = 0,
  ) {}

  /** The figures of a pick by key, worked out from its snapshot (see `figures`). */
  private keyFigures(note: string): PickFigures {
    const rttMs = decayedFromMs(this.rttMsAtPick, this.rttAtMsAtPick, this.pickedAtMs, this.sink.decayMs);
    const cost = (rttMs * (this.inFlightAtPick + 1)) / this.chosen.weight;
    return new PickFigures(rttMs, this.inFlightAtPick, cost, undefined, 0, 0, 0, false, note);
  }

  /** Only when read (hedging, explanations): a pick costs no exp() or median lookup otherwise (B5 measures it). */
  private readEstimate(): { readonly rttMs: number; readonly medianMs: number } | null {
    if (this.estimate === undefined) this.estimate = this.sink.latencyEstimate(this.chosen, this.pickedAtMs) ?? null;
    return this.estimate;
  }

  get rttEstimateMs(): number | undefined {
    return this.readEstimate()?.rttMs;
  }

  get setMedianRttMs(): number | undefined {
    return this.readEstimate()?.medianMs;
  }

  get key(): string {
    return this.chosen.key;
  }

  get explanation(): PickExplanation {
    if (this.built === undefined) {
      const info = this.chosen.info;
      let reason: string | undefined;
      // The getter below has its own `this`: one closure (the getter) per explanation, not two.
      const pick = this;
      const x: { -readonly [K in keyof PickExplanation]: PickExplanation[K] } = {
        endpointKey: this.chosen.key,
        address: info.address,
        zoneMode: this.zoneMode,
        // Formatted when first read, and then kept: most explanations are never read (an attempt span that is
        // not sampled, a call layer running only for its attempt timer), and formatting both candidates is
        // most of a pick's allocations (~1 KB; the client-path probe's --alloc). An own enumerable getter, so
        // spreading, JSON and deep equality see a plain string property.
        get reason(): string {
          return (reason ??= pick.formatReason());
        },
      };
      if (info.zone !== undefined) x.zone = info.zone;
      if (info.instance !== undefined) x.instance = info.instance;
      if (info.incarnation !== undefined) x.incarnation = info.incarnation;
      if (this.clientZone !== undefined) x.clientZone = this.clientZone;
      const estimate = this.readEstimate();
      if (estimate !== null) {
        x.rttEstimateMs = estimate.rttMs;
        x.setMedianRttMs = estimate.medianMs;
      }
      this.built = x;
    }
    return this.built;
  }

  /** Both candidates with their figures at the pick (see `PickExplanation.reason`). */
  private formatReason(): string {
    const f = typeof this.figures === 'string' ? this.keyFigures(this.figures) : this.figures;
    const note = typeof f.note === 'function' ? f.note() : f.note;
    const head = note === undefined ? '' : `${note}: `;
    const chosen = describe(this.chosen, f.chosenRttMs, f.chosenInFlight, f.chosenCost);
    return f.other === undefined
      ? `${head}${chosen}`
      : `${head}p2c ${chosen} ${f.tie ? '=' : '<'} ${describe(f.other, f.otherRttMs, f.otherInFlight, f.otherCost)}${f.tie ? ' (tie, chosen at random)' : ''}`;
  }

  release(outcome: PickOutcome, nowMs: number): void {
    if (this.released) return;
    this.released = true;
    this.sink.releaseEndpoint(this.chosen, outcome, nowMs);
  }
}

/** One candidate's figures in words (a {@link CandidateView}, passed as its parts: no object per candidate). */
function describe(e: EndpointState, rttMs: number, inFlight: number, cost: number): string {
  const addr = e.info.address;
  if (cost >= PROBE_PENDING_COST_MS) return `${addr} cost=probe-pending (no answer yet, ${inFlight} in flight)`;
  const w = e.weight === 1 ? '' : ` / weight ${e.weight}`;
  return `${addr} cost=${cost.toFixed(1)}ms (rtt=${rttMs.toFixed(1)}ms x ${inFlight + 1}${w})`;
}

