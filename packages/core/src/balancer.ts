/**
 * The balancer the grpc-js policy drives: endpoint set updates (incarnations), readiness, and picks.
 *
 * Finagle splits a balancer into updates, a per-node load metric and a distributor; so does this file:
 * load lives in `peak-ewma.ts`, the draw in `p2c.ts`, zone choice in `zones.ts`, outlier ejection's rules in
 * `ejection.ts`, the slow-start ramp in `slow-start.ts`, and this class only keeps the set and wires them
 * together (ejection is driven by the release path; an ejected endpoint leaves the ready arrays like a not
 * READY one). Everything is pure: `nowMs` and `random` are arguments.
 *
 * Set updates (`update`) are O(n) with hash maps: survivors keep their load; a new endpoint is seeded with
 * the set's median RTT estimate and starts not READY; of two incarnations of one instance only the newest
 * is kept (`newest-incarnation.ts`), and the older leaves the pick set at once (it is returned in
 * `removed`; calls already on it end by themselves and their late release is dropped).
 *
 * @packageDocumentation
 */
import type { EndpointInfo, ZoneMode } from './contracts.js';
import { EndpointRecord, accrue, createZoneGroup, regionOfZone, joinReady, leaveReady, type EndpointState, type ZoneGroup } from './endpoint-state.js';
import { resolveBalancerOptions, type BalancerOptions, type ResolvedBalancerOptions } from './balancer-options.js';
import { PROBE_PENDING_COST_MS, RTT_FLOOR_MS, costFrom, decayedRttMs, recordSample } from './peak-ewma.js';
import { countOutcome, ejectionDurationMs, evaluateInterval, maxEjected, nextEjectionCount, type EjectionEvent, type EjectionReason } from './ejection.js';
import { STARTED_TOGETHER_MS, YOUNG_ESTIMATE_MIN_WEIGHT, rampLift, slowStartFactor, type ResolvedSlowStartOptions } from './slow-start.js';
import { middlesInPlace, type Middles } from './median.js';
import { drawCandidates, poolSize, randomIndex, type Candidates } from './p2c.js';
import { Pick, PickFigures, type PickHandle, type PickOutcome, type ReleaseSink } from './pick-handle.js';
import { ZoneSelector, recordZoneLatency } from './zones.js';
import { NewestIncarnation } from './newest-incarnation.js';
import { endpointStats, type EndpointStats } from './endpoint-stats.js';
import { createAffinityRing, type AffinityRing } from './bounded-hash.js';
import { reportRejection } from './call/observers.js';
import { showValue } from './show-value.js';

const ignore = (): void => {};

/** The rotation counter restarts (at a random place) before it could lose integer precision. */
const ROTATION_WRAP = 2 ** 40;
/** Number of places a rotation can start at (see `choose`). */
const ROTATION_STARTS = 2 ** 30;

/** The set median (seed and spike cap) is recomputed at most this often (ms) unless the set changed. */
export const MEDIAN_REFRESH_MS = 1_000;
/**
 * Slow start's lift (see `rampLift`) is recomputed at most this often (ms) while an endpoint ramps: the ramps
 * move by under 1 % of a 10-s window in that time, and the O(n) sum stays off the per-pick path.
 */
const RAMP_LIFT_REFRESH_MS = 100;

/** What {@link Balancer.update} changed, as keys (see `endpointKey`). */
export interface UpdateResult {
  readonly added: string[];
  readonly removed: string[];
  readonly kept: string[];
}

/** Creates a {@link Balancer}. */
export function createBalancer(options?: BalancerOptions): Balancer {
  return new Balancer(options);
}

export class Balancer implements ReleaseSink {
  private readonly o: ResolvedBalancerOptions;
  private readonly endpoints = new Map<string, EndpointState>();
  private readonly groups = new Map<string, ZoneGroup>();
  private readonly all: EndpointState[] = [];
  private readonly zones: ZoneSelector;
  private readonly incarnations = new NewestIncarnation();
  private readonly scratch: number[] = [];
  private medianMs = Number.NaN;
  /** The lower of the set's two middle estimates (equal to the median when the set is odd); see `probeValueMs`. */
  private lowerMedianMs = Number.NaN;
  private readonly middles: Middles = { lower: Number.NaN, upper: Number.NaN };
  private medianAtMs = Number.NEGATIVE_INFINITY;
  /** The affinity ring over the current set; built on the first keyed pick after a set change. */
  private ring: AffinityRing | undefined;
  private ringMembers: EndpointState[] = [];
  /** Endpoints ejected or on their re-admission probe (few: at most the ejection share of the set). */
  private readonly ejected: EndpointState[] = [];
  /** Earliest end of an ejection (`Infinity`: none pending), so a pick checks expiry in one comparison. */
  private nextExpiryMs = Number.POSITIVE_INFINITY;
  /** Next success-rate/latency evaluation; NaN until the first pick starts the first interval. */
  private nextEvaluationMs = Number.NaN;
  /** When the set's oldest endpoint first became READY (slow start's reference); NaN when none has. */
  private oldestReadyMs = Number.NaN;
  /**
   * No endpoint ramps after this (ms): the latest `firstReadyMs + windowMs` of an endpoint that became READY
   * after the oldest. Picks skip all slow-start work once it has passed (or when everyone started together).
   */
  private rampEndMs = Number.NEGATIVE_INFINITY;
  /** How far every ramping weight is lifted toward full now (`rampLift`); refreshed every {@link RAMP_LIFT_REFRESH_MS}. */
  private rampLift = 0;
  private rampLiftNextMs = Number.NEGATIVE_INFINITY;
  private rampLiftCount = -1;
  /** The figures of the latest pick, for `pick`'s explanation (see `lastFigures`). */
  private readonly last = new LastPick();
  /** Where the first candidate's rotation stands (see `drawCandidates`); -1 until the first pick places it at random. */
  private rotation = -1;
  /** The two candidates of the pick under way (one object, reused by every pick). */
  private readonly candidates: Candidates = { first: undefined as unknown as EndpointState, second: undefined };
  /** When the first endpoint of this balancer's life became READY; NaN before (see `STARTED_TOGETHER_MS`). */
  private firstEverReadyMs = Number.NaN;

  constructor(options?: BalancerOptions) {
    this.o = resolveBalancerOptions(options);
    const { clientZone, zoneBand, minZoneEvaluationIntervalMs, zoneOrder, onZoneModeChange } = this.o;
    this.zones = new ZoneSelector(
      {
        clientZone,
        clientRegion: this.o.clientRegion ?? (clientZone === undefined ? undefined : regionOfZone(clientZone)),
        low: zoneBand.low,
        high: zoneBand.high,
        minEvaluationIntervalMs: minZoneEvaluationIntervalMs,
        zoneOrder,
        onModeChange: onZoneModeChange,
        latencyRatio: this.o.zoneLatencyRatio,
        probeIntervalMs: this.o.zoneProbeIntervalMs,
        latencyHoldMs: this.o.zoneLatencyHoldMs,
      },
      this.groups,
      this.all,
    );
  }

  /** Number of endpoints in the set (READY or not). */
  get size(): number {
    return this.endpoints.size;
  }

  /** Calls in flight on READY endpoints now (O(zones)). */
  get inFlight(): number {
    // An array, not the Map's iterator: this runs on every keyed pick (and every pick with subsetting).
    const groups = (this.groupList ??= [...this.groups.values()]);
    let n = 0;
    for (let i = 0; i < groups.length; i++) n += groups[i]!.inFlightReady;
    return n;
  }

  /** The zone groups as an array, rebuilt after a group is added or dropped. */
  private groupList: ZoneGroup[] | undefined;

  /** Number of zone mode changes so far (for tests and metrics). */
  get zoneModeChanges(): number {
    return this.zones.changes;
  }

  /**
   * Applies a full endpoint list (not a delta). Survivors keep their state, new endpoints start not READY
   * with the set's median estimate, a newer incarnation of an instance replaces the older at once.
   * O(n); throws a `TypeError` naming the endpoint when an address or weight is invalid (nothing changes).
   */
  update(endpoints: readonly EndpointInfo[], nowMs: number): UpdateResult {
    for (const e of endpoints) validate(e);
    const chosen = this.incarnations.select(endpoints);
    const added: string[] = [];
    const removed: string[] = [];
    const kept: string[] = [];
    for (const [k, st] of this.endpoints) if (!chosen.has(k)) removed.push(k), this.remove(st, nowMs);
    let seed = Number.NaN;
    for (const [k, info] of chosen) {
      const st = this.endpoints.get(k);
      if (st !== undefined) {
        kept.push(k);
        this.refresh(st, info, nowMs);
        continue;
      }
      if (seed !== seed) {
        this.medianAtMs = Number.NEGATIVE_INFINITY; // always a fresh median for seeding
        seed = this.setMedian(nowMs);
      }
      const group = this.group(info.zone ?? '', nowMs, info.region);
      group.members++;
      this.endpoints.set(k, new EndpointRecord(k, info, group, Math.max(seed, RTT_FLOOR_MS), info.weight ?? 1, nowMs));
      // (not READY yet: it joins picks on setReady, if its weight is above 0)
      added.push(k);
    }
    if (added.length > 0 || removed.length > 0) (this.medianAtMs = Number.NEGATIVE_INFINITY), (this.ring = undefined), (this.ringMembers = []);
    if (removed.length > 0) {
      let oldest = Number.NaN;
      for (const st of this.endpoints.values()) if (st.firstReadyMs < oldest || oldest !== oldest) oldest = st.firstReadyMs; // NaN: never READY
      this.oldestReadyMs = oldest;
    }
    return { added, removed, kept };
  }

  /** Number of endpoints ejected now (including those on their re-admission probe). */
  get ejectedCount(): number {
    return this.ejected.length;
  }

  /** Number of endpoints picks can choose now: READY, serving, weight above 0, not ejected. */
  get pickableCount(): number {
    return this.all.length;
  }

  /**
   * Connectivity from grpc-js: only READY endpoints are picked (and only while serving, with a weight above 0,
   * and not ejected). Unknown keys are ignored.
   */
  setReady(key: string, ready: boolean, nowMs: number): void {
    const st = this.endpoints.get(key);
    if (st === undefined || st.ready === ready) return;
    st.ready = ready;
    if (ready) {
      if (st.firstReadyMs !== st.firstReadyMs) {
        if (this.firstEverReadyMs !== this.firstEverReadyMs) this.firstEverReadyMs = nowMs;
        // A client connects to its whole set at once, and the connections come up milliseconds apart: those
        // endpoints started together and none of them ramps (else each would be a fraction of a percent
        // below full weight for the whole window, and every pick of a new client would pay for the ramp).
        const readyAtMs = nowMs - this.firstEverReadyMs < STARTED_TOGETHER_MS ? this.firstEverReadyMs : nowMs;
        st.firstReadyMs = readyAtMs;
        if (!(this.oldestReadyMs <= readyAtMs)) this.oldestReadyMs = readyAtMs;
        else if (readyAtMs > this.oldestReadyMs && this.o.slowStart !== undefined) this.rampEndMs = Math.max(this.rampEndMs, readyAtMs + this.o.slowStart.windowMs);
      }
      // Back after a connection loss whose last outcome was bad (e.g. the failures of calls cut by a restart):
      // that penalty describes the process that went away, not the one that answers now. Start it again as a
      // newcomer (valued at the set's median, one probe until its first answer), or the penalty would keep it
      // out of the pool for about a minute of decay (5 s to a few ms at decay 10 s) after it came back.
      if (st.answered && st.lastHigh && st.ejection !== 'ejected') {
        resetToNewcomer(st);
        this.medianAtMs = Number.NEGATIVE_INFINITY; // its penalty no longer counts in the median
        st.rttMs = this.flooredMedian(nowMs);
        st.rttAtMs = nowMs;
      }
    }
    syncPickable(st, this.all, nowMs);
  }

  /**
   * Health from an active health check (gRFC A17): a NOT_SERVING endpoint (`serving` false) leaves picks at
   * once, calls already on it finish; `true` brings it back with its load state kept. Unknown keys are ignored.
   */
  setServing(key: string, serving: boolean, nowMs: number): void {
    const st = this.endpoints.get(key);
    if (st === undefined || st.serving === serving) return;
    st.serving = serving;
    syncPickable(st, this.all, nowMs);
  }

  /**
   * Power of two choices over distinct READY endpoints of the current zone pool, the first candidate in turn
   * and the second at random (see `p2c.ts`); O(1) per pick.
   * Keys in `avoid` are skipped while another READY endpoint exists (first in the zone pool, then in any
   * zone). The pick is counted in-flight at once; release the handle exactly once. Undefined when no
   * endpoint is READY. A caller that never reads the handle's explanation uses {@link pickEndpoint}.
   */
  pick(nowMs: number, random: () => number, avoid?: ReadonlySet<string>): PickHandle | undefined {
    const e = this.choose(nowMs, random, avoid);
    if (e === undefined) return undefined;
    return new Pick(this, e, nowMs, this.last.mode, this.o.clientZone, this.lastFigures(e, nowMs));
  }

  /**
   * `pick` without a handle, for a caller that keeps its own exactly-once release and reads no explanation
   * (the grpc-js picker, whose pick result is already one object per call): the chosen endpoint, counted in
   * flight. Release it exactly once with {@link releasePicked}. Undefined when no endpoint is READY.
   */
  pickEndpoint(nowMs: number, random: () => number, avoid?: ReadonlySet<string>): PickedEndpoint | undefined {
    return this.choose(nowMs, random, avoid);
  }

  /** The pick itself (see `pick`): the chosen endpoint, counted in flight; its figures in `last`. */
  private choose(nowMs: number, random: () => number, avoid: ReadonlySet<string> | undefined): EndpointState | undefined {
    if (nowMs >= this.nextExpiryMs) this.endEjections(nowMs);
    if (this.o.ejection !== undefined && !(nowMs < this.nextEvaluationMs)) this.evaluateOutliers(nowMs);
    if (this.all.length === 0 && !this.readmitAll(nowMs)) return undefined;
    let pool = this.zones.pool(nowMs);
    let mode = this.zones.mode;
    let note: string | undefined;
    if (avoid === undefined || avoid.size === 0) {
      // Retries never probe: they go where the call has the best chance.
      const probe = this.zones.probe(nowMs);
      if (probe !== undefined) {
        pool = [probe.ready];
        note = this.zones.lastProbeSuspect
          ? `zone probe: the local zone looks much slower than zone ${probe.name}, not yet beyond the noise; one call there settles it`
          : `zone probe: one call to zone ${probe.name} keeps its latency known`;
      }
    }
    let n = poolSize(pool);
    // A start uniform over 2^30 places is uniform modulo any pool size, so clients' turns do not bunch up.
    if (this.rotation < 0 || this.rotation >= ROTATION_WRAP) this.rotation = randomIndex(random, ROTATION_STARTS);
    const drawn = this.candidates;
    let c: Candidates | undefined = drawCandidates(pool, n, random, avoid, this.rotation++, drawn);
    if (c === undefined) {
      if (n < this.all.length) {
        c = drawCandidates([this.all], this.all.length, random, avoid, -1, drawn);
        if (c !== undefined) ((note = 'every READY endpoint of the zone pool already tried; widened to all zones'), (mode = 'all'));
      }
      if (c === undefined) {
        c = n > 0 ? drawCandidates(pool, n, random, undefined, -1, drawn) : drawCandidates([this.all], this.all.length, random, undefined, -1, drawn);
        note = 'every READY endpoint already tried';
      }
      if (c === undefined) return undefined;
    }
    const decayMs = this.o.decayMs;
    let e = c.first;
    let o = c.second;
    let eRtt = this.rttOf(e, nowMs, decayMs);
    let eProbe = this.recoveryProbeDue(e, eRtt, nowMs);
    if (eProbe) eRtt = this.probeValueMs(nowMs);
    let eCost = this.costOf(e, eRtt, nowMs);
    let oRtt = o === undefined ? 0 : this.rttOf(o, nowMs, decayMs);
    let oProbe = o !== undefined && this.recoveryProbeDue(o, oRtt, nowMs);
    if (oProbe) oRtt = this.probeValueMs(nowMs);
    let oCost = o === undefined ? 0 : this.costOf(o, oRtt, nowMs);
    let tie = false;
    if (o === undefined) {
      // Why there was one candidate: formatted by `lastFigures`, only for a caller that reads the explanation.
      this.last.onlyOneUntried = avoid !== undefined && avoid.size > 0 && n > 1;
    } else if (oCost < eCost || (oCost === eCost && ((tie = true), random() < 0.5))) {
      const t = e;
      e = o;
      o = t;
      const tr = eRtt;
      eRtt = oRtt;
      oRtt = tr;
      const tc = eCost;
      eCost = oCost;
      oCost = tc;
      const tp = eProbe;
      eProbe = oProbe;
      oProbe = tp;
    }
    if (eProbe) e.probing = true;
    // What `lastFigures` reads if the caller wants an explanation (plain fields: nothing allocated per pick).
    const last = this.last;
    last.mode = mode;
    last.note = note;
    last.probe = eProbe;
    last.rttMs = eRtt;
    last.inFlight = e.inFlight;
    last.cost = eCost;
    last.other = o;
    last.otherRttMs = oRtt;
    last.otherInFlight = o === undefined ? 0 : o.inFlight;
    last.otherCost = oCost;
    last.tie = tie;
    e.inFlight++;
    accrue(e.group, nowMs);
    e.group.inFlightReady++;
    return e;
  }

  /** Uncounts a call picked by {@link pickEndpoint} and records its outcome (call it exactly once). */
  releasePicked(e: PickedEndpoint, outcome: PickOutcome, nowMs: number): void {
    this.releaseEndpoint(e as EndpointState, outcome, nowMs);
  }

  /** The explanation figures of the pick `choose` just made (of `e`), before anything else ran. */
  private lastFigures(e: EndpointState, nowMs: number): PickFigures {
    const l = this.last;
    const o = l.other;
    let note = l.note;
    if (o === undefined) {
      const why = l.onlyOneUntried ? 'only one READY endpoint not yet tried' : `only one READY endpoint in the pool (${l.mode})`;
      note = note === undefined ? why : `${note}; ${why}`;
    }
    // The slow-start note is formatted only if someone reads the explanation (telemetry, tests): during a ramp
    // every pick would otherwise build two percentages into a string (seen in a client-path profile).
    let slowStart: (() => string) | undefined;
    if (nowMs < this.rampEndMs) {
      const a = this.rampingWeight(e, nowMs);
      const b = o === undefined ? 1 : this.rampingWeight(o, nowMs);
      if (a !== 1 || b !== 1) slowStart = lazySlowStartText(e, a, o, b);
    }
    let tail: string | undefined;
    if (e.ejection === 'probe') {
      tail = joinNotes(tail, `re-admission probe: ejected (${e.ejectionReason ?? 'unknown'}), back for one call valued at the set median`);
    }
    if (l.probe) {
      tail = joinNotes(tail, 'recovery probe: an endpoint costlier than the set median with nothing in flight, valued at the median (the lower middle of an even set) for one call');
    }
    const fullNote = slowStart === undefined ? joinNotes(note, tail) : lazyNote(note, slowStart, tail);
    return new PickFigures(l.rttMs, l.inFlight, l.cost, o, l.otherRttMs, l.otherInFlight, l.otherCost, l.tie, fullNote);
  }

  /** @internal See `ReleaseSink.decayMs`. */
  get decayMs(): number {
    return this.o.decayMs;
  }

  /** @internal See `ReleaseSink.latencyEstimate`. */
  latencyEstimate(e: EndpointState, nowMs: number): { readonly rttMs: number; readonly medianMs: number } | undefined {
    return e.answered ? { rttMs: decayedRttMs(e, nowMs, this.o.decayMs), medianMs: this.setMedian(nowMs) } : undefined;
  }

  /**
   * Affinity by key with bounded load (see `bounded-hash.ts`): the endpoint that owns `key` on the
   * consistent-hash ring, or the next one clockwise when it is at the load bound (`affinity.epsilon`), among
   * READY endpoints not in `avoid` (or, when every READY endpoint was tried, among all READY ones). Endpoints are
   * placed by instance, so a restarted instance gets its keys back. Zone-blind: a key goes to its owner wherever
   * it is. Counted in flight like `pick`; release the handle exactly once. Undefined when nothing is READY.
   */
  pickByKey(key: string, nowMs: number, avoid?: ReadonlySet<string>): PickHandle | undefined {
    if (this.all.length === 0) return undefined;
    if (this.ring === undefined) {
      const members = [...this.endpoints.values()];
      this.ring = createAffinityRing(
        members.map((st) => ({ key: st.key, identity: st.info.instance ?? st.info.address })),
        this.o.affinity,
      );
      this.ringMembers = members;
    }
    const ring = this.ring;
    const members = this.ringMembers;
    const owners = ring.pointOwner;
    const cap = ring.capFor(this.inFlight);
    const start = ring.startOf(key);
    // The walk is inlined (no callbacks): the owner, or the next endpoint clockwise below the bound, skipping
    // endpoints not READY and, while another is usable, those this call already tried.
    let e: EndpointState | undefined;
    let fallback: EndpointState | undefined;
    let fallbackAvoided: EndpointState | undefined;
    const points = owners.length;
    for (let i = 0; i < points; i++) {
      const st = members[owners[(start + i) % points]!]!;
      if (st.allIndex < 0) continue; // not pickable: not READY, not serving, drained (weight 0), ejected or removed
      if (avoid !== undefined && avoid.size > 0 && avoid.has(st.key)) {
        if (st.inFlight + 1 <= cap) fallbackAvoided ??= st;
        continue;
      }
      if (st.inFlight + 1 <= cap) {
        e = st;
        break;
      }
      fallback ??= st;
    }
    e ??= fallback ?? fallbackAvoided;
    if (e === undefined) return undefined;
    const eIn = e.inFlight;
    const note = e === members[owners[start]!] ? AFFINITY_OWNER : AFFINITY_OVERFLOW;
    // An endpoint that has answered: its figures are worked out only if the explanation is read (see Pick).
    // A newcomer or a re-admission probe is valued at the set median now (what rttOf says at this moment).
    const figures = e.answered && e.ejection !== 'probe' ? undefined : this.keyPickFigures(e, nowMs, note);
    const rttMs = e.rttMs;
    const rttAtMs = e.rttAtMs;
    e.inFlight++;
    accrue(e.group, nowMs);
    e.group.inFlightReady++;
    return new Pick(this, e, nowMs, 'all', this.o.clientZone, figures ?? note, eIn, rttMs, rttAtMs);
  }

  /** The figures of a pick by key of an endpoint valued at the set median (before it is counted). */
  private keyPickFigures(e: EndpointState, nowMs: number, note: string): PickFigures {
    const rtt = this.rttOf(e, nowMs, this.o.decayMs);
    return new PickFigures(rtt, e.inFlight, costFrom(e, rtt), undefined, 0, 0, 0, false, note);
  }

  /** @internal Applies a handle's release (see `PickHandle.release`). */
  releaseEndpoint(e: EndpointState, outcome: PickOutcome, nowMs: number): void {
    if (e.removed) return;
    if (e.allIndex >= 0) {
      accrue(e.group, nowMs);
      e.group.inFlightReady--;
    }
    e.inFlight--;
    // Any release ends a recovery probe: only one of the endpoint's calls at a time is one (it is picked
    // while nothing else is in flight there).
    const recovering = e.probing || e.ejection === 'probe';
    e.probing = false;
    const { kind, latencyMs } = outcome;
    if (this.o.ejection !== undefined && kind !== 'cancelled' && outcome.hedgeLost !== true) this.ejectionOutcome(e, kind, nowMs);
    const latency = typeof latencyMs === 'number' && latencyMs >= 0 && Number.isFinite(latencyMs) ? latencyMs : undefined;
    if (kind === 'cancelled' || (kind === 'success' && latency === undefined)) return;
    // What the caller waited for this zone's answer: the zone selector compares zones by it.
    // (Answers only: a timeout or a failure says the endpoint is sick, which its own cost already records.)
    if (kind === 'success') recordZoneLatency(e.group, latency!, nowMs);
    const capMs = this.o.spikeCapFactor * this.setMedian(nowMs);
    const firstAnswer = !e.answered;
    const decayMs = this.o.decayMs;
    if (kind === 'success') recordSample(e, latency!, latency! > capMs, capMs, nowMs, decayMs, recovering, this.youngMinWeight(e, nowMs));
    else if (kind === 'failure') recordSample(e, this.o.failurePenaltyMs, true, capMs, nowMs, decayMs, recovering);
    else recordSample(e, Math.max(latency ?? 0, this.o.timeoutPenaltyMs), true, capMs, nowMs, decayMs, recovering);
    e.lastFailed = kind === 'failure';
    if (!e.lastHigh) e.probeWaitMs = 0; // normal again: the next stall starts from the first wait
    else if (recovering) e.probeWaitMs = Math.min(2 * (e.probeWaitMs || this.o.recoveryProbeMs), this.o.recoveryProbeMaxMs);
    // A first answer is new evidence about the set: endpoints still waiting for their probe are valued at the
    // median, so it is recomputed now rather than up to MEDIAN_REFRESH_MS later.
    if (firstAnswer && e.answered) this.medianAtMs = Number.NEGATIVE_INFINITY;
  }

  /**
   * The RTT the picker uses: the decayed estimate, or, for an endpoint that has never answered, the set's
   * current median. A seed fixed when the endpoint joined would go stale: endpoints added together with an
   * empty set all start at `seedRttMs` (30 ms), the first to answer drops to its real 1 ms, and at low load the
   * others would never win a comparison until their seed decayed (about 30 s). Valued at the median, a
   * newcomer ties with a typical endpoint and gets its single probe (Finagle probes unknown nodes likewise).
   */
  private rttOf(e: EndpointState, nowMs: number, decayMs: number): number {
    if (e.answered && e.ejection !== 'probe') return decayedRttMs(e, nowMs, decayMs);
    // Fresh, not the cached median: the answered endpoints' estimates move with every answer (a cached value
    // would soon look worse than the endpoint it was taken from). O(n), but only while an unprobed endpoint is
    // one of the two candidates, which ends with its first answer.
    this.medianAtMs = Number.NEGATIVE_INFINITY;
    return this.flooredMedian(nowMs);
  }

  /**
   * True when `e` is owed a recovery probe (see `recoveryProbeMs`): it has answered, its last outcome was not a
   * failure, nothing is in flight to it, its estimate `rttMs` is above the set's median, and the wait since its
   * last outcome has passed. Such an estimate is stale: nothing refreshes it while the endpoint is not picked.
   */
  private recoveryProbeDue(e: EndpointState, rttMs: number, nowMs: number): boolean {
    return (
      e.answered &&
      !e.lastFailed &&
      e.inFlight === 0 &&
      nowMs - e.rttAtMs >= (e.probeWaitMs || this.o.recoveryProbeMs) &&
      rttMs > this.setMedian(nowMs)
    );
  }

  /**
   * What p2c compares: the peak-EWMA cost, with one call at a time for an endpoint on its re-admission
   * probe, divided by the slow-start factor while the endpoint is young (see `slow-start.ts`).
   */
  private costOf(e: EndpointState, rttMs: number, nowMs: number): number {
    if (e.ejection === 'probe' && e.inFlight > 0) return PROBE_PENDING_COST_MS + e.inFlight;
    const cost = costFrom(e, rttMs);
    if (!(nowMs < this.rampEndMs)) return cost;
    const ss = this.o.slowStart;
    // Not before the first answer: the newcomer's single probe (valued at the median) comes first, so it is
    // connected and measured while its share ramps.
    if (ss === undefined || !e.answered || cost >= PROBE_PENDING_COST_MS) return cost;
    const age = nowMs - e.firstReadyMs;
    return age < ss.windowMs ? cost / this.rampFactor(age, nowMs, ss) : cost;
  }

  /**
   * The slow-start weight of an endpoint READY for `ageMs` (< the window), lifted with the rest of the ramps
   * when together they would put more than `maxExtraLoad` on the endpoints at full weight (see `rampLift`).
   */
  private rampFactor(ageMs: number, nowMs: number, ss: ResolvedSlowStartOptions): number {
    if (!(nowMs < this.rampLiftNextMs) || this.all.length !== this.rampLiftCount) this.refreshRampLift(nowMs, ss);
    const f = slowStartFactor(ageMs, nowMs - this.oldestReadyMs, ss);
    return f + (1 - f) * this.rampLift;
  }

  /**
   * The least weight a faster answer has in the estimate's blend: {@link YOUNG_ESTIMATE_MIN_WEIGHT} for an
   * endpoint that ramps (READY after the set's oldest, within the window), else 0 (tower's blend alone).
   */
  private youngMinWeight(e: EndpointState, nowMs: number): number {
    if (!(nowMs < this.rampEndMs)) return 0;
    const ss = this.o.slowStart;
    return ss !== undefined && e.firstReadyMs > this.oldestReadyMs && nowMs - e.firstReadyMs < ss.windowMs ? YOUNG_ESTIMATE_MIN_WEIGHT : 0;
  }

  /**
   * O(n) over the pickable set, at most once per {@link RAMP_LIFT_REFRESH_MS} while an endpoint ramps, and
   * whenever the number of pickable endpoints changed (an endpoint joined or left).
   */
  private refreshRampLift(nowMs: number, ss: ResolvedSlowStartOptions): void {
    this.rampLiftNextMs = nowMs + RAMP_LIFT_REFRESH_MS;
    this.rampLiftCount = this.all.length;
    const oldestAgeMs = nowMs - this.oldestReadyMs;
    let sum = 0;
    for (const e of this.all) {
      const age = nowMs - e.firstReadyMs;
      // A newcomer still on its first probe counts at its ramp's weight too: it ramps from its first answer on.
      sum += age < ss.windowMs ? slowStartFactor(age, oldestAgeMs, ss) : 1;
    }
    this.rampLift = rampLift(this.all.length, sum, ss.maxExtraLoad);
  }

  /**
   * Says which candidate's cost was divided by its slow-start weight (only while one is ramping and has
   * answered). Allocates nothing unless a weight is below 1 (so a pick in a set that started together stays
   * allocation-light).
   */
  /** The slow-start weight factor that `costOf` applies to `c` now (1: none). */
  private rampingWeight(c: EndpointState, nowMs: number): number {
    const ss = this.o.slowStart;
    const age = nowMs - c.firstReadyMs;
    if (ss === undefined || !c.answered || !(age < ss.windowMs)) return 1;
    return this.rampFactor(age, nowMs, ss);
  }

  /** Counts an outcome for outlier ejection: ejects on the consecutive rule, ends a re-admission probe. */
  private ejectionOutcome(e: EndpointState, kind: 'success' | 'failure' | 'timeout', nowMs: number): void {
    if (e.ejection === 'ejected') return; // a late answer to a call sent before the ejection
    if (e.ejection === 'probe') {
      if (kind === 'success') this.readmit(e, nowMs, 'its re-admission probe answered');
      else this.eject(e, e.ejectionReason ?? 'consecutive-failures', nowMs, `its re-admission probe ${kind === 'timeout' ? 'timed out' : 'failed'}`);
      return;
    }
    const n = e.consecutiveFailures + 1;
    if (countOutcome(e, kind, this.o.ejection!) && this.othersAnswer(e)) this.tryEject(e, 'consecutive-failures', nowMs, `${n} failures or timeouts in a row`);
  }

  /**
   * True when at least half of the other endpoints in the pick set (READY, not ejected) last answered
   * normally (or have not answered yet). A streak of failures or timeouts is the endpoint's fault only if its peers do better: when a
   * request is slow everywhere (a poison request, a deadline too short for the method) or the whole fleet
   * fails, ejecting one endpoint only removes capacity. O(n), run only when a streak reaches the threshold.
   */
  private othersAnswer(e: EndpointState): boolean {
    let others = 0;
    let normal = 0;
    for (const x of this.all) {
      if (x === e || x.ejection !== 'none') continue;
      others++;
      if (!x.lastHigh) normal++; // never answered yet: no evidence against it either
    }
    return others > 0 && 2 * normal >= others;
  }

  /** Ejects `e` unless the share cap is reached; true when ejected. */
  private tryEject(e: EndpointState, reason: EjectionReason, nowMs: number, why: string): boolean {
    if (this.ejected.length >= maxEjected(this.endpoints.size, this.o.ejection!.maxEjectedPercent)) return false;
    this.eject(e, reason, nowMs, why);
    return true;
  }

  private eject(e: EndpointState, reason: EjectionReason, nowMs: number, why: string): void {
    const o = this.o.ejection!;
    const n = nextEjectionCount(e, o, nowMs);
    const durationMs = ejectionDurationMs(n, o);
    if (e.ejection === 'none') this.ejected.push(e);
    if (e.allIndex >= 0) leaveReady(e, this.all, nowMs);
    e.ejection = 'ejected';
    e.ejectionReason = reason;
    e.ejections = n;
    e.ejectedUntilMs = nowMs + durationMs;
    e.consecutiveFailures = 0;
    e.latencyFlagged = false;
    if (e.ejectedUntilMs < this.nextExpiryMs) this.nextExpiryMs = e.ejectedUntilMs;
    this.medianAtMs = Number.NEGATIVE_INFINITY;
    this.emit({
      kind: 'ejected',
      key: e.key,
      address: e.info.address,
      reason,
      durationMs,
      ejections: n,
      detail: `${e.info.address} ejected for ${durationMs} ms (ejection ${n} in a row): ${why}`,
    });
  }

  private readmit(e: EndpointState, nowMs: number, why: string): void {
    const i = this.ejected.indexOf(e);
    if (i >= 0) this.ejected.splice(i, 1);
    const wasOut = e.ejection === 'ejected';
    e.ejection = 'none';
    e.readmittedAtMs = nowMs;
    e.consecutiveFailures = 0;
    if (wasOut) syncPickable(e, this.all, nowMs);
    this.medianAtMs = Number.NEGATIVE_INFINITY;
    this.emit({
      kind: 'readmitted',
      key: e.key,
      address: e.info.address,
      reason: e.ejectionReason ?? 'consecutive-failures',
      ejections: e.ejections,
      detail: `${e.info.address} re-admitted: ${why}`,
    });
  }

  /** Ejections whose time is over become probes: back in the pick set for one call. */
  private endEjections(nowMs: number): void {
    let next = Number.POSITIVE_INFINITY;
    for (const e of this.ejected) {
      if (e.ejection !== 'ejected') continue;
      if (e.ejectedUntilMs > nowMs) {
        if (e.ejectedUntilMs < next) next = e.ejectedUntilMs;
        continue;
      }
      e.ejection = 'probe';
      syncPickable(e, this.all, nowMs);
      this.emit({
        kind: 'probe',
        key: e.key,
        address: e.info.address,
        reason: e.ejectionReason ?? 'consecutive-failures',
        ejections: e.ejections,
        detail: `${e.info.address} ejection over: back for one probe call`,
      });
    }
    this.nextExpiryMs = next;
  }

  /** Nothing else is READY: ejection must never empty the set, so every READY ejected endpoint comes back. */
  private readmitAll(nowMs: number): boolean {
    for (const e of [...this.ejected]) if (e.ready) this.readmit(e, nowMs, 'no other endpoint is READY (ejection never empties the set)');
    return this.all.length > 0;
  }

  /** Runs the success-rate and latency rules over the interval that ends now (O(n) once per interval). */
  private evaluateOutliers(nowMs: number): void {
    const o = this.o.ejection!;
    const first = this.nextEvaluationMs !== this.nextEvaluationMs;
    this.nextEvaluationMs = nowMs + o.intervalMs;
    if (first) return;
    const rows: { s: EndpointState; rttMs: number }[] = [];
    for (const st of this.endpoints.values()) rows.push({ s: st, rttMs: decayedRttMs(st, nowMs, this.o.decayMs) });
    this.medianAtMs = Number.NEGATIVE_INFINITY;
    const median = this.flooredMedian(nowMs);
    for (const { s, reason, score } of evaluateInterval(rows, median, o)) {
      const st = s as EndpointState;
      const why =
        reason === 'latency'
          ? `estimate ${(score * median).toFixed(1)} ms stayed above ${o.latencyFactor} x the set median (${median.toFixed(1)} ms) for two intervals`
          : `success rate ${(100 * score).toFixed(1)} points below the set's mean - ${o.successRateStdevFactor} stdev over the last ${o.intervalMs} ms`;
      if (!this.tryEject(st, reason, nowMs, why)) break;
    }
  }

  private emit(event: EjectionEvent): void {
    const f = this.o.onEjection;
    if (f === undefined) return;
    try {
      // An async observer's rejection is dropped like a throw (left unhandled it would end the process).
      reportRejection(f(event), ignore);
    } catch {
      // an observer must never break a pick
    }
  }

  /**
   * What an endpoint owed a recovery probe is valued at: the lower of the set's two middle estimates, floored.
   * With an odd set that is the median. With an even set the mean of the middles would sit above the faster
   * half: in a set of two it is above the winner's own estimate, so at low load (nothing in flight) the
   * probe-due endpoint lost every comparison and was never probed until its estimate decayed (a drained or
   * slowed peer stayed out for tens of seconds after it had recovered). Valued at the lower middle, it ties
   * with the faster of two and gets its one call at a coin toss.
   */
  private probeValueMs(nowMs: number): number {
    this.setMedian(nowMs);
    const v = this.lowerMedianMs;
    return v > RTT_FLOOR_MS ? v : RTT_FLOOR_MS;
  }

  /** The set's median estimate, floored like every estimate: what a newcomer is valued at. */
  private flooredMedian(nowMs: number): number {
    const median = this.setMedian(nowMs);
    return median > RTT_FLOOR_MS ? median : RTT_FLOOR_MS;
  }

  /** The zone mode picks use now (brings it up to date first). */
  zoneMode(nowMs: number): ZoneMode {
    this.zones.pool(nowMs);
    return this.zones.mode;
  }

  /** Remote zones open in `spill` mode, in opening order. */
  openedZones(nowMs: number): string[] {
    this.zones.pool(nowMs);
    return this.zones.openedZones();
  }

  /** Each zone's smoothed latency (ms) as of the last zone evaluation; NaN for a zone with no sample yet. */
  zoneLatencies(): Record<string, number> {
    return this.zones.zoneLatencies();
  }

  /** Every endpoint's state now, in no particular order (O(n); for CLIs, demos and tests). */
  snapshot(nowMs: number): EndpointStats[] {
    const rows: EndpointStats[] = [];
    if (nowMs >= this.nextExpiryMs) this.endEjections(nowMs);
    const ss = this.o.slowStart;
    for (const st of this.endpoints.values()) {
      const age = nowMs - st.firstReadyMs;
      const factor = ss !== undefined && age < ss.windowMs ? this.rampFactor(age, nowMs, ss) : 1;
      rows.push(endpointStats(st, nowMs, this.o.decayMs, factor));
    }
    return rows;
  }

  /** Median decayed estimate of the endpoints that have answered; `seedRttMs` when none has. */
  private setMedian(nowMs: number): number {
    if (nowMs - this.medianAtMs < MEDIAN_REFRESH_MS) return this.medianMs;
    let n = 0;
    for (const st of this.endpoints.values()) if (st.answered && st.ejection === 'none') this.scratch[n++] = decayedRttMs(st, nowMs, this.o.decayMs);
    this.scratch.length = n;
    if (n === 0) this.medianMs = this.lowerMedianMs = this.o.seedRttMs;
    else {
      const m = middlesInPlace(this.scratch, n, this.middles);
      this.medianMs = (m.lower + m.upper) / 2;
      this.lowerMedianMs = m.lower;
    }
    this.medianAtMs = nowMs;
    return this.medianMs;
  }

  private refresh(st: EndpointState, info: EndpointInfo, nowMs: number): void {
    st.info = info;
    const zone = info.zone ?? '';
    if (zone !== st.group.name) {
      if (st.allIndex >= 0) leaveReady(st, this.all, nowMs);
      this.leaveGroup(st.group);
      st.group = this.group(zone, nowMs, info.region);
      st.group.members++;
    }
    // Weight 0 drains (leaves picks, calls in flight finish); a weight above 0 again brings it back.
    st.weight = info.weight ?? 1;
    syncPickable(st, this.all, nowMs);
  }

  private remove(st: EndpointState, nowMs: number): void {
    if (st.allIndex >= 0) leaveReady(st, this.all, nowMs);
    if (st.ejection !== 'none') this.ejected.splice(this.ejected.indexOf(st), 1);
    st.ready = false;
    st.removed = true;
    this.leaveGroup(st.group);
    this.endpoints.delete(st.key);
  }

  private group(zone: string, nowMs: number, region?: string): ZoneGroup {
    let g = this.groups.get(zone);
    if (g === undefined) this.groups.set(zone, (g = createZoneGroup(zone, nowMs, region))), (this.groupList = undefined);
    return g;
  }

  private leaveGroup(g: ZoneGroup): void {
    if (--g.members > 0) return;
    this.groups.delete(g.name);
    this.groupList = undefined;
    this.zones.dropGroup(g);
  }
}

const AFFINITY_OWNER = 'affinity: the owner of the call\'s key on the consistent-hash ring';
const AFFINITY_OVERFLOW = 'affinity: the key\'s owner is at its load bound (or not READY, or already tried); next endpoint clockwise on the ring';

function resetToNewcomer(st: EndpointState): void {
  st.answered = false;
  st.lastHigh = false;
  st.lastFailed = false;
  st.spikeHeld = false;
  st.lastSampleMs = Number.NaN;
  st.probing = false;
  st.probeWaitMs = 0;
}

function validate(e: EndpointInfo): void {
  if (typeof e !== 'object' || e === null || typeof e.address !== 'string' || e.address === '') {
    throw new TypeError(`Balancer.update: every endpoint needs a non-empty string address, got ${showValue(e)}`);
  }
  const w = e.weight;
  if (w !== undefined && !(typeof w === 'number' && w >= 0 && Number.isFinite(w))) {
    throw new TypeError(`Balancer.update: endpoint ${e.address} has weight ${String(w)}; weight must be a finite number >= 0 (0 drains)`);
  }
}

/** Puts `st` in the pick arrays or takes it out, to match `ready && serving && weight > 0 && not ejected`. */
function syncPickable(st: EndpointState, all: EndpointState[], nowMs: number): void {
  const want = st.ready && st.serving && st.weight > 0 && st.ejection !== 'ejected';
  const inPicks = st.allIndex >= 0;
  if (want && !inPicks) joinReady(st, all, nowMs);
  else if (!want && inPicks) leaveReady(st, all, nowMs);
}

/** `a; b`, or whichever of the two is given. */
function joinNotes(a: string | undefined, b: string | undefined): string | undefined {
  return a === undefined ? b : b === undefined ? a : `${a}; ${b}`;
}

/**
 * A pick's note with its slow-start part formatted when read. A function of its own, so that `pick` captures
 * nothing: a closure created in `pick` would give every call of it a heap-allocated context for the captured
 * variables, whether or not the closure is made (seen in an allocation profile).
 */
/** `slowStartText` when read (see `lazyNote` for why a function of its own). */
function lazySlowStartText(chosen: EndpointState, a: number, other: EndpointState | undefined, b: number): () => string {
  return () => slowStartText(chosen, a, other, b);
}

function lazyNote(head: string | undefined, slowStart: () => string, tail: string | undefined): () => string {
  return () => joinNotes(joinNotes(head, slowStart()), tail)!;
}

/** The slow-start part of a pick's explanation: each candidate still ramping, with its weight factor. */
function slowStartText(e: EndpointState, a: number, o: EndpointState | undefined, b: number): string {
  const part = (c: EndpointState, f: number) => `${c.info.address} at ${Math.round(100 * f)} % weight`;
  const parts = a < 1 && b < 1 ? `${part(e, a)}, ${part(o!, b)}` : a < 1 ? part(e, a) : part(o!, b);
  return `slow start (cost / weight): ${parts}`;
}

/**
 * A pick made by `Balancer.pickEndpoint`: the chosen endpoint, opaque to the caller except for its key. Hand it
 * back to `Balancer.releasePicked` exactly once.
 */
export interface PickedEndpoint {
  readonly key: string;
}

/** The candidates' figures of the latest pick, overwritten by the next one (see `Balancer.lastFigures`). */
class LastPick {
  mode: ZoneMode = 'all';
  /** A note on how the pool was chosen (a zone probe, a widening), without the one-candidate reason. */
  note: string | undefined = undefined;
  /** With no second candidate: because the others were already tried (else the pool had one endpoint). */
  onlyOneUntried = false;
  probe = false;
  rttMs = 0;
  inFlight = 0;
  cost = 0;
  other: EndpointState | undefined = undefined;
  otherRttMs = 0;
  otherInFlight = 0;
  otherCost = 0;
  tie = false;
}
