/**
 * Zone selection with live load, measured latency and hysteresis: which zones' READY endpoints the picker may
 * use.
 *
 * Origin: Buoyant HAZL (docs): a load band LOW 0.8 .. HIGH 2.0; above HIGH add endpoints from other zones,
 * below LOW remove them; each client decides alone. Contrast Envoy zone-aware routing and Kubernetes
 * Topology Aware Routing, which split by host counts or CPU hints, not live load.
 *
 * Load (HAZL's definition, via Little's law): the time-average number of this client's calls in flight per
 * READY endpoint, i.e. latency x throughput per endpoint: `integral(inFlight) / integral(readyEndpoints)`
 * over the interval since the last evaluation, summed over the zones in the pool.
 * - `local`: only the caller's zone. Evaluated at most every `minZoneEvaluationIntervalMs`:
 *   pool load > HIGH opens other zones, nearest-first when `zoneOrder` is given, otherwise by spare capacity
 *   (`readyEndpoints x max(0, HIGH - load)`), one after another until the projected load
 *   (`in-flight / READY endpoints of the pool`) is <= HIGH. Within the pool the p2c picker sends each call
 *   to the cheaper of two endpoints, so the opened zones take traffic in proportion to their spare capacity.
 * - `spill`: local plus opened zones. A zone opened for load closes only when the projected load without it
 *   is < LOW. Opening needs > HIGH and closing needs the load *after* closing to be < LOW, so a steady
 *   demand can never open and close the same zone: no flapping.
 * - `all`: the caller has no zone, or the local zone has no READY endpoint (switched at once, in the pick,
 *   so no call fails). See "Return" below for the way back.
 *
 * Latency (issue 13: the band measures load, not latency, so a local zone 5x slower but not overloaded kept
 * every call). Each zone's latency is the mean latency of this client's answered calls to it over an
 * evaluation interval, smoothed across intervals by `min(1 - 0.8^samples, 0.5)` (one sample moves it 20 %, a
 * busy interval half-way: a client stall inflates mostly local calls and must not pass for a slow zone). Zones outside the pool get a **zone probe** now and then (one pick, at most one per
 * `probeIntervalMs` per zone and one in {@link ZONE_PROBE_MIN_PICKS} picks), so their latency, cross-zone
 * delay included (the client measures it), stays known; while the quick rule is in doubt about one, one pick in
 * {@link ZONE_SUSPECT_PROBE_PICKS} (suspicion probes). Each answer counts at most {@link ZONE_SAMPLE_CAP} x its
 * zone's smoothed latency. At an evaluation:
 * - local latency > `latencyRatio x` a remote zone's (both measured within {@link ZONE_LATENCY_FRESH_MS}) at
 *   two evaluations in a row, or the quick rule ({@link QUICK_RATIO_FACTOR}: the local mean of the last window
 *   (an eighth of an interval, or longer until it holds {@link QUICK_MIN_SAMPLES} answers) above 2x a remote
 *   zone's at two windows in a row): that zone opens (`spill`), every other zone whose
 *   latency is under the local zone's / `latencyRatio` opens with it, and the picker's cost comparison moves
 *   calls to them;
 * - a zone opened for latency closes when the local zone is no slower than it again, but not before
 *   `latencyHoldMs` after it opened. A zone that must reopen for latency within the hold after such a close
 *   (the local zone is only fast while relieved: its latency comes from load) doubles its hold, up to 8x: a
 *   steady demand makes one trial close per hold, then fewer and fewer.
 * Why open at a ratio and close at 1: a gap, like the load band's, so noise cannot toggle a zone.
 *
 * Return. When the local zone is READY again after `all`, every zone stays open for one evaluation interval
 * (the local endpoints get their first calls, and their latency is measured); then the zones opened for the
 * return close unless the load without them would pass HIGH (then they count as opened for load, and the LOW
 * rule applies) or the local zone is slower than `latencyRatio x` theirs (then they count as opened for latency). The LOW rule is for zones opened by load: a zone opened because the local zone was gone is closed as
 * soon as the local zone could carry the demand, or a steady demand inside the band would keep it open forever
 * (measured in B3: 35 % in-zone to the end of the run).
 *
 * Endpoints without a zone form one more group (named `''`), treated as a remote zone.
 *
 * @packageDocumentation
 */
import type { ZoneMode } from './contracts.js';
import { accrue, type EndpointState, type ZoneGroup } from './endpoint-state.js';

export interface ZoneSelectorOptions {
  readonly clientZone: string | undefined;
  /** The caller's region: its zones open before other regions', and hold the calls when the local zone is gone. */
  readonly clientRegion: string | undefined;
  readonly low: number;
  readonly high: number;
  readonly minEvaluationIntervalMs: number;
  readonly zoneOrder: readonly string[] | undefined;
  readonly onModeChange: ((from: ZoneMode, to: ZoneMode, why: string) => void) | undefined;
  /** Local latency above this multiple of a remote zone's opens that zone (> 1). */
  readonly latencyRatio: number;
  /** At most one zone probe per zone per this many ms; `Infinity` sends none. */
  readonly probeIntervalMs: number;
  /** A zone opened for latency stays open at least this long (ms), doubled after a failed close (up to 8x). */
  readonly latencyHoldMs: number;
}

/** A zone probe is at most one pick in this many. */
export const ZONE_PROBE_MIN_PICKS = 100;
/**
 * While the quick rule suspects the local zone (its last window's mean above the quick ratio x a remote zone's
 * latency, but not beyond the noise of a zone known from a probe or two), that zone gets a probe every this many
 * picks, whatever `probeIntervalMs` says, until the rule decides: the doubt is about the remote zone's estimate,
 * and a few more of its answers settle it within a window or two. B3 at 2026-12-06 03:09: one round in three
 * left a zone that turned 5x slower 2.8 s late (its remote zones at 8.5-9 ms from a few probes, their true
 * latency 5.5-6.5), the other two 0.4 s after the step.
 */
export const ZONE_SUSPECT_PROBE_PICKS = 10;
/** A zone's latency older than this (ms) is not used to open or close anything. */
export const ZONE_LATENCY_FRESH_MS = 30_000;
/** Weight of an interval's mean in a zone's smoothed latency is `min(1 - LATENCY_KEEP^samples, LATENCY_MAX_WEIGHT)`. */
const LATENCY_KEEP = 0.8;
/**
 * A busy interval moves a zone's latency at most half-way: a client stall (GC, a starved event loop) inflates
 * every call in flight, and those are mostly local calls, so one bad second of the local zone must not look
 * like a slow zone next to remote zones measured by a probe or two.
 */
const LATENCY_MAX_WEIGHT = 0.5;
/**
 * How many standard errors the local zone's excess latency must clear before it counts as slower (one-sided,
 * ~98 % per evaluation; with two evaluations in a row, a false opening in a fleet of equal zones is rare).
 */
export const LATENCY_CONFIDENCE_Z = 2;
/** One call's coefficient of variation when no zone has measured its own yet (a log-normal with sigma 0.5). */
export const DEFAULT_LATENCY_CV = 0.53;
/** The latency rule opens a zone only after this many evaluations in a row found the local zone slower. */
export const LATENCY_EVALUATIONS_TO_OPEN = 2;
/**
 * The quick latency rule runs this many times per `minEvaluationIntervalMs` (the latency rule, the load rule and
 * closings run once per interval). It was 4 (quarters): a zone 5x slower was then left 0.50 s after the step in
 * every B3 round, and the calls of that half second (5 % of a 10-s phase, queueing at 80 % utilization) alone
 * held phase 2's p99 at 1.24x zone-blind (2026-12-06 03:02, measured with the rule's inputs logged). With eighths
 * the two windows in a row take a quarter second. A client stall does not pass for two windows: the answers that
 * waited through it are handled in one burst after it, so they fall in one window.
 */
export const QUICK_EVALUATIONS_PER_INTERVAL = 8;
/**
 * The quick rule: the local zone's mean over the last window (see {@link QUICK_EVALUATIONS_PER_INTERVAL}; its raw
 * calls, not the smoothed latency) above `QUICK_RATIO_FACTOR x latencyRatio x` a remote zone's latency, beyond
 * {@link LATENCY_CONFIDENCE_Z} standard errors, at two windows in a row, opens that zone at once. A zone that
 * turned 5x slower is left in about a quarter second instead of two (B3's phase 2 p99 rests on the calls sent to
 * it until then); the
 * ordinary rule (a smoothed 1.5x at two whole intervals) still catches the modest gaps. The factor keeps the
 * quick rule for gaps no noise makes (2x with the default ratio, beyond the noise of both estimates, twice in a
 * row: the 10-minute equal-zones test never opens). It was 2 (3x) at first, and in B3 it never fired: a zone
 * 5x slower with 1 ms across is 3.7x a remote zone measured by its probes (20.5 ms against 5.4-6.2), which does
 * not clear 3x by two standard errors of a probe-known zone, so the ordinary rule left it 2.5 s after the step.
 */
export const QUICK_RATIO_FACTOR = 4 / 3;
/**
 * The quick rule reads a window only when it holds at least this many answered local calls; a window with fewer
 * grows until the next one (a slow client still gets the rule, over longer windows), but never past the interval.
 */
export const QUICK_MIN_SAMPLES = 8;

type OpenReason = 'load' | 'latency' | 'return';

interface OpenedInfo {
  reason: OpenReason;
  atMs: number;
}

interface LatencyTrial {
  holdMs: number;
  closedAtMs: number;
}

export class ZoneSelector {
  mode: ZoneMode;
  /** Number of mode changes so far (the first determination, at the first pick, is not counted). */
  changes = 0;
  private started = false;
  /** Why the current mode was chosen. */
  why: string;
  /** Remote zones open in `spill` mode, in opening order. */
  private opened: ZoneGroup[] = [];
  private readonly openedWhy = new Map<ZoneGroup, OpenedInfo>();
  /** Per zone name: the hold of a zone opened for latency, and when it was last closed for latency. */
  private readonly trials = new Map<string, LatencyTrial>();
  /** Remote zones outside the pool: evaluations in a row that found the local zone slower than them. */
  private readonly slowerStreak = new Map<ZoneGroup, number>();
  /** When the load rule and closings last ran (every `minEvaluationIntervalMs`). */
  private lastEvalMs: number;
  /** When the quick latency rule last ran (every `minEvaluationIntervalMs / QUICK_EVALUATIONS_PER_INTERVAL`). */
  private lastQuickEvalMs: number;
  private readonly quickGapMs: number;
  /** The local zone's interval sums where the quick rule's current window began: what came since is the window. */
  private readonly quickBase = { sumMs: 0, sumSqMs: 0, count: 0 };
  /** Remote zones outside the pool: windows in a row in which the quick rule found the local zone much slower. */
  private readonly quickStreak = new Map<ZoneGroup, number>();
  /**
   * Remote zones outside the pool that the quick rule's last window found much cheaper by their point estimate
   * but not beyond its noise: probed every {@link ZONE_SUSPECT_PROBE_PICKS} picks until it decides.
   */
  private readonly suspects = new Set<ZoneGroup>();
  private picksSinceProbe = 0;
  private picksSinceSuspectProbe = 0;
  /** Whether the zone {@link probe} last returned was owed a suspicion probe (for the pick's explanation). */
  lastProbeSuspect = false;
  /** Pool arrays for the picker; rebuilt only when the mode or opened set changes. */
  private poolCache: EndpointState[][] | undefined;
  /** The last region-tier pool (see `regionPool`). */
  private regionPoolCache: EndpointState[][] | undefined;
  private readonly allPool: EndpointState[][];

  constructor(
    private readonly o: ZoneSelectorOptions,
    private readonly groups: Map<string, ZoneGroup>,
    private readonly all: EndpointState[],
  ) {
    this.lastEvalMs = Number.NaN; // set by the first pool() call
    this.lastQuickEvalMs = Number.NaN;
    this.quickGapMs = o.minEvaluationIntervalMs / QUICK_EVALUATIONS_PER_INTERVAL;
    this.allPool = [all];
    this.mode = o.clientZone === undefined ? 'all' : 'local';
    this.why = o.clientZone === undefined ? 'client zone unknown: zone-blind' : 'initial';
  }

  /** Brings the mode up to date (O(1) unless an evaluation is due) and returns the arrays to pick from. */
  pool(nowMs: number): EndpointState[][] {
    const zone = this.o.clientZone;
    if (zone === undefined) return this.allPool;
    if (this.lastEvalMs !== this.lastEvalMs) this.lastEvalMs = this.lastQuickEvalMs = nowMs;
    const local = this.groups.get(zone);
    if (local === undefined || local.ready.length === 0) {
      // The region tier: the other zones of the caller's region while one of them is READY, else every zone.
      const region = this.regionPool(zone);
      const scope = region === undefined ? 'all zones' : `the other zones of region ${this.o.clientRegion}`;
      if (this.mode !== 'all' || this.allScope !== scope) {
        this.setOpened([]);
        this.allScope = scope;
        const zoneless = this.groups.size === 1 && this.groups.has('');
        this.set('all', zoneless ? 'endpoints carry no zone: zone-blind' : `no READY endpoint in local zone ${zone}: using ${scope}`);
      }
      this.started = true;
      return region ?? this.allPool;
    }
    this.started = true;
    if (this.mode === 'all') {
      // Local is back: every zone stays open for one interval while the local endpoints get their first calls.
      // Its latency from before it went away describes processes that are gone: measure it afresh.
      local.latencyMs = Number.NaN;
      local.latencySampleAtMs = Number.NEGATIVE_INFINITY;
      local.latencySumMs = 0;
      local.latencyCount = 0;
      local.latencySumSqMs = 0;
      local.latencyCv = Number.NaN;
      this.setOpened(this.remoteByPreference(nowMs), 'return', nowMs);
      this.restartAverages(nowMs);
      this.set(this.opened.length > 0 ? 'spill' : 'local', `local zone ${zone} READY again`);
    } else if (nowMs - this.lastQuickEvalMs >= this.quickGapMs || nowMs - this.lastEvalMs >= this.o.minEvaluationIntervalMs) {
      this.evaluate(local, nowMs);
    }
    if (this.poolCache === undefined) {
      const arrays = [local.ready];
      for (const g of this.opened) arrays.push(g.ready);
      this.poolCache = arrays;
    }
    return this.poolCache;
  }

  /**
   * Called once per pick (after {@link pool}) that may be a zone probe: returns a remote zone outside the pool
   * that is owed one, or undefined. Amortized O(1): zones are scanned once per {@link ZONE_PROBE_MIN_PICKS}
   * picks at most.
   */
  probe(nowMs: number): ZoneGroup | undefined {
    if (this.o.clientZone === undefined || this.mode === 'all' || this.o.probeIntervalMs === Number.POSITIVE_INFINITY) return undefined;
    if (this.suspects.size > 0 && ++this.picksSinceSuspectProbe >= ZONE_SUSPECT_PROBE_PICKS) {
      this.picksSinceSuspectProbe = 0;
      let best: ZoneGroup | undefined;
      for (const g of this.suspects) if (g.ready.length > 0 && !this.openedWhy.has(g) && (best === undefined || g.probeAtMs < best.probeAtMs)) best = g;
      if (best !== undefined) {
        best.probeAtMs = nowMs;
        this.lastProbeSuspect = true;
        return best;
      }
    }
    this.lastProbeSuspect = false;
    if (++this.picksSinceProbe < ZONE_PROBE_MIN_PICKS) return undefined;
    this.picksSinceProbe = 0;
    let best: ZoneGroup | undefined;
    let bestAt = Number.POSITIVE_INFINITY;
    for (const g of this.groups.values()) {
      if (g.name === this.o.clientZone || g.ready.length === 0 || this.openedWhy.has(g)) continue;
      const at = Math.max(g.latencySampleAtMs, g.probeAtMs);
      if (nowMs - at >= this.o.probeIntervalMs && at < bestAt) ((best = g), (bestAt = at));
    }
    if (best !== undefined) best.probeAtMs = nowMs;
    return best;
  }

  /** Starts a new averaging interval at `nowMs`. */
  private restartAverages(nowMs: number): void {
    this.lastEvalMs = this.lastQuickEvalMs = nowMs;
    this.resetQuickBase();
    for (const g of this.groups.values()) {
      accrue(g, nowMs);
      g.inFlightArea = 0;
      g.readyArea = 0;
    }
  }

  /** Forgets a zone group that was dropped from the set. */
  dropGroup(g: ZoneGroup): void {
    const i = this.opened.indexOf(g);
    if (i >= 0) this.opened.splice(i, 1);
    this.openedWhy.delete(g);
    this.slowerStreak.delete(g);
    this.quickStreak.delete(g);
    this.suspects.delete(g);
    // Always: the cached pool holds the local group's `ready` array too, and a local group that is dropped
    // and re-created (every local endpoint replaced, as in a rolling update) must not leave a stale, empty
    // array behind.
    this.poolCache = undefined;
  }

  /** Names of the opened remote zones (for snapshots and tests). */
  openedZones(): string[] {
    return this.opened.map((g) => g.name);
  }

  /** Each zone's smoothed latency (ms; NaN before any sample), for snapshots and tests. */
  zoneLatencies(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const g of this.groups.values()) out[g.name] = g.latencyMs;
    return out;
  }

  private setOpened(groups: ZoneGroup[], reason?: OpenReason, nowMs = 0): void {
    this.opened = groups;
    this.openedWhy.clear();
    this.slowerStreak.clear(); // "in a row" starts again after `all`
    this.quickStreak.clear();
    this.suspects.clear();
    if (reason !== undefined) for (const g of groups) this.openedWhy.set(g, { reason, atMs: nowMs });
    this.poolCache = undefined;
  }

  private open(g: ZoneGroup, reason: OpenReason, nowMs: number): void {
    this.opened.push(g);
    this.openedWhy.set(g, { reason, atMs: nowMs });
    if (reason === 'latency') this.startLatencyHold(g, nowMs);
  }

  /** A zone (re)opens for latency: a reopen within the hold after a close for latency doubles the hold. */
  private startLatencyHold(g: ZoneGroup, nowMs: number): void {
    const base = this.o.latencyHoldMs;
    const t = this.trials.get(g.name);
    if (t === undefined) this.trials.set(g.name, { holdMs: base, closedAtMs: Number.NEGATIVE_INFINITY });
    else if (nowMs - t.closedAtMs < t.holdMs) t.holdMs = Math.min(2 * t.holdMs, 8 * base);
    else t.holdMs = base;
  }

  /**
   * The quick rule (see {@link QUICK_RATIO_FACTOR}) on the local calls answered since it last ran: the zones it
   * finds much cheaper now, and whether one of them did so at two windows in a row. A window with fewer than
   * {@link QUICK_MIN_SAMPLES} answers is not read yet: it grows, and the streaks stand. O(zones).
   */
  private quickVerdicts(local: ZoneGroup, nowMs: number): { slower: Array<[ZoneGroup, number]>; confirmed: boolean; localMs: number } {
    const base = this.quickBase;
    const n = local.latencyCount - base.count;
    const slower: Array<[ZoneGroup, number]> = [];
    if (n < QUICK_MIN_SAMPLES) return { slower, confirmed: false, localMs: Number.NaN };
    const sum = local.latencySumMs - base.sumMs;
    const sumSq = local.latencySumSqMs - base.sumSqMs;
    base.sumMs = local.latencySumMs;
    base.sumSqMs = local.latencySumSqMs;
    base.count = local.latencyCount;
    const mean = sum / n;
    const cv = mean > 0 ? Math.sqrt(Math.max(0, (sumSq - n * mean * mean) / (n - 1))) / mean : 0;
    const ratio = QUICK_RATIO_FACTOR * this.o.latencyRatio;
    this.suspects.clear();
    const confirmed = this.advanceStreaks(local, nowMs, this.quickStreak, slower, (g, latency) => {
      const estimate = withUnsettled(g, latency);
      if (quickSlower(mean, cv, n, local, g, ratio, estimate)) return true;
      if (mean > ratio * estimate.latencyMs) this.suspects.add(g);
      return false;
    });
    return { slower, confirmed, localMs: mean };
  }

  /** The local zone's interval sums were folded (`settleLatency`) or cleared: the next window starts at zero. */
  private resetQuickBase(): void {
    this.quickBase.sumMs = this.quickBase.sumSqMs = this.quickBase.count = 0;
  }

  /**
   * One rule's verdict on every remote zone outside the pool: a zone the rule finds cheaper now extends its
   * streak in `streaks` and is added to `slower`; any other loses its streak. True when a streak reached
   * {@link LATENCY_EVALUATIONS_TO_OPEN}.
   */
  private advanceStreaks(
    local: ZoneGroup,
    nowMs: number,
    streaks: Map<ZoneGroup, number>,
    slower: Array<[ZoneGroup, number]>,
    isSlower: (g: ZoneGroup, latencyMs: number) => boolean,
  ): boolean {
    let confirmed = false;
    for (const g of this.groups.values()) {
      if (g === local || g.ready.length === 0 || this.openedWhy.has(g)) continue;
      const latency = this.freshLatency(g, nowMs);
      if (!isSlower(g, latency)) {
        streaks.delete(g);
        continue;
      }
      const streak = (streaks.get(g) ?? 0) + 1;
      streaks.set(g, streak);
      slower.push([g, latency]);
      if (streak >= LATENCY_EVALUATIONS_TO_OPEN) confirmed = true;
    }
    return confirmed;
  }

  /** The zone's smoothed latency if sampled within {@link ZONE_LATENCY_FRESH_MS}, else NaN. */
  private freshLatency(g: ZoneGroup, nowMs: number): number {
    return nowMs - g.latencySampleAtMs <= ZONE_LATENCY_FRESH_MS ? g.latencyMs : Number.NaN;
  }

  /**
   * Every eighth of an interval the quick latency rule; when a whole `minEvaluationIntervalMs` has passed since they
   * last ran, the latency rule, the load rule and closings.
   */
  private evaluate(local: ZoneGroup, nowMs: number): void {
    this.lastQuickEvalMs = nowMs;
    const full = nowMs - this.lastEvalMs >= this.o.minEvaluationIntervalMs;
    const { low, high, latencyRatio } = this.o;
    // The quick rule reads the local calls answered since it last ran, before `settleLatency` folds them.
    const quick = this.quickVerdicts(local, nowMs);
    const loads = full ? new Map<ZoneGroup, number>() : undefined;
    let poolInFlight = 0; // time-average calls in flight in the pool since the last whole evaluation
    if (loads !== undefined) {
      const elapsed = nowMs - this.lastEvalMs;
      this.lastEvalMs = nowMs;
      for (const g of this.groups.values()) {
        accrue(g, nowMs);
        const avgInFlight = elapsed > 0 ? g.inFlightArea / elapsed : g.inFlightReady;
        const avgReady = elapsed > 0 ? g.readyArea / elapsed : g.ready.length;
        loads.set(g, avgReady > 0 ? avgInFlight / avgReady : 0);
        if (g === local || this.openedWhy.has(g)) poolInFlight += avgInFlight;
        g.inFlightArea = 0;
        g.readyArea = 0;
        settleLatency(g);
      }
      this.resetQuickBase();
    }
    const localLatency = this.freshLatency(local, nowMs); // after `settleLatency` on a whole evaluation
    // The latency rule's verdicts come before the load rule, so the streaks advance whatever it does.
    const slower: Array<[ZoneGroup, number]> = [];
    const confirmed =
      quick.confirmed ||
      (full && this.advanceStreaks(local, nowMs, this.slowerStreak, slower, (g, latency) => slowerBeyondNoise(local, g, latencyRatio, localLatency, latency)));
    // Once one zone is confirmed cheaper, every zone cheaper than the local zone by the ratio opens with it (its
    // point estimate: the local zone's slowness is established, this only chooses where to spread). Opening
    // only the confirmed one leaves the local endpoints half of the pool, and p2c then sends a slow local
    // endpoint every call whose two candidates are both local (measured: a quarter of phase 2's calls in B3).
    const localMs = quick.confirmed ? quick.localMs : localLatency;
    const cheaper: Array<[ZoneGroup, number]> = [];
    if (confirmed) {
      for (const g of this.groups.values()) {
        if (g === local || g.ready.length === 0 || this.openedWhy.has(g)) continue;
        const latency = this.freshLatency(g, nowMs);
        if (localMs > latencyRatio * latency || quick.slower.some(([q]) => q === g) || slower.some(([q]) => q === g)) cheaper.push([g, latency]);
      }
      cheaper.sort((a, b) => a[1] - b[1]);
    }
    for (const [g] of cheaper) (this.slowerStreak.delete(g), this.quickStreak.delete(g));
    let poolReady = local.ready.length;
    for (const g of this.opened) poolReady += g.ready.length;
    const before = this.openedZones().join(',');
    for (const [g] of cheaper) {
      this.open(g, 'latency', nowMs);
      poolReady += g.ready.length;
    }
    let latencyWhy = '';
    if (cheaper.length > 0) {
      const proven = cheaper.filter(([g]) => (quick.confirmed ? quick.slower : slower).some(([q]) => q === g));
      const also = cheaper.filter((c) => !proven.includes(c));
      const list = (cs: Array<[ZoneGroup, number]>): string => cs.map(([g, l]) => `${g.name} ${fmt(l)} ms`).join(', ');
      latencyWhy =
        `local zone latency ${fmt(localMs)} ms${quick.confirmed ? ' (last window)' : ''} > ` +
        `${quick.confirmed ? QUICK_RATIO_FACTOR * latencyRatio : latencyRatio} x ${list(proven)}` +
        (also.length > 0 ? `; also cheaper than ${latencyRatio} x: ${list(also)}` : '');
    }
    if (loads !== undefined && poolInFlight / poolReady > high) {
      const loadBefore = poolInFlight / poolReady;
      for (const g of this.remoteByPreference(nowMs, loads)) {
        if (poolInFlight / poolReady <= high) break;
        if (this.openedWhy.has(g)) continue;
        this.open(g, 'load', nowMs);
        poolReady += g.ready.length;
      }
      if (this.openedZones().join(',') !== before) {
        this.poolCache = undefined;
        const why = `load ${fmt(loadBefore)} > high ${high}`;
        this.set('spill', `${latencyWhy === '' ? why : `${latencyWhy}; ${why}`}: opened ${this.openedZones().join(',')}`);
      }
      return;
    }
    if (cheaper.length > 0) {
      this.poolCache = undefined;
      this.set('spill', `${latencyWhy}: opened ${cheaper.map(([g]) => g.name).join(',')}`);
      return;
    }
    if (!full) return;
    const closedWhy: string[] = [];
    for (let i = this.opened.length - 1; i >= 0; i--) {
      const g = this.opened[i]!;
      const info = this.openedWhy.get(g)!;
      const rest = poolReady - g.ready.length;
      const projected = rest > 0 ? poolInFlight / rest : Number.POSITIVE_INFINITY;
      const latency = this.freshLatency(g, nowMs);
      const slowerLocal = slowerBeyondNoise(local, g, latencyRatio, localLatency, latency);
      let close = false;
      if (info.reason === 'load') {
        if (slowerLocal) ((info.reason = 'latency'), (info.atMs = nowMs), this.startLatencyHold(g, nowMs));
        else close = projected < low;
      } else if (info.reason === 'return') {
        if (slowerLocal) ((info.reason = 'latency'), (info.atMs = nowMs), this.startLatencyHold(g, nowMs));
        else if (projected > high) info.reason = 'load'; // needed for load after all: from now on the LOW rule
        else close = true;
      } else {
        const hold = this.trials.get(g.name)?.holdMs ?? this.o.latencyHoldMs;
        // NaN (a latency not measured lately) compares false: nothing says the local zone is still slower.
        close = nowMs - info.atMs >= hold && !(localLatency > latency) && projected <= high;
        if (close) {
          const t = this.trials.get(g.name);
          if (t !== undefined) t.closedAtMs = nowMs;
        }
      }
      if (!close) continue;
      this.opened.splice(i, 1);
      this.openedWhy.delete(g);
      poolReady = rest;
      closedWhy.push(
        info.reason === 'load'
          ? `${g.name} (projected load ${fmt(projected)} < low ${low})`
          : info.reason === 'return'
            ? `${g.name} (opened while the local zone was back; projected load ${fmt(projected)} <= high ${high})`
            : `${g.name} (local latency ${fmt(localLatency)} ms <= its ${fmt(latency)} ms)`,
      );
    }
    if (closedWhy.length > 0) {
      this.poolCache = undefined;
      const to: ZoneMode = this.opened.length > 0 ? 'spill' : 'local';
      this.set(to, `closed ${closedWhy.join(', ')}; open: [${this.openedZones().join(',')}]`);
    }
  }

  /** What the `all` mode uses now ('all zones' or the caller's region), so a change of scope is reported. */
  private allScope = '';

  /**
   * The READY arrays of the caller's region's other zones, or undefined when none of them has a READY endpoint
   * (or the caller's region is unknown). O(zones).
   */
  private regionPool(localZone: string): EndpointState[][] | undefined {
    const region = this.o.clientRegion;
    if (region === undefined) return undefined;
    // Called on every pick while the local zone is down: reuse the last list while it still names the same
    // READY arrays in the same order (checked without allocating), rebuild it only when that changed.
    const cached = this.regionPoolCache;
    let j = 0;
    let same = true;
    for (const g of this.groups.values()) {
      if (g.name === localZone || g.region !== region || g.ready.length === 0) continue;
      if (cached === undefined || cached[j] !== g.ready) {
        same = false;
        break;
      }
      j++;
    }
    if (same && cached !== undefined && j === cached.length) return cached;
    let arrays: EndpointState[][] | undefined;
    for (const g of this.groups.values()) {
      if (g.name === localZone || g.region !== region || g.ready.length === 0) continue;
      (arrays ??= []).push(g.ready);
    }
    this.regionPoolCache = arrays;
    return arrays;
  }

  /**
   * Remote zones with READY endpoints: the caller's region first (the region tier), then `zoneOrder`
   * (nearest-first), the rest by spare capacity.
   */
  private remoteByPreference(nowMs: number, loads?: Map<ZoneGroup, number>): ZoneGroup[] {
    const order = this.o.zoneOrder ?? [];
    const rank = (g: ZoneGroup): number => {
      const i = order.indexOf(g.name);
      return i < 0 ? order.length : i;
    };
    const spare = (g: ZoneGroup): number => {
      accrue(g, nowMs);
      const load = loads?.get(g) ?? g.inFlightReady / Math.max(1, g.ready.length);
      return g.ready.length * Math.max(0, this.o.high - load);
    };
    const remote = [...this.groups.values()].filter((g) => g.name !== this.o.clientZone && g.ready.length > 0);
    const region = this.o.clientRegion;
    const away = (g: ZoneGroup): number => (region === undefined || g.region === region ? 0 : 1);
    return remote.sort((a, b) => away(a) - away(b) || rank(a) - rank(b) || spare(b) - spare(a) || (a.name < b.name ? -1 : 1));
  }

  private set(to: ZoneMode, why: string): void {
    const from = this.mode;
    this.why = why;
    this.poolCache = undefined;
    if (from === to) return;
    this.mode = to;
    if (!this.started) return; // the first determination is not a change
    this.changes++;
    try {
      this.o.onModeChange?.(from, to, why);
    } catch {
      // An observer must never break picking.
    }
  }
}

/**
 * A zone's latency samples count at most this multiple of its smoothed latency (once it has one). A client stall
 * (a long GC, a blocked event loop) makes the calls in flight through it look hundreds of times slower: 12
 * answers 300 ms late among 200 of 2 ms lifted the local zone's interval mean from 2 to 19 ms and opened a remote
 * zone for its whole hold. A zone that really turned slow still reads up to 10x at once, and its smoothed
 * latency, and so the cap, follow it up within a few intervals.
 */
export const ZONE_SAMPLE_CAP = 10;

/** Records a latency sample (ms) of an answered call to zone `g` at `nowMs`, capped (see {@link ZONE_SAMPLE_CAP}). */
export function recordZoneLatency(g: ZoneGroup, sampleMs: number, nowMs: number): void {
  const cap = ZONE_SAMPLE_CAP * g.latencyMs; // NaN before the zone's first interval: no cap
  const latencyMs = sampleMs > cap ? cap : sampleMs;
  g.latencySumMs += latencyMs;
  g.latencySumSqMs += latencyMs * latencyMs;
  g.latencyCount++;
  g.latencySampleAtMs = nowMs;
}

/**
 * Folds the interval's samples into the zone's smoothed latency: weight `w = min(1 - 0.8^samples, 0.5)`, and
 * tracks how much that estimate can be trusted: the variance of an exponentially weighted mean of interval
 * means is `(1 - w)^2 x before + w^2 / samples` in units of one call's variance, so a zone known from one probe
 * has factor 1 (its estimate is one call's latency, as noisy as a call) and a zone with hundreds of calls a
 * small one. The coefficient of variation of one call comes from intervals with at least 2 samples.
 */
function settleLatency(g: ZoneGroup): void {
  const n = g.latencyCount;
  if (n === 0) return;
  const mean = g.latencySumMs / n;
  if (g.latencyMs !== g.latencyMs) {
    g.latencyMs = mean;
    g.latencyVarianceFactor = 1 / n;
  } else {
    const w = Math.min(1 - LATENCY_KEEP ** n, LATENCY_MAX_WEIGHT);
    g.latencyMs += w * (mean - g.latencyMs);
    g.latencyVarianceFactor = (1 - w) * (1 - w) * g.latencyVarianceFactor + (w * w) / n;
  }
  if (n >= 2 && mean > 0) {
    const variance = Math.max(0, (g.latencySumSqMs - n * mean * mean) / (n - 1));
    const cv = Math.sqrt(variance) / mean;
    const w = Math.min(1 - LATENCY_KEEP ** (n - 1), LATENCY_MAX_WEIGHT);
    g.latencyCv = g.latencyCv !== g.latencyCv ? cv : g.latencyCv + w * (cv - g.latencyCv);
  }
  g.latencySumMs = 0;
  g.latencySumSqMs = 0;
  g.latencyCount = 0;
}

/**
 * Whether the local zone is slower than `ratio x` a remote zone's latency beyond the noise of the two
 * estimates: `local - ratio x remote > Z x sqrt(se_local^2 + (ratio x se_remote)^2)`, each standard error
 * being `cv x latency x sqrt(varianceFactor)`. A remote zone outside the pool is known only from zone probes
 * (one call a second at most), so its estimate can be one lucky fast call: without this test a single probe
 * at a third of the typical latency opened that zone for `latencyHoldMs` in a fleet of equal zones (the demo:
 * zone c took half the calls for the whole run). A zone without its own spread (probes come one per
 * interval) borrows the local zone's, then {@link DEFAULT_LATENCY_CV}.
 */
export function slowerBeyondNoise(local: ZoneGroup, remote: ZoneGroup, ratio: number, localMs: number, remoteMs: number): boolean {
  if (!(localMs > ratio * remoteMs)) return false;
  const cvLocal = local.latencyCv === local.latencyCv ? local.latencyCv : DEFAULT_LATENCY_CV;
  const estimate = { latencyMs: remoteMs, varianceFactor: remote.latencyVarianceFactor };
  return clearsNoise(localMs, cvLocal * localMs * Math.sqrt(local.latencyVarianceFactor), cvLocal, remote, ratio, estimate);
}

/** A zone's latency estimate (ms) and its variance in units of one call's variance (see `latencyVarianceFactor`). */
interface LatencyEstimate {
  readonly latencyMs: number;
  readonly varianceFactor: number;
}

/**
 * The zone's smoothed latency `smoothedMs` joined with its answers of the current interval, not folded in yet
 * (for a zone outside the pool: its probes, among them those sent because the quick rule is in doubt), each
 * weighted by how much it is worth: the smoothed value as `1 / varianceFactor` calls, each new answer as one.
 * NaN stays NaN (a zone not measured lately decides nothing).
 */
function withUnsettled(g: ZoneGroup, smoothedMs: number): LatencyEstimate {
  const n = g.latencyCount;
  if (n === 0 || smoothedMs !== smoothedMs) return { latencyMs: smoothedMs, varianceFactor: g.latencyVarianceFactor };
  const worth = 1 / g.latencyVarianceFactor;
  return { latencyMs: (worth * smoothedMs + g.latencySumMs) / (worth + n), varianceFactor: 1 / (worth + n) };
}

/**
 * `localMs - ratio x remoteMs > Z x sqrt(seLocal^2 + seRemote^2)`, the remote zone's standard error being
 * `ratio x cv x remoteMs x sqrt(varianceFactor)` with its own cv, or `cvFallback` while it has none.
 */
function clearsNoise(localMs: number, seLocal: number, cvFallback: number, remote: ZoneGroup, ratio: number, estimate: LatencyEstimate): boolean {
  const cvRemote = remote.latencyCv === remote.latencyCv ? remote.latencyCv : cvFallback;
  const remoteMs = estimate.latencyMs;
  const seRemote = ratio * cvRemote * remoteMs * Math.sqrt(estimate.varianceFactor);
  return localMs - ratio * remoteMs > LATENCY_CONFIDENCE_Z * Math.sqrt(seLocal * seLocal + seRemote * seRemote);
}

/**
 * The quick rule's test: the local zone's mean of `n` calls in the last window above `ratio x` the remote zone's
 * latency by {@link LATENCY_CONFIDENCE_Z} standard errors of the two: the window's own spread (at least the
 * default coefficient of variation) for the local mean, and for the remote estimate its own spread or, while it
 * has none (a zone known from probes), the local zone's smoothed one, as in {@link slowerBeyondNoise}. Not the
 * window's: a zone that has just turned slow queues, so its window's spread includes its queueing, and
 * lending that to the remote zone made the remote estimate look as uncertain as a troubled zone, which can hold
 * the rule back for seconds exactly when it is needed (B3 at 2026-12-05 23:50: one round in three left 2 s
 * after the slowdown instead of 0.5 s, its remote zones at 6.5-6.8 ms).
 */
function quickSlower(localMeanMs: number, localCv: number, n: number, local: ZoneGroup, remote: ZoneGroup, ratio: number, estimate: LatencyEstimate): boolean {
  if (!(localMeanMs > ratio * estimate.latencyMs)) return false;
  const cvWindow = Math.max(localCv, DEFAULT_LATENCY_CV);
  const cvCalm = local.latencyCv === local.latencyCv ? local.latencyCv : DEFAULT_LATENCY_CV;
  return clearsNoise(localMeanMs, (cvWindow * localMeanMs) / Math.sqrt(n), cvCalm, remote, ratio, estimate);
}

function fmt(n: number): string {
  return Number.isFinite(n) ? n.toFixed(2) : String(n);
}
