/**
 * The balancer the grpc-js policy drives: endpoint set updates (incarnations), readiness, and picks.
 *
 * Finagle splits a balancer into updates, a per-node load metric and a distributor; so does this file:
 * load lives in `peak-ewma.ts`, the draw in `p2c.ts`, zone choice in `zones.ts`, and this class only keeps
 * the set and wires them together. Everything is pure: `nowMs` and `random` are arguments.
 *
 * Set updates (`update`) are O(n) with hash maps: survivors keep their load; a new endpoint is seeded with
 * the set's median RTT estimate and starts not READY; of two incarnations of one instance only the newest
 * is kept (`newest-incarnation.ts`), and the older leaves the pick set at once (it is returned in
 * `removed`; calls already on it end by themselves and their late release is dropped).
 *
 * @packageDocumentation
 */
import type { EndpointInfo, ZoneMode } from './contracts.js';
import { EndpointRecord, accrue, createZoneGroup, joinReady, leaveReady, type EndpointState, type ZoneGroup } from './endpoint-state.js';
import { resolveBalancerOptions, type BalancerOptions, type ResolvedBalancerOptions } from './balancer-options.js';
import { RTT_FLOOR_MS, costFrom, decayedRttMs, recordSample } from './peak-ewma.js';
import { medianInPlace } from './median.js';
import { drawCandidates, poolSize, type Candidates } from './p2c.js';
import { Pick, type PickHandle, type PickOutcome, type ReleaseSink } from './pick-handle.js';
import { ZoneSelector } from './zones.js';
import { NewestIncarnation } from './newest-incarnation.js';
import { endpointStats, type EndpointStats } from './endpoint-stats.js';

/** The set median (seed and spike cap) is recomputed at most this often (ms) unless the set changed. */
export const MEDIAN_REFRESH_MS = 1_000;

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
  private medianAtMs = Number.NEGATIVE_INFINITY;

  constructor(options?: BalancerOptions) {
    this.o = resolveBalancerOptions(options);
    const { clientZone, zoneBand, minZoneEvaluationIntervalMs, zoneOrder, onZoneModeChange } = this.o;
    this.zones = new ZoneSelector(
      { clientZone, low: zoneBand.low, high: zoneBand.high, minEvaluationIntervalMs: minZoneEvaluationIntervalMs, zoneOrder, onModeChange: onZoneModeChange },
      this.groups,
      this.all,
    );
  }

  /** Number of endpoints in the set (READY or not). */
  get size(): number {
    return this.endpoints.size;
  }

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
      const group = this.group(info.zone ?? '', nowMs);
      group.members++;
      this.endpoints.set(k, new EndpointRecord(k, info, group, Math.max(seed, RTT_FLOOR_MS), info.weight ?? 1, nowMs));
      // (not READY yet: it joins picks on setReady, if its weight is above 0)
      added.push(k);
    }
    if (added.length > 0 || removed.length > 0) this.medianAtMs = Number.NEGATIVE_INFINITY;
    return { added, removed, kept };
  }

  /** Number of endpoints picks can choose now: READY, serving, weight above 0. */
  get pickableCount(): number {
    return this.all.length;
  }

  /**
   * Connectivity from grpc-js: only READY endpoints are picked (and only while serving with a weight
   * above 0). Unknown keys are ignored.
   */
  setReady(key: string, ready: boolean, nowMs: number): void {
    const st = this.endpoints.get(key);
    if (st === undefined || st.ready === ready) return;
    st.ready = ready;
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
   * Power of two choices over distinct READY endpoints of the current zone pool; O(1) per pick.
   * Keys in `avoid` are skipped while another READY endpoint exists (first in the zone pool, then in any
   * zone). The pick is counted in-flight at once; release the handle exactly once. Undefined when no
   * endpoint is READY.
   */
  pick(nowMs: number, random: () => number, avoid?: ReadonlySet<string>): PickHandle | undefined {
    if (this.all.length === 0) return undefined;
    let pool = this.zones.pool(nowMs);
    let mode = this.zones.mode;
    let n = poolSize(pool);
    let note: string | undefined;
    let c: Candidates | undefined = drawCandidates(pool, n, random, avoid);
    if (c === undefined) {
      if (n < this.all.length) {
        c = drawCandidates([this.all], this.all.length, random, avoid);
        if (c !== undefined) ((note = 'every READY endpoint of the zone pool already tried; widened to all zones'), (mode = 'all'));
      }
      if (c === undefined) {
        c = n > 0 ? drawCandidates(pool, n, random, undefined) : drawCandidates([this.all], this.all.length, random, undefined);
        note = 'every READY endpoint already tried';
      }
      if (c === undefined) return undefined;
    }
    const decayMs = this.o.decayMs;
    let e = c.first;
    let o = c.second;
    let eRtt = this.rttOf(e, nowMs, decayMs);
    let eProbe = this.recoveryProbeDue(e, eRtt, nowMs);
    if (eProbe) eRtt = this.flooredMedian(nowMs);
    let eCost = costFrom(e, eRtt);
    let oRtt = o === undefined ? 0 : this.rttOf(o, nowMs, decayMs);
    let oProbe = o !== undefined && this.recoveryProbeDue(o, oRtt, nowMs);
    if (oProbe) oRtt = this.flooredMedian(nowMs);
    let oCost = o === undefined ? 0 : costFrom(o, oRtt);
    let tie = false;
    if (o === undefined) {
      const why = avoid !== undefined && avoid.size > 0 && n > 1 ? 'only one READY endpoint not yet tried' : `only one READY endpoint in the pool (${mode})`;
      note = note === undefined ? why : `${note}; ${why}`;
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
    if (eProbe) {
      e.probing = true;
      const why = 'recovery probe: an endpoint costlier than the set median with nothing in flight, valued at the median for one call';
      note = note === undefined ? why : `${note}; ${why}`;
    }
    const eIn = e.inFlight;
    const oIn = o === undefined ? 0 : o.inFlight;
    e.inFlight++;
    accrue(e.group, nowMs);
    e.group.inFlightReady++;
    return new Pick(this, e, eRtt, eIn, eCost, o, oRtt, oIn, oCost, tie, mode, this.o.clientZone, note);
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
    const recovering = e.probing;
    e.probing = false;
    const { kind, latencyMs } = outcome;
    const latency = typeof latencyMs === 'number' && latencyMs >= 0 && Number.isFinite(latencyMs) ? latencyMs : undefined;
    if (kind === 'cancelled' || (kind === 'success' && latency === undefined)) return;
    const capMs = this.o.spikeCapFactor * this.setMedian(nowMs);
    const firstAnswer = !e.answered;
    const decayMs = this.o.decayMs;
    if (kind === 'success') recordSample(e, latency!, latency! > capMs, capMs, nowMs, decayMs, recovering);
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
    if (e.answered) return decayedRttMs(e, nowMs, decayMs);
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

  /** The set's median estimate, floored like every estimate: what a newcomer or a probe-due endpoint is valued at. */
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

  /** Every endpoint's state now, in no particular order (O(n); for CLIs, demos and tests). */
  snapshot(nowMs: number): EndpointStats[] {
    const rows: EndpointStats[] = [];
    for (const st of this.endpoints.values()) rows.push(endpointStats(st, nowMs, this.o.decayMs));
    return rows;
  }

  /** Median decayed estimate of the endpoints that have answered; `seedRttMs` when none has. */
  private setMedian(nowMs: number): number {
    if (nowMs - this.medianAtMs < MEDIAN_REFRESH_MS) return this.medianMs;
    let n = 0;
    for (const st of this.endpoints.values()) if (st.answered) this.scratch[n++] = decayedRttMs(st, nowMs, this.o.decayMs);
    this.scratch.length = n;
    this.medianMs = n === 0 ? this.o.seedRttMs : medianInPlace(this.scratch, n);
    this.medianAtMs = nowMs;
    return this.medianMs;
  }

  private refresh(st: EndpointState, info: EndpointInfo, nowMs: number): void {
    st.info = info;
    const zone = info.zone ?? '';
    if (zone !== st.group.name) {
      if (st.allIndex >= 0) leaveReady(st, this.all, nowMs);
      this.leaveGroup(st.group);
      st.group = this.group(zone, nowMs);
      st.group.members++;
    }
    // Weight 0 drains (leaves picks, calls in flight finish); a weight above 0 again brings it back.
    st.weight = info.weight ?? 1;
    syncPickable(st, this.all, nowMs);
  }

  private remove(st: EndpointState, nowMs: number): void {
    if (st.allIndex >= 0) leaveReady(st, this.all, nowMs);
    st.ready = false;
    st.removed = true;
    this.leaveGroup(st.group);
    this.endpoints.delete(st.key);
  }

  private group(zone: string, nowMs: number): ZoneGroup {
    let g = this.groups.get(zone);
    if (g === undefined) this.groups.set(zone, (g = createZoneGroup(zone, nowMs)));
    return g;
  }

  private leaveGroup(g: ZoneGroup): void {
    if (--g.members > 0) return;
    this.groups.delete(g.name);
    this.zones.dropGroup(g);
  }
}

function validate(e: EndpointInfo): void {
  if (typeof e !== 'object' || e === null || typeof e.address !== 'string' || e.address === '') {
    throw new TypeError(`Balancer.update: every endpoint needs a non-empty string address, got ${JSON.stringify(e)}`);
  }
  const w = e.weight;
  if (w !== undefined && !(typeof w === 'number' && w >= 0 && Number.isFinite(w))) {
    throw new TypeError(`Balancer.update: endpoint ${e.address} has weight ${String(w)}; weight must be a finite number >= 0 (0 drains)`);
  }
}

/** Puts `st` in the pick arrays or takes it out, to match `ready && serving && weight > 0`. */
function syncPickable(st: EndpointState, all: EndpointState[], nowMs: number): void {
  const want = st.ready && st.serving && st.weight > 0;
  const inPicks = st.allIndex >= 0;
  if (want && !inPicks) joinReady(st, all, nowMs);
  else if (!want && inPicks) leaveReady(st, all, nowMs);
}
